-- Reviews: the statement behind handlers/reviews.py.

-- name: create_reviews
-- Records the answers of several requests in one statement: one round trip, one transaction, one
-- increment of each counter (migration 0005). Requests that arrive together share it
-- (portaldb/batch.py), as launches do; under light load a batch is a single request. $1 holds the
-- session ids, $2 the word ids and $3 the answers (correct), request by request; ord is each
-- request's 1-based position. For each request the session and the word are looked up and locked
-- against deletion (FOR KEY SHARE, as the foreign keys would), and the review is inserted only
-- when both exist. Returns one row per request, in order: the two found-flags and the new review
-- (id NULL when nothing was inserted). Ids are drawn before the insert, from the identity's
-- sequence named as a constant (pg_get_serial_sequence() took 4.4 µs a row: a catalog lookup each
-- time), and created_at is written explicitly, so each request's row is known without reading the
-- insert back.
WITH request AS (
    SELECT r.ord, r.study_session_id, r.word_id, r.correct
    FROM unnest($1::int[], $2::int[], $3::boolean[]) WITH ORDINALITY AS r (study_session_id, word_id, correct, ord)
), checked AS (
    SELECT
        request.*,
        EXISTS (
            SELECT FROM study_sessions WHERE id = request.study_session_id FOR KEY SHARE
        ) AS session_found,
        EXISTS (SELECT FROM words WHERE id = request.word_id FOR KEY SHARE) AS word_found
    FROM request
), numbered AS (
    SELECT
        checked.*,
        CASE WHEN session_found AND word_found
            THEN nextval('word_review_items_id_seq')
        END AS id,
        now() AS created_at
    FROM checked
), inserted AS (
    INSERT INTO word_review_items (id, word_id, study_session_id, correct, created_at)
    SELECT id, word_id, study_session_id, correct, created_at FROM numbered WHERE id IS NOT NULL
)
SELECT ord, session_found, word_found, id, word_id, study_session_id, correct, created_at
FROM numbered
ORDER BY ord;
