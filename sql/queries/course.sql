-- The routes of the course's own frontend and Typing Tutor (handlers/course.py): the statements
-- that the /api statements cannot serve as they are. Lists return at least one row, as in
-- study_sessions.sql; totals come from the counters of migration 0005, never counted.

-- name: course_recent_session
-- The newest session with its activity's name and its right and wrong answers; no row when there
-- is none.
SELECT
    s.id, s.group_id, a.name AS activity_name, s.created_at,
    count(r.id) FILTER (WHERE r.correct) AS correct_count,
    count(r.id) FILTER (WHERE NOT r.correct) AS wrong_count
FROM (
    SELECT id, group_id, study_activity_id, created_at
    FROM study_sessions
    ORDER BY created_at DESC, id DESC
    LIMIT 1
) AS s
JOIN study_activities AS a ON a.id = s.study_activity_id
LEFT JOIN word_review_items AS r ON r.study_session_id = s.id
GROUP BY s.id, s.group_id, a.name, s.created_at;

-- name: course_stats
-- The dashboard's figures, as the course's Flask template defines them:
--   total_words_studied  words with at least one review
--   mastered_words       words with at least 5 reviews, at least 80% of them right
--   success_rate         the fraction of all reviews answered right, 0 to 1 (0 before the first)
--   active_groups        groups with a session started in the last 30 days (one index probe each)
--   current_streak       consecutive UTC days with a session, ending today or yesterday (else 0),
--                        as quick_stats's study_streak_days
WITH totals AS (
    SELECT
        coalesce(sum(sessions), 0)::bigint AS sessions,
        coalesce(sum(reviews), 0)::bigint AS reviews,
        coalesce(sum(correct_reviews), 0)::bigint AS correct_reviews
    FROM history_totals
), studied AS (
    SELECT c.correct_count, c.wrong_count
    FROM word_review_counts AS c
    WHERE c.correct_count + c.wrong_count > 0 AND EXISTS (SELECT FROM words AS w WHERE w.id = c.word_id)
), latest AS (
    SELECT day, run_start FROM study_days ORDER BY day DESC LIMIT 1
)
SELECT
    (SELECT count(*) FROM words) AS total_vocabulary,
    (SELECT count(*) FROM studied) AS total_words_studied,
    (
        SELECT count(*)
        FROM studied
        WHERE correct_count + wrong_count >= 5 AND 5 * correct_count >= 4 * (correct_count + wrong_count)
    ) AS mastered_words,
    CASE WHEN totals.reviews > 0 THEN totals.correct_reviews::float8 / totals.reviews ELSE 0 END AS success_rate,
    totals.sessions AS total_sessions,
    (
        SELECT count(*)
        FROM groups AS g
        WHERE EXISTS (
            SELECT FROM study_sessions AS s
            WHERE s.group_id = g.id AND s.created_at >= now() - interval '30 days'
        )
    ) AS active_groups,
    coalesce(
        (SELECT latest.day - latest.run_start + 1 FROM latest WHERE latest.day >= utc_day(now()) - 1),
        0
    )::bigint AS current_streak
FROM totals;

-- name: course_study_activities
-- Every study activity, by id.
SELECT id, name, url, thumbnail_url, description FROM study_activities ORDER BY id;

-- name: course_launch_groups
-- Every group a session can be launched for, by name.
SELECT id, name FROM groups ORDER BY name, id;

-- name: course_group_words_raw
-- Group $1 and every word in it, by id: one row per word, or one row with NULL word columns for a
-- group without words; no row when there is no such group.
SELECT g.id AS group_id, g.name AS group_name, w.id, w.kanji, w.romaji, w.english, w.parts
FROM groups AS g
LEFT JOIN words_groups AS wg ON wg.group_id = g.id
LEFT JOIN words AS w ON w.id = wg.word_id
WHERE g.id = $1
ORDER BY w.id;

