-- Statements the load benchmark (bench/run.py, through bench/database.py) runs itself: the fixed
-- data set and the counts it checks.
-- The endpoint's own statement is not here: the bench loads create_study_sessions from
-- sql/queries/study_sessions.sql, so pgbench runs exactly what the server runs.

-- name: empty_portal_tables
-- Every portal table, and nothing else: no CASCADE, so a foreign table referring to these makes
-- this fail instead of being emptied too.
TRUNCATE word_review_items, study_sessions, words_groups, words, groups, study_activities
RESTART IDENTITY;

-- name: load_groups
-- The fixed data set: 100 groups (ids 1..100 after the TRUNCATE ... RESTART IDENTITY above).
INSERT INTO groups (name)
SELECT format('Bench group %s', lpad(n::text, 3, '0'))
FROM generate_series(1, 100) AS n
ORDER BY n;

-- name: load_study_activities
-- ... and 10 study activities (ids 1..10).
INSERT INTO study_activities (name, url, description)
SELECT
    format('Bench activity %s', lpad(n::text, 2, '0')),
    format('http://localhost:8080/bench/%s', n),
    'Loaded by bench/run.py.'
FROM generate_series(1, 10) AS n
ORDER BY n;

-- name: load_words
-- 100 words (ids 1..100 after the TRUNCATE above), for bench/ab.py's answers to name.
INSERT INTO words (kanji, romaji, english)
SELECT format('語%s', n), format('go %s', n), format('bench word %s', n)
FROM generate_series(1, 100) AS n
ORDER BY n;
ANALYZE words;

-- name: analyze_data_set
ANALYZE groups, study_activities, study_sessions;

-- name: data_set_ids
-- The ids wrk and pgbench draw from: the bench checks they are exactly 1..count.
SELECT
    (SELECT count(*) FROM groups) AS groups,
    (SELECT coalesce(min(id), 0) FROM groups) AS min_group_id,
    (SELECT coalesce(max(id), 0) FROM groups) AS max_group_id,
    (SELECT count(*) FROM study_activities) AS activities,
    (SELECT coalesce(min(id), 0) FROM study_activities) AS min_activity_id,
    (SELECT coalesce(max(id), 0) FROM study_activities) AS max_activity_id;

-- name: last_study_session_id
SELECT coalesce(max(id), 0) FROM study_sessions;

-- name: study_sessions_after
-- Rows added since a phase began: those with an id above the largest id before it.
SELECT count(*) FROM study_sessions WHERE id > $1;

-- name: connection_headroom
-- How many more client connections an ordinary role could open now.
SELECT
    current_setting('max_connections')::int AS max_connections,
    current_setting('max_connections')::int
        - current_setting('superuser_reserved_connections')::int
        - coalesce(current_setting('reserved_connections', true)::int, 0)
        - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int
        AS headroom;

-- name: database_info
SELECT pg_backend_pid() AS backend_pid, current_setting('server_version') AS server_version,
    current_database() AS database;

-- name: database_transactions
-- Transactions this database has finished, from the statistics system: every statement outside
-- an explicit transaction counts as one. Backends report every second or so, so a count taken
-- right after load is close, not exact.
SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database();

-- name: vacuum_study_sessions
-- Before a phase: the rows the last phase added get their visibility-map bits and statistics now,
-- not from autovacuum in the middle of the next phase.
VACUUM (ANALYZE) study_sessions;

-- name: checkpoint
-- Before a phase: the last phase's dirty pages are written now, not by a checkpoint in the next.
CHECKPOINT;

-- name: autovacuum_workers
-- Autovacuum workers busy in this database now.
SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'autovacuum worker' AND datname = current_database();
