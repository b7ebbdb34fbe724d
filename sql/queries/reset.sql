-- Resets: the statements behind handlers/reset.py (and portaldb.restore_demo).

-- name: hold_off_the_fold
-- Taken by POST /api/reset_history first in its transaction, before any table: waits for a fold of
-- the stretch counts in progress (migration 0008) to end, and makes the next ones skip until the
-- reset ends (they take this row SKIP LOCKED). First, holding nothing else: a fold holds this row
-- and then locks rows of the stretch counts, which the reset takes whole (take_every_table), so
-- the other order could make each wait for the other. Nothing waits for this row but another
-- reset of the history, which holds nothing yet either.
SELECT until_second FROM session_stretches_folded FOR UPDATE;

-- name: only_the_history
-- Taken by POST /api/reset_history just before take_every_table, in its transaction: the tables it
-- takes are then those of the history alone (a setting of this transaction only; see there).
SELECT set_config('langportal.tables_to_take', 'history', true);

-- name: take_every_table
-- Taken by POST /api/full_reset (portaldb.restore_demo) first in its transaction: every table
-- delete_all_data empties, and the stretch counts and the sessions' review stats its triggers
-- truncate, in ACCESS EXCLUSIVE mode,
-- never in a deadlock. After only_the_history (POST /api/reset_history), the tables
-- truncate_history empties and those two alone: the catalogue stays readable. Requests
-- hold one table and then ask for another (an answer reads the sessions, then inserts into the
-- reviews; a request with an Idempotency-Key claims its key, then writes the history); a TRUNCATE
-- that waits for each table in turn, holding the ones before, could wait for such a request while
-- it waits for the TRUNCATE, a deadlock PostgreSQL ends by failing one of the two after
-- deadlock_timeout. So: wait for one table holding nothing, as long as it takes; then for each
-- other one briefly, deadlock_timeout / (2 x the tables) at most, so the whole round ends within
-- half a deadlock_timeout and no request waiting for a table held here ever waits long enough to
-- look for a deadlock. When a table is still busy, let all go (the block's subtransaction is
-- rolled back) and start again from that one. Taking the others NOWAIT instead never finished
-- while each table was read now and then (tests/database/test_reset.py). The order is the
-- writers' own: keys, sessions, reviews, then the catalogue. The statement timeout bounds it all.
DO $$
DECLARE
    tables regclass[] := array_remove(CASE current_setting('langportal.tables_to_take', true)
        WHEN 'history' THEN ARRAY[to_regclass('idempotency_keys'), to_regclass('study_sessions'),
            to_regclass('word_review_items'), to_regclass('session_counts_by_stretch'),
            to_regclass('session_review_stats')]
        ELSE ARRAY[to_regclass('idempotency_keys'), to_regclass('study_sessions'),
            to_regclass('word_review_items'), to_regclass('words_groups'), to_regclass('words'),
            to_regclass('groups'), to_regclass('study_activities'),
            to_regclass('session_counts_by_stretch'), to_regclass('session_review_stats')]
        END, NULL);  -- each one that exists: the stretch counts came with migration 0008, the
                     -- sessions' review stats with 0010
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

-- name: history_size
-- Taken by POST /api/reset_history after take_every_table: the sessions and reviews it is about to
-- delete, from the counters of migration 0005 (exact, and no writer can change them now that the
-- history's tables are held); counting 10,000,000 reviews would take a second.
SELECT
    coalesce(sum(sessions), 0)::bigint AS study_sessions,
    coalesce(sum(reviews), 0)::bigint AS word_review_items
FROM history_totals;

-- name: truncate_history
-- POST /api/reset_history, after take_every_table (only_the_history): every review and every
-- session, and the stored answers of idempotency keys (they name sessions and reviews that no
-- longer exist). TRUNCATE, not DELETE: no row is visited, so no trigger counts ten million deleted
-- rows one by one (a DELETE of 3,000,000 reviews ran into the 5 s statement timeout, holding
-- writers off meanwhile). The TRUNCATE triggers of migrations 0005, 0008 and 0010 empty the
-- history's counters in this transaction (forget_study_sessions, forget_reviews,
-- forget_session_stretches, forget_session_review_stats),
-- so they are exact when it commits. Ids are not restarted (CONTINUE IDENTITY, the default), so a
-- session id an activity app still holds can never name a new session. The old files are removed
-- after the commit has let the tables go (PostgreSQL's own order): at 10,000,000 reviews the file
-- system took 0.4 s to free them (bench/resets.py), which only this request waits for.
--
-- TRUNCATE is not MVCC-safe: a transaction whose snapshot was taken before this one commits, and
-- that reads a truncated table only after, sees it empty. The API never does: each of its reads
-- is one statement in READ COMMITTED, and such a statement takes its snapshot after it has locked
-- every table it names, views' tables included. A statement naming a table truncated here either
-- got its lock first, and take_every_table waits until its transaction ends, or waits for this
-- reset to commit and takes its snapshot after. The one truncated table read inside a function,
-- locked after the caller's snapshot, is the stretch counts (emptied by forget_session_stretches),
-- in session_list_start(): list_study_sessions_deep, its one caller, names study_sessions itself,
-- so it waits for the reset or the reset for it, and the fold is held off (hold_off_the_fold).
-- The other counters are emptied with DELETE and UPDATE: a read of them alone sees the counts of
-- before the reset or of after it, whole. A transaction in REPEATABLE READ that has read the
-- sessions holds their lock to its end, so the reset waits for it and it still finds the counts of
-- the sessions it sees (tests/database/test_reset_at_scale.py); only one whose snapshot predates
-- the reset and that reads the history for the first time after would see it empty (not a read
-- the API makes).
TRUNCATE word_review_items, study_sessions, idempotency_keys;

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