-- The sessions of group $1 in the orders the course's session table sorts by: $2 true for
-- descending, $3 LIMIT, $4 OFFSET. Each order is read along an index of migration 0010 (or 0004),
-- in either direction: PostgreSQL runs only the branch whose one-time filters ($2 or NOT $2, and
-- which half of the list the page lies in) hold. A page in the second half of its order is read
-- from the other end, as list_group_study_sessions does (the group's total is exact: the counters
-- of migration 0005, and migration 0010's table holds one row per session), so no page skips
-- more than half the group's sessions; the activity order skips whole activities from its start
-- instead (group_sessions_by_activity(), migration 0010). The page's sessions are then shaped by study_session_details, and put
-- back in the page's order by the same keys. Ties are broken by the session's start (activity
-- name) or id.

-- name: course_group_sessions_by_start
WITH total AS (
    SELECT coalesce(sum(sessions), 0)::bigint AS items FROM session_counts_by_group WHERE group_id = $1
), page AS (
    SELECT either.id
    FROM (
        (
            SELECT s.id FROM study_sessions AS s
            WHERE s.group_id = $1 AND $2 AND $4 <= (SELECT items FROM total) / 2
            ORDER BY s.created_at DESC, s.id DESC
            LIMIT $3 OFFSET $4
        )
        UNION ALL
        (
            SELECT s.id FROM study_sessions AS s
            WHERE s.group_id = $1 AND $2 AND $4 > (SELECT items FROM total) / 2
            ORDER BY s.created_at, s.id
            LIMIT least($3, greatest((SELECT items FROM total) - $4, 0))
            OFFSET greatest((SELECT items FROM total) - $4 - $3, 0)
        )
        UNION ALL
        (
            SELECT s.id FROM study_sessions AS s
            WHERE s.group_id = $1 AND NOT $2 AND $4 <= (SELECT items FROM total) / 2
            ORDER BY s.created_at, s.id
            LIMIT $3 OFFSET $4
        )
        UNION ALL
        (
            SELECT s.id FROM study_sessions AS s
            WHERE s.group_id = $1 AND NOT $2 AND $4 > (SELECT items FROM total) / 2
            ORDER BY s.created_at DESC, s.id DESC
            LIMIT least($3, greatest((SELECT items FROM total) - $4, 0))
            OFFSET greatest((SELECT items FROM total) - $4 - $3, 0)
        )
    ) AS either
    LIMIT $3
)
SELECT totals.found, totals.total_items, listed.*
FROM (
    SELECT EXISTS (SELECT FROM groups WHERE id = $1) AS found, (SELECT items FROM total) AS total_items
) AS totals
LEFT JOIN (
    SELECT details.* FROM page JOIN study_session_details AS details ON details.id = page.id
) AS listed ON true
ORDER BY
    CASE WHEN $2 THEN listed.created_at END DESC, CASE WHEN $2 THEN listed.id END DESC,
    CASE WHEN NOT $2 THEN listed.created_at END, CASE WHEN NOT $2 THEN listed.id END;

-- name: course_group_sessions_by_id
WITH total AS (
    SELECT coalesce(sum(sessions), 0)::bigint AS items FROM session_counts_by_group WHERE group_id = $1
), page AS (
    SELECT either.id
    FROM (
        (
            SELECT s.id FROM study_sessions AS s
            WHERE s.group_id = $1 AND $2 AND $4 <= (SELECT items FROM total) / 2
            ORDER BY s.id DESC
            LIMIT $3 OFFSET $4
        )
        UNION ALL
        (
            SELECT s.id FROM study_sessions AS s
            WHERE s.group_id = $1 AND $2 AND $4 > (SELECT items FROM total) / 2
            ORDER BY s.id
            LIMIT least($3, greatest((SELECT items FROM total) - $4, 0))
            OFFSET greatest((SELECT items FROM total) - $4 - $3, 0)
        )
        UNION ALL
        (
            SELECT s.id FROM study_sessions AS s
            WHERE s.group_id = $1 AND NOT $2 AND $4 <= (SELECT items FROM total) / 2
            ORDER BY s.id
            LIMIT $3 OFFSET $4
        )
        UNION ALL
        (
            SELECT s.id FROM study_sessions AS s
            WHERE s.group_id = $1 AND NOT $2 AND $4 > (SELECT items FROM total) / 2
            ORDER BY s.id DESC
            LIMIT least($3, greatest((SELECT items FROM total) - $4, 0))
            OFFSET greatest((SELECT items FROM total) - $4 - $3, 0)
        )
    ) AS either
    LIMIT $3
)
SELECT totals.found, totals.total_items, listed.*
FROM (
    SELECT EXISTS (SELECT FROM groups WHERE id = $1) AS found, (SELECT items FROM total) AS total_items
) AS totals
LEFT JOIN (
    SELECT details.* FROM page JOIN study_session_details AS details ON details.id = page.id
) AS listed ON true
ORDER BY CASE WHEN $2 THEN listed.id END DESC, CASE WHEN NOT $2 THEN listed.id END;

-- name: course_group_sessions_by_activity
-- Activity by activity in name order, each one's sessions by start (group_sessions_by_activity(),
-- migration 0010).
WITH page AS (
    SELECT picked.id FROM group_sessions_by_activity($1, $2, $3, $4) AS picked
)
SELECT totals.found, totals.total_items, listed.*
FROM (
    SELECT
        EXISTS (SELECT FROM groups WHERE id = $1) AS found,
        (SELECT coalesce(sum(sessions), 0)::bigint FROM session_counts_by_group WHERE group_id = $1) AS total_items
) AS totals
LEFT JOIN (
    SELECT details.* FROM page JOIN study_session_details AS details ON details.id = page.id
) AS listed ON true
ORDER BY
    CASE WHEN $2 THEN listed.activity_name END DESC, CASE WHEN $2 THEN listed.created_at END DESC,
    CASE WHEN $2 THEN listed.id END DESC,
    CASE WHEN NOT $2 THEN listed.activity_name END, CASE WHEN NOT $2 THEN listed.created_at END,
    CASE WHEN NOT $2 THEN listed.id END;

