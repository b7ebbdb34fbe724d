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
