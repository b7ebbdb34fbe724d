-- The dashboard: the statements behind handlers/dashboard.py, one per endpoint.

-- name: last_study_session
-- The newest session, shaped as get_study_session; no row when there is none.
SELECT *
FROM study_session_details
ORDER BY created_at DESC, id DESC
LIMIT 1;

-- name: study_progress
-- How many words have been reviewed at least once, out of how many words there are. The EXISTS
-- probes the review index once per word instead of reading every review.
SELECT
    (
        SELECT count(*)
        FROM words AS w
        WHERE EXISTS (SELECT FROM word_review_items AS r WHERE r.word_id = w.id)
    ) AS total_words_studied,
    (SELECT count(*) FROM words) AS total_available_words;

-- name: quick_stats
-- success_rate: the percentage of reviews answered correctly, to one decimal (NULL before the
-- first review). total_active_groups: groups with at least one session. study_streak_days: the
-- number of consecutive days (UTC) with at least one session, in the run that ends on the most
-- recent such day, provided that day is today or yesterday (else 0). Consecutive days, listed
-- newest first, share the value day + row number; the latest run is the rows sharing the newest
-- day's value.
WITH reviews AS (
    SELECT count(*) AS total, count(*) FILTER (WHERE correct) AS correct
    FROM word_review_items
), sessions AS (
    SELECT count(*) AS total, count(DISTINCT group_id) AS active_groups
    FROM study_sessions
), days AS (
    SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date AS day
    FROM study_sessions
), runs AS (
    SELECT day, day + (row_number() OVER (ORDER BY day DESC))::integer AS run
    FROM days
), latest AS (
    SELECT day, run FROM runs ORDER BY day DESC LIMIT 1
)
SELECT
    CASE WHEN reviews.total > 0
        THEN round(100.0 * reviews.correct / reviews.total, 1)::float8
    END AS success_rate,
    sessions.total AS total_study_sessions,
    sessions.active_groups AS total_active_groups,
    (
        SELECT count(*)
        FROM runs
        JOIN latest ON latest.run = runs.run
        WHERE latest.day >= (now() AT TIME ZONE 'UTC')::date - 1
    ) AS study_streak_days
FROM reviews CROSS JOIN sessions;
