-- Statements only the tests use: resetting the database between tests and small data sets.

-- name: truncate_all
TRUNCATE word_review_items, study_sessions, words_groups, words, groups, study_activities
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