-- name: course_group_sessions_by_review_count
WITH total AS (
    SELECT coalesce(sum(sessions), 0)::bigint AS items FROM session_counts_by_group WHERE group_id = $1
), page AS (
    SELECT either.id
    FROM (
        (
            SELECT st.study_session_id AS id FROM session_review_stats AS st
            WHERE st.group_id = $1 AND $2 AND $4 <= (SELECT items FROM total) / 2
            ORDER BY st.review_items_count DESC, st.study_session_id DESC
            LIMIT $3 OFFSET $4
        )
        UNION ALL
        (
            SELECT st.study_session_id AS id FROM session_review_stats AS st
            WHERE st.group_id = $1 AND $2 AND $4 > (SELECT items FROM total) / 2
            ORDER BY st.review_items_count, st.study_session_id
            LIMIT least($3, greatest((SELECT items FROM total) - $4, 0))
            OFFSET greatest((SELECT items FROM total) - $4 - $3, 0)
        )
        UNION ALL
        (
            SELECT st.study_session_id AS id FROM session_review_stats AS st
            WHERE st.group_id = $1 AND NOT $2 AND $4 <= (SELECT items FROM total) / 2
            ORDER BY st.review_items_count, st.study_session_id
            LIMIT $3 OFFSET $4
        )
        UNION ALL
        (
            SELECT st.study_session_id AS id FROM session_review_stats AS st
            WHERE st.group_id = $1 AND NOT $2 AND $4 > (SELECT items FROM total) / 2
            ORDER BY st.review_items_count DESC, st.study_session_id DESC
            LIMIT least($3, greatest((SELECT items FROM total) - $4, 0))
            OFFSET greatest((SELECT items FROM total) - $4 - $3, 0)
        )
    ) AS either
    LIMIT $3
)
SELECT totals.found, totals.total_items, listed.*
FROM (
    SELECT EXISTS (SELECT FROM groups WHERE id = $1) AS found, (SELECT items FROM total) AS total_items
) AS totals
LEFT JOIN (
    SELECT details.* FROM page JOIN study_session_details AS details ON details.id = page.id
) AS listed ON true
ORDER BY
    CASE WHEN $2 THEN listed.review_items_count END DESC, CASE WHEN $2 THEN listed.id END DESC,
    CASE WHEN NOT $2 THEN listed.review_items_count END, CASE WHEN NOT $2 THEN listed.id END;

-- name: course_group_sessions_by_end
-- The end of a session: its last review's time, or its start before the first.
WITH total AS (
    SELECT coalesce(sum(sessions), 0)::bigint AS items FROM session_counts_by_group WHERE group_id = $1
), page AS (
    SELECT either.id
    FROM (
        (
            SELECT st.study_session_id AS id FROM session_review_stats AS st
            WHERE st.group_id = $1 AND $2 AND $4 <= (SELECT items FROM total) / 2
            ORDER BY st.end_time DESC, st.study_session_id DESC
            LIMIT $3 OFFSET $4
        )
        UNION ALL
        (
            SELECT st.study_session_id AS id FROM session_review_stats AS st
            WHERE st.group_id = $1 AND $2 AND $4 > (SELECT items FROM total) / 2
            ORDER BY st.end_time, st.study_session_id
            LIMIT least($3, greatest((SELECT items FROM total) - $4, 0))
            OFFSET greatest((SELECT items FROM total) - $4 - $3, 0)
        )
        UNION ALL
        (
            SELECT st.study_session_id AS id FROM session_review_stats AS st
            WHERE st.group_id = $1 AND NOT $2 AND $4 <= (SELECT items FROM total) / 2
            ORDER BY st.end_time, st.study_session_id
            LIMIT $3 OFFSET $4
        )
        UNION ALL
        (
            SELECT st.study_session_id AS id FROM session_review_stats AS st
            WHERE st.group_id = $1 AND NOT $2 AND $4 > (SELECT items FROM total) / 2
            ORDER BY st.end_time DESC, st.study_session_id DESC
            LIMIT least($3, greatest((SELECT items FROM total) - $4, 0))
            OFFSET greatest((SELECT items FROM total) - $4 - $3, 0)
        )
    ) AS either
    LIMIT $3
)
SELECT totals.found, totals.total_items, listed.*
FROM (
    SELECT EXISTS (SELECT FROM groups WHERE id = $1) AS found, (SELECT items FROM total) AS total_items
) AS totals
LEFT JOIN (
    SELECT details.* FROM page JOIN study_session_details AS details ON details.id = page.id
) AS listed ON true
ORDER BY
    CASE WHEN $2 THEN coalesce(listed.end_time, listed.created_at) END DESC,
    CASE WHEN $2 THEN listed.id END DESC,
    CASE WHEN NOT $2 THEN coalesce(listed.end_time, listed.created_at) END,
    CASE WHEN NOT $2 THEN listed.id END;
