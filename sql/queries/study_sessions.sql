-- Study sessions: the statements behind handlers/study_sessions.py.

-- name: create_study_session
-- One round trip, one statement, so one transaction: look up the group ($1) and the study
-- activity ($2), lock both against deletion (FOR KEY SHARE, as the foreign keys would), and insert
-- the session only when both exist. Always returns exactly one row: the two found-flags, and the
-- new session's columns (NULL when nothing was inserted).
WITH grp AS (
    SELECT id FROM groups WHERE id = $1 FOR KEY SHARE
), activity AS (
    SELECT id FROM study_activities WHERE id = $2 FOR KEY SHARE
), inserted AS (
    INSERT INTO study_sessions (group_id, study_activity_id)
    SELECT grp.id, activity.id FROM grp CROSS JOIN activity
    RETURNING id, group_id, study_activity_id, created_at
)
SELECT
    EXISTS (SELECT FROM grp) AS group_found,
    EXISTS (SELECT FROM activity) AS activity_found,
    inserted.id,
    inserted.group_id,
    inserted.study_activity_id,
    inserted.created_at
FROM (VALUES (1)) AS always_one_row (one)
LEFT JOIN inserted ON true;

-- name: get_study_session
SELECT id, group_id, study_activity_id, created_at
FROM study_sessions
WHERE id = $1;
