-- A study session as the API shows it: with its group's and activity's names, its end (the time
-- of its last review, NULL before the first) and how many reviews it holds. The lists, the single
-- session and the dashboard all read sessions through this view, so the shape is written once.
-- It is a plain view: PostgreSQL inlines it, and the review stats are computed only for the
-- sessions a statement actually returns (one index lookup each).

CREATE VIEW study_session_details AS
SELECT
    s.id,
    s.group_id,
    g.name AS group_name,
    s.study_activity_id,
    a.name AS activity_name,
    s.created_at,
    stats.end_time,
    stats.review_items_count
FROM study_sessions AS s
JOIN groups AS g ON g.id = s.group_id
JOIN study_activities AS a ON a.id = s.study_activity_id
CROSS JOIN LATERAL (
    SELECT max(r.created_at) AS end_time, count(*) AS review_items_count
    FROM word_review_items AS r
    WHERE r.study_session_id = s.id
) AS stats;

-- The session lists of one group or one study activity are read newest first: indexes in that
-- order (led by the foreign key, so they serve the foreign keys too) replace the plain ones.
CREATE INDEX study_sessions_group_id_created_at_idx ON study_sessions (group_id, created_at DESC, id DESC);
CREATE INDEX study_sessions_study_activity_id_created_at_idx
    ON study_sessions (study_activity_id, created_at DESC, id DESC);
DROP INDEX study_sessions_group_id_idx;
DROP INDEX study_sessions_study_activity_id_idx;
