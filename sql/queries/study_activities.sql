-- Study activities: the statements behind handlers/study_activities.py. List statements return
-- at least one row: see the note in study_sessions.sql.

-- name: list_study_activities
-- Every study activity, by id. $1 LIMIT, $2 OFFSET.
WITH page AS (
    SELECT
        a.id, a.name, a.url, a.thumbnail_url, a.description,
        row_number() OVER (ORDER BY a.id) AS position
    FROM study_activities AS a
    ORDER BY position
    LIMIT $1 OFFSET $2
)
SELECT totals.total_items, page.*
FROM (SELECT count(*) AS total_items FROM study_activities) AS totals
LEFT JOIN page ON true
ORDER BY page.position;

-- name: get_study_activity
SELECT id, name, url, thumbnail_url, description
FROM study_activities
WHERE id = $1;
