-- The dashboard: the statements behind handlers/dashboard.py, one per endpoint.

-- name: last_study_session
-- The newest session, shaped as get_study_session; no row when there is none.
SELECT *
FROM study_session_details
ORDER BY created_at DESC, id DESC
LIMIT 1;

-- name: study_progress
-- How many words have been reviewed at least once, out of how many words there are: read from
-- the per-word counters (migration 0005), not from the reviews.
SELECT
    (
        SELECT count(*)
        FROM word_review_counts AS c
        WHERE c.correct_count + c.wrong_count > 0 AND EXISTS (SELECT FROM words AS w WHERE w.id = c.word_id)
    ) AS total_words_studied,
    (SELECT count(*) FROM words) AS total_available_words;

-- name: quick_stats
-- From the counters of migration 0005, none of which grows with the history. success_rate: the
-- percentage of reviews answered correctly, to one decimal (NULL before the first review).
-- total_active_groups: groups with at least one session. study_streak_days: the number of
-- consecutive days (UTC) with at least one session, in the run that ends on the most recent such
-- day, provided that day is today or yesterday (else 0): the newest study day's run_start says
-- where its run began.
WITH totals AS (
    SELECT
        coalesce(sum(sessions), 0)::bigint AS sessions,
        coalesce(sum(reviews), 0)::bigint AS reviews,
        coalesce(sum(correct_reviews), 0)::bigint AS correct_reviews
    FROM history_totals
), active AS (
    SELECT count(*) AS groups
    FROM (
        SELECT group_id FROM session_counts_by_group GROUP BY group_id HAVING sum(sessions) > 0
    ) AS studied
), latest AS (
    SELECT day, run_start FROM study_days ORDER BY day DESC LIMIT 1
)
SELECT
    CASE WHEN totals.reviews > 0
        THEN round(100.0 * totals.correct_reviews / totals.reviews, 1)::float8
    END AS success_rate,
    totals.sessions AS total_study_sessions,
    active.groups AS total_active_groups,
    coalesce(
        (
            SELECT latest.day - latest.run_start + 1
            FROM latest
            WHERE latest.day >= utc_day(now()) - 1
        ),
        0
    )::bigint AS study_streak_days
FROM totals CROSS JOIN active;
