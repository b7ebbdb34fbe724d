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

-- name: take_every_table
-- Taken by POST /api/full_reset (portaldb.restore_demo) first in its transaction: every table
-- delete_all_data empties, and the stretch counts its trigger truncates, in ACCESS EXCLUSIVE mode,
-- never in a deadlock. Requests hold one table and then ask for another (an answer reads the
-- sessions, then inserts into the reviews; POST /api/reset_history locks the sessions, then
-- deletes the reviews); a TRUNCATE that waits for each table in turn, holding the ones before,
-- could wait for such a request while it waits for the TRUNCATE, a deadlock PostgreSQL ends by
-- failing one of the two after deadlock_timeout. So: wait for one table holding nothing, as long
-- as it takes; then for each other one briefly, deadlock_timeout / (2 x the tables) at most, so the
-- whole round ends within half a deadlock_timeout and no request waiting for a table held here
-- ever waits long enough to look for a deadlock. When a table is still busy, let all go (the
-- block's subtransaction is rolled back) and start again from that one. Taking the others NOWAIT
-- instead never finished while each table was read now and then (tests/test_reset.py). The
-- order is the writers' own: keys, sessions, reviews, then the catalogue. The statement timeout
-- bounds it all.
DO $$
DECLARE
    tables regclass[] := array_remove(ARRAY[to_regclass('idempotency_keys'), to_regclass('study_sessions'),
        to_regclass('word_review_items'), to_regclass('words_groups'), to_regclass('words'),
        to_regclass('groups'), to_regclass('study_activities'), to_regclass('session_counts_by_stretch')],
        NULL);  -- each one that exists: the stretch counts came with migration 0008
    brief text := greatest(1, floor(1000 * extract(epoch FROM current_setting('deadlock_timeout')::interval)
        / (2 * cardinality(tables))))::text || 'ms';
    usual text := current_setting('lock_timeout');
    first integer := 1;
    trying integer;
BEGIN
    LOOP
        BEGIN
            trying := first;
            EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', tables[first]);
            PERFORM set_config('lock_timeout', brief, true);
            FOR i IN 1 .. cardinality(tables) LOOP
                CONTINUE WHEN i = first;
                trying := i;
                EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', tables[i]);
            END LOOP;
            PERFORM set_config('lock_timeout', usual, true);
            RETURN;
        EXCEPTION WHEN lock_not_available THEN
            PERFORM set_config('lock_timeout', usual, true);
            IF trying = first THEN
                RAISE;  -- a lock_timeout set for the database or the role, waiting for the first
            END IF;
            first := trying;
        END;
    END LOOP;
END
$$;

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
