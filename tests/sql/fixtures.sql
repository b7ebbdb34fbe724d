-- Statements only the tests use: resetting the database between tests and small data sets.

-- name: truncate_all
TRUNCATE word_review_items, study_sessions, words_groups, words, groups, study_activities,
    idempotency_keys
RESTART IDENTITY CASCADE;

-- name: insert_group
INSERT INTO groups (name) VALUES ($1) RETURNING id;

-- name: insert_study_activity
INSERT INTO study_activities (name, url) VALUES ($1, $2) RETURNING id;

-- name: count_study_sessions
SELECT count(*) FROM study_sessions;

-- name: study_session_row
SELECT id, group_id, study_activity_id, created_at FROM study_sessions WHERE id = $1;

-- name: all_study_session_ids
SELECT id FROM study_sessions ORDER BY id;

-- name: reset_scratch_schema
DROP SCHEMA IF EXISTS langportal_migration_test CASCADE;
CREATE SCHEMA langportal_migration_test;

-- name: drop_scratch_schema
DROP SCHEMA IF EXISTS langportal_migration_test CASCADE;

-- name: migration_versions
SELECT version FROM schema_migrations ORDER BY version;

-- name: corrupt_migration_checksum
UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1;

-- name: count_groups
SELECT count(*) FROM groups;

-- name: count_study_activities
SELECT count(*) FROM study_activities;

-- name: tables_in_schema
SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1;

-- name: insert_word
INSERT INTO words (kanji, romaji, english, parts) VALUES ($1, $2, $3, $4::jsonb) RETURNING id;

-- name: add_word_to_group
INSERT INTO words_groups (word_id, group_id) VALUES ($1, $2);

-- name: insert_study_session_at
INSERT INTO study_sessions (group_id, study_activity_id, created_at) VALUES ($1, $2, $3) RETURNING id;

-- name: insert_review_at
INSERT INTO word_review_items (study_session_id, word_id, correct, created_at)
VALUES ($1, $2, $3, $4)
RETURNING id;

-- name: count_reviews
SELECT count(*) FROM word_review_items;

-- name: review_row
SELECT id, word_id, study_session_id, correct, created_at FROM word_review_items WHERE id = $1;

-- name: catalogue_counts
SELECT
    (SELECT count(*) FROM groups) AS groups,
    (SELECT count(*) FROM words) AS words,
    (SELECT count(*) FROM words_groups) AS memberships,
    (SELECT count(*) FROM study_activities) AS study_activities;

-- name: group_word_counts
SELECT g.id, g.name, count(wg.word_id) AS word_count
FROM groups AS g LEFT JOIN words_groups AS wg ON wg.group_id = g.id
GROUP BY g.id ORDER BY g.id;

-- name: all_words
SELECT id, kanji, romaji, english, parts FROM words ORDER BY id;

-- name: all_study_activities
SELECT id, name, url FROM study_activities ORDER BY id;

-- name: delete_study_activities
DELETE FROM study_activities;

-- name: batch_probe
-- For tests of portaldb.Batcher: each call learns how many calls shared its statement.
SELECT r.ord, r.x, cardinality($1::int[]) AS batch_size
FROM unnest($1::int[]) WITH ORDINALITY AS r (x, ord)
ORDER BY r.ord;

-- name: batch_probe_failing
SELECT r.ord, 1 / (r.x - r.x) AS boom
FROM unnest($1::int[]) WITH ORDINALITY AS r (x, ord)
ORDER BY r.ord;

-- name: count_idempotency_keys
SELECT count(*) FROM idempotency_keys;

-- name: expire_idempotency_keys
UPDATE idempotency_keys SET expires_at = now() - interval '1 second';

-- name: idempotency_key_expiry
SELECT expires_at - created_at AS ttl FROM idempotency_keys WHERE key = $1;

-- name: study_session_ids_between
SELECT id FROM study_sessions WHERE id = ANY($1::int[]);

-- name: all_study_session_ids_set
SELECT array_agg(id) FROM study_sessions;

-- name: delete_study_activity
DELETE FROM study_activities WHERE id = $1;

-- name: server_setting
SELECT current_setting($1);

-- name: batch_probe_slow
-- batch_probe, slowly: long enough for a test to cut its connection off mid-statement.
SELECT r.ord, r.x, pg_sleep(2) IS NULL AS slept
FROM unnest($1::int[]) WITH ORDINALITY AS r (x, ord)
ORDER BY r.ord;

-- name: terminate_slow_probes
SELECT count(pg_terminate_backend(pid))
FROM pg_stat_activity
WHERE query LIKE '%pg_sleep(2) IS NULL AS slept%' AND pid <> pg_backend_pid();

-- name: sleep_seconds
SELECT pg_sleep($1);

-- name: backend_pid
SELECT pg_backend_pid();

-- name: terminate_backend
-- Waits (up to 5 s) until the backend is gone, so the client's next read sees its socket closed.
SELECT pg_terminate_backend($1, 5000);

-- name: delete_idempotency_key
DELETE FROM idempotency_keys WHERE key = $1;

-- name: waits_for_a_lock
SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1;

-- name: set_migration_checksum
UPDATE schema_migrations SET checksum = $2 WHERE version = $1;

-- name: migration_checksums
SELECT version, checksum FROM schema_migrations ORDER BY version;

-- name: create_limited_role
-- A login role that may hold two connections at once (superusers are not limited), for a server
-- process that cannot start because the database is full (tests/test_supervisor.py).
CREATE ROLE langportal_limited LOGIN CONNECTION LIMIT 2;

-- name: create_limited_database
CREATE DATABASE langportal_limited OWNER langportal_limited;

-- name: drop_limited_database
DROP DATABASE IF EXISTS langportal_limited WITH (FORCE);

-- name: drop_limited_role
DROP ROLE IF EXISTS langportal_limited;

-- name: portal_tables
-- Every table of the portal, for the backup tests' snapshots (issue 9).
SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = 'public' ORDER BY 1;

-- name: drop_everything
-- A lost database, for the backup tests: every object of the portal gone.
DROP SCHEMA public CASCADE;
CREATE SCHEMA public;
