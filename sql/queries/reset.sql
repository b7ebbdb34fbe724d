-- Resets: the statements behind handlers/reset.py (and portaldb.restore_demo).

-- name: hold_off_session_writers
-- Taken by POST /api/reset_history before delete_history, in its transaction: launches (and any
-- other insert, update or delete of sessions or of idempotency keys) wait until it ends; reads and
-- answers do not, but a waiting launch holds its connection (one batched launch statement per
-- server process, and each launch with an Idempotency-Key). With no other writer counting a
-- session meanwhile, the counting trigger of migration 0008 empties the stretch counts instead of
-- adding a signed change per stretch deleted. The keys' table first, in the one statement: a
-- launch that has claimed a key (its row locked) and waits to insert its session would otherwise
-- wait for this transaction, which would wait for that row (a deadlock).
LOCK TABLE idempotency_keys, study_sessions IN SHARE ROW EXCLUSIVE MODE;

-- name: hold_off_the_fold
-- Taken by POST /api/reset_history after hold_off_session_writers: waits for a fold of the
-- stretch counts in progress (migration 0008) to end, and makes the next ones skip until the reset
-- ends (they take this row SKIP LOCKED), so the reset's emptying of the counts and a fold never
-- wait for each other's rows.
SELECT until_second FROM session_stretches_folded FOR UPDATE;

-- name: delete_history
-- Every review and every session, in one statement; how many of each were deleted. Ids are not
-- restarted, so a session id an activity app still holds can never name a new session. The stored
-- answers of idempotency keys go too: they name sessions and reviews that no longer exist.
WITH reviews AS (
    DELETE FROM word_review_items RETURNING 1
), sessions AS (
    DELETE FROM study_sessions RETURNING 1
), keys AS (
    DELETE FROM idempotency_keys RETURNING 1
)
SELECT
    (SELECT count(*) FROM sessions) AS study_sessions,
    (SELECT count(*) FROM reviews) AS word_review_items;

-- name: delete_all_data
-- Every row of every table, ids restarting at 1, so the demo data gets its original ids back.
TRUNCATE word_review_items, study_sessions, words_groups, words, groups, study_activities,
    idempotency_keys
RESTART IDENTITY;

-- name: catalogue_counts
SELECT
    (SELECT count(*) FROM groups) AS groups,
    (SELECT count(*) FROM words) AS words,
    (SELECT count(*) FROM study_activities) AS study_activities;
