-- Bulk data for bench/list_endpoints.py, on top of the demo data: named statements, loaded with
-- portaldb's own parser. Deterministic (no random()), so every run measures the same data.

-- name: load_sessions
-- $1 sessions, one every 50 minutes back from now, cycling through the groups and activities.
INSERT INTO study_sessions (group_id, study_activity_id, created_at)
SELECT
    g.ids[1 + i % array_length(g.ids, 1)],
    a.ids[1 + (i / 7) % array_length(a.ids, 1)],
    now() - i * interval '50 minutes'
FROM generate_series(1, $1) AS i,
    (SELECT array_agg(id ORDER BY id) AS ids FROM groups) AS g,
    (SELECT array_agg(id ORDER BY id) AS ids FROM study_activities) AS a;

-- name: load_reviews
-- $1 reviews spread evenly over the sessions, each on a word chosen by a fixed stride, about 70%
-- right, within the hour after its session started.
INSERT INTO word_review_items (word_id, study_session_id, correct, created_at)
SELECT
    w.ids[(1 + (i * 7919) % array_length(w.ids, 1))::integer],
    s.first_id + i % s.n,
    (i * 31) % 10 < 7,
    now() - (i % s.n) * interval '50 minutes' + (i % 97) * interval '1 second'
FROM generate_series(1, $1::bigint) AS i,
    (SELECT array_agg(id ORDER BY id) AS ids FROM words) AS w,
    (SELECT min(id) AS first_id, count(*) AS n FROM study_sessions) AS s;

-- name: analyze
VACUUM ANALYZE;

-- name: history_size
SELECT
    (SELECT count(*) FROM study_sessions) AS sessions,
    (SELECT count(*) FROM word_review_items) AS reviews;

-- name: bench_ids
-- Ids the measured URLs and the wrk scripts use: the first group, activity and word, the newest
-- session that has reviews, the catalogue's sizes (its ids are 1..n after restore_demo), the
-- range of session ids reviews may name, the middle and last pages of 5 of the first group's
-- session list, and its middle and last pages of 10 (the course frontend's page size).
WITH first_group AS (
    SELECT count(*) AS sessions FROM study_sessions WHERE group_id = (SELECT min(id) FROM groups)
)
SELECT
    (SELECT min(id) FROM groups) AS gid,
    (SELECT min(id) FROM study_activities) AS aid,
    (SELECT min(id) FROM words) AS wid,
    (SELECT max(study_session_id) FROM word_review_items) AS sid,
    (SELECT count(*) FROM groups)::int AS groups,
    (SELECT count(*) FROM study_activities)::int AS activities,
    (SELECT count(*) FROM words)::int AS words,
    (SELECT min(id) FROM study_sessions) AS first_session,
    (SELECT max(id) FROM study_sessions) AS last_session,
    (SELECT greatest(sessions / 10, 1) FROM first_group)::int AS gid_middle_page,
    (SELECT greatest((sessions + 4) / 5, 1) FROM first_group)::int AS gid_last_page,
    (SELECT greatest(sessions / 20, 1) FROM first_group)::int AS gid_course_middle_page,
    (SELECT greatest((sessions + 9) / 10, 1) FROM first_group)::int AS gid_course_last_page;

-- name: settle_written
-- Before each wrk run: the rows the run before added get their visibility-map bits and statistics
-- now, not from autovacuum during the next run.
VACUUM (ANALYZE) study_sessions, word_review_items;

-- name: checkpoint
CHECKPOINT;

-- name: autovacuum_workers
SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'autovacuum worker' AND datname = current_database();

-- name: backend_pid
-- The server process of this connection (its parent is the database's main process, whose CPU
-- time the mix reports).
SELECT pg_backend_pid();
