-- Groups: the statements behind handlers/groups.py. List statements return at least one row:
-- see the note in study_sessions.sql.

-- name: list_groups
-- Every group with its number of words. Sorted by $1 (name or word_count; the schema
-- groups_query.json allows no other) in direction $2 (asc or desc), ties by id.
-- $3 LIMIT, $4 OFFSET.
WITH page AS (
    SELECT
        g.id, g.name, count(wg.word_id) AS word_count,
        row_number() OVER (
            ORDER BY
                CASE WHEN $1 = 'name' AND $2 = 'asc' THEN g.name END ASC,
                CASE WHEN $1 = 'name' AND $2 = 'desc' THEN g.name END DESC,
                CASE WHEN $1 = 'word_count' AND $2 = 'asc' THEN count(wg.word_id) END ASC,
                CASE WHEN $1 = 'word_count' AND $2 = 'desc' THEN count(wg.word_id) END DESC,
                g.id
        ) AS position
    FROM groups AS g
    LEFT JOIN words_groups AS wg ON wg.group_id = g.id
    GROUP BY g.id
    ORDER BY position
    LIMIT $3 OFFSET $4
)
SELECT totals.total_items, page.*
FROM (SELECT count(*) AS total_items FROM groups) AS totals
LEFT JOIN page ON true
ORDER BY page.position;

-- name: get_group
-- One group and how many words it holds.
SELECT g.id, g.name, (SELECT count(*) FROM words_groups AS wg WHERE wg.group_id = g.id) AS total_word_count
FROM groups AS g
WHERE g.id = $1;
