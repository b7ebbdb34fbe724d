-- Reviews: the statement behind handlers/reviews.py.

-- name: create_review
-- One round trip, one statement, so one transaction: look up the session ($1) and the word ($2),
-- lock both against deletion (FOR KEY SHARE, as the foreign keys would), and insert the review
-- ($3: correct) only when both exist. Always returns exactly one row: the two found-flags, and
-- the new review's columns (NULL when nothing was inserted).
WITH session AS (
    SELECT id FROM study_sessions WHERE id = $1 FOR KEY SHARE
), word AS (
    SELECT id FROM words WHERE id = $2 FOR KEY SHARE
), inserted AS (
    INSERT INTO word_review_items (word_id, study_session_id, correct)
    SELECT word.id, session.id, $3 FROM session CROSS JOIN word
    RETURNING id, word_id, study_session_id, correct, created_at
)
SELECT
    EXISTS (SELECT FROM session) AS session_found,
    EXISTS (SELECT FROM word) AS word_found,
    inserted.id,
    inserted.word_id,
    inserted.study_session_id,
    inserted.correct,
    inserted.created_at
FROM (VALUES (1)) AS always_one_row (one)
LEFT JOIN inserted ON true;
