-- Words: the statements behind handlers/words.py (and the words of a group, handlers/groups.py).
-- List statements return at least one row: see the note in study_sessions.sql.
--
-- Sorting: $sort_by is one of kanji, romaji, english, correct_count, wrong_count and $order is
-- asc or desc (the schema words_query.json allows no other); each CASE below is NULL unless its
-- column and direction are the chosen ones, so exactly one of them orders the rows. Ties and
-- unknown values fall back to the word's id.

-- name: list_words
-- Every word with its right and wrong answers over all sessions. $1 sort_by, $2 order,
-- $3 LIMIT, $4 OFFSET.
WITH counts AS (
    SELECT
        r.word_id,
        count(*) FILTER (WHERE r.correct) AS correct_count,
        count(*) FILTER (WHERE NOT r.correct) AS wrong_count
    FROM word_review_items AS r
    GROUP BY r.word_id
), scored AS (
    SELECT
        w.id, w.kanji, w.romaji, w.english, w.parts,
        coalesce(c.correct_count, 0) AS correct_count,
        coalesce(c.wrong_count, 0) AS wrong_count
    FROM words AS w
    LEFT JOIN counts AS c ON c.word_id = w.id
), page AS (
    SELECT
        scored.*,
        row_number() OVER (
            ORDER BY
                CASE WHEN $2 = 'asc' THEN
                    CASE $1 WHEN 'kanji' THEN kanji WHEN 'romaji' THEN romaji
                            WHEN 'english' THEN english END
                END ASC,
                CASE WHEN $2 = 'desc' THEN
                    CASE $1 WHEN 'kanji' THEN kanji WHEN 'romaji' THEN romaji
                            WHEN 'english' THEN english END
                END DESC,
                CASE WHEN $2 = 'asc' THEN
                    CASE $1 WHEN 'correct_count' THEN correct_count
                            WHEN 'wrong_count' THEN wrong_count END
                END ASC,
                CASE WHEN $2 = 'desc' THEN
                    CASE $1 WHEN 'correct_count' THEN correct_count
                            WHEN 'wrong_count' THEN wrong_count END
                END DESC,
                id
        ) AS position
    FROM scored
    ORDER BY position
    LIMIT $3 OFFSET $4
)
SELECT totals.total_items, page.*
FROM (SELECT count(*) AS total_items FROM words) AS totals
LEFT JOIN page ON true
ORDER BY page.position;

-- name: list_group_words
-- The words of group $1 with their right and wrong answers over all sessions; found is false
-- when there is no such group. $2 sort_by, $3 order, $4 LIMIT, $5 OFFSET.
WITH members AS (
    SELECT wg.word_id FROM words_groups AS wg WHERE wg.group_id = $1
), counts AS (
    SELECT
        r.word_id,
        count(*) FILTER (WHERE r.correct) AS correct_count,
        count(*) FILTER (WHERE NOT r.correct) AS wrong_count
    FROM word_review_items AS r
    WHERE r.word_id IN (SELECT word_id FROM members)
    GROUP BY r.word_id
), scored AS (
    SELECT
        w.id, w.kanji, w.romaji, w.english, w.parts,
        coalesce(c.correct_count, 0) AS correct_count,
        coalesce(c.wrong_count, 0) AS wrong_count
    FROM members AS m
    JOIN words AS w ON w.id = m.word_id
    LEFT JOIN counts AS c ON c.word_id = w.id
), page AS (
    SELECT
        scored.*,
        row_number() OVER (
            ORDER BY
                CASE WHEN $3 = 'asc' THEN
                    CASE $2 WHEN 'kanji' THEN kanji WHEN 'romaji' THEN romaji
                            WHEN 'english' THEN english END
                END ASC,
                CASE WHEN $3 = 'desc' THEN
                    CASE $2 WHEN 'kanji' THEN kanji WHEN 'romaji' THEN romaji
                            WHEN 'english' THEN english END
                END DESC,
                CASE WHEN $3 = 'asc' THEN
                    CASE $2 WHEN 'correct_count' THEN correct_count
                            WHEN 'wrong_count' THEN wrong_count END
                END ASC,
                CASE WHEN $3 = 'desc' THEN
                    CASE $2 WHEN 'correct_count' THEN correct_count
                            WHEN 'wrong_count' THEN wrong_count END
                END DESC,
                id
        ) AS position
    FROM scored
    ORDER BY position
    LIMIT $4 OFFSET $5
)
SELECT totals.found, totals.total_items, page.*
FROM (
    SELECT
        EXISTS (SELECT FROM groups WHERE id = $1) AS found,
        (SELECT count(*) FROM members) AS total_items
) AS totals
LEFT JOIN page ON true
ORDER BY page.position;

-- name: get_word
-- One word, its right and wrong answers over all sessions, and its groups (a JSON array of
-- {id, name}, by name).
SELECT
    w.id, w.kanji, w.romaji, w.english, w.parts,
    stats.correct_count, stats.wrong_count, memberships.groups
FROM words AS w
CROSS JOIN LATERAL (
    SELECT
        count(*) FILTER (WHERE r.correct) AS correct_count,
        count(*) FILTER (WHERE NOT r.correct) AS wrong_count
    FROM word_review_items AS r
    WHERE r.word_id = w.id
) AS stats
CROSS JOIN LATERAL (
    SELECT coalesce(
        jsonb_agg(jsonb_build_object('id', g.id, 'name', g.name) ORDER BY g.name, g.id),
        '[]'::jsonb
    ) AS groups
    FROM words_groups AS wg
    JOIN groups AS g ON g.id = wg.group_id
    WHERE wg.word_id = w.id
) AS memberships
WHERE w.id = $1;
