-- Words: the statements behind handlers/words.py (and the words of a group, handlers/groups.py).
-- List statements return at least one row: see the note in study_sessions.sql. Right and wrong
-- answers are read from the counters (word_review_counts, migration 0005), never from the reviews;
-- the order is sorted_words's (0005), the one place of the sort rule of every word list.

-- name: list_words
-- Every word with its right and wrong answers over all sessions. $1 sort_by, $2 order,
-- $3 LIMIT, $4 OFFSET.
WITH page AS (
    SELECT sorted.*
    FROM sorted_words(
        ARRAY(
            SELECT ROW(
                w.id, w.kanji, w.romaji, w.english, w.parts,
                coalesce(c.correct_count, 0), coalesce(c.wrong_count, 0)
            )::word_with_counts
            FROM words AS w
            LEFT JOIN word_review_counts AS c ON c.word_id = w.id
        ),
        $1,
        $2
    ) AS sorted
    ORDER BY sorted.ordinal
    LIMIT $3 OFFSET $4
)
SELECT totals.total_items, page.*
FROM (SELECT count(*) AS total_items FROM words) AS totals
LEFT JOIN page ON true
ORDER BY page.ordinal;

-- name: list_group_words
-- The words of group $1 with their right and wrong answers over all sessions; found is false
-- when there is no such group. $2 sort_by, $3 order, $4 LIMIT, $5 OFFSET.
WITH page AS (
    SELECT sorted.*
    FROM sorted_words(
        ARRAY(
            SELECT ROW(
                w.id, w.kanji, w.romaji, w.english, w.parts,
                coalesce(c.correct_count, 0), coalesce(c.wrong_count, 0)
            )::word_with_counts
            FROM words_groups AS wg
            JOIN words AS w ON w.id = wg.word_id
            LEFT JOIN word_review_counts AS c ON c.word_id = w.id
            WHERE wg.group_id = $1
        ),
        $2,
        $3
    ) AS sorted
    ORDER BY sorted.ordinal
    LIMIT $4 OFFSET $5
)
SELECT totals.found, totals.total_items, page.*
FROM (
    SELECT
        EXISTS (SELECT FROM groups WHERE id = $1) AS found,
        (SELECT count(*) FROM words_groups WHERE group_id = $1) AS total_items
) AS totals
LEFT JOIN page ON true
ORDER BY page.ordinal;

-- name: get_word
-- One word, its right and wrong answers over all sessions, and its groups (a JSON array of
-- {id, name}, by name).
SELECT
    w.id, w.kanji, w.romaji, w.english, w.parts,
    coalesce(stats.correct_count, 0) AS correct_count,
    coalesce(stats.wrong_count, 0) AS wrong_count,
    memberships.groups
FROM words AS w
LEFT JOIN word_review_counts AS stats ON stats.word_id = w.id
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
