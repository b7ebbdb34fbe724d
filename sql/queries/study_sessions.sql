-- Study sessions: the statements behind handlers/study_sessions.py.

-- name: create_study_sessions
-- Starts study sessions for several requests in one statement: one round trip, one transaction.
-- Requests that arrive together share it (portaldb/batch.py); under light load a batch is a single
-- request. $1 holds the group ids and $2 the study activity ids, request by request; ord is each
-- request's 1-based position. For each request the group and the study activity are looked up and
-- locked against deletion (FOR KEY SHARE, as the foreign keys would), and a session is inserted
-- only when both exist. Returns one row per request, in order: the two found-flags and the new
-- session (id NULL when nothing was inserted). Ids are drawn before the insert, and created_at is
-- written explicitly, so each request's row is known without reading the insert back.
WITH request AS (
    SELECT r.ord, r.group_id, r.study_activity_id
    FROM unnest($1::int[], $2::int[]) WITH ORDINALITY AS r (group_id, study_activity_id, ord)
), checked AS (
    SELECT
        request.ord,
        request.group_id,
        request.study_activity_id,
        EXISTS (SELECT FROM groups WHERE id = request.group_id FOR KEY SHARE) AS group_found,
        EXISTS (
            SELECT FROM study_activities WHERE id = request.study_activity_id FOR KEY SHARE
        ) AS activity_found
    FROM request
), numbered AS (
    SELECT
        checked.*,
        CASE WHEN group_found AND activity_found
            THEN nextval('study_sessions_id_seq')::int
        END AS id,
        now() AS created_at
    FROM checked
), inserted AS (
    INSERT INTO study_sessions (id, group_id, study_activity_id, created_at)
    SELECT id, group_id, study_activity_id, created_at FROM numbered WHERE id IS NOT NULL
)
SELECT ord, group_found, activity_found, id, group_id, study_activity_id, created_at
FROM numbered
ORDER BY ord;

-- name: get_study_session
-- One session with its activity's and group's names, its start (created_at) and end (its last
-- review's time, NULL before the first review), and how many reviews it holds.
SELECT * FROM study_session_details WHERE id = $1;

-- The list statements below share one shape (handlers/pagination.py page_of reads it): they
-- always return at least one row, whose total_items counts every matching item, followed by the
-- page's items in order; on a page past the end that one row has NULL item columns. total_items
-- is read from the counters of migration 0005 (exact, kept by triggers), never counted. The
-- sessions of the page are chosen first, along an index on (created_at, id) newest first; names
-- and review stats are then looked up for those sessions only (study_session_details).
--
-- A page by number (?page=N, N > 1) starts (N - 1) * per_page sessions down the list. The
-- statements below skip that many with OFFSET, one index entry each (about 70 ns). From 10,000
-- sessions down (handlers/pagination.py DEEP_OFFSET), the list of every session is read by
-- list_study_sessions_deep instead: session_list_start() finds where the page starts from the
-- counts of sessions per stretch of time (migration 0008), as the end of one second and the few
-- sessions of that second to skip, and the page is an index range scan from there, at about the
-- same cost at any depth (half a millisecond to find the start: dearer than a short OFFSET,
-- cheaper than a long one). The lists of one group or activity use OFFSET (migration 0008 says
-- why), but from whichever end of the list is nearer: a page in the older half is read along the
-- same index backwards, oldest first, skipping the sessions after it (their number is the total
-- minus the page's end, both exact: the counters are kept in the same transactions as the
-- sessions, so one snapshot sees both alike). PostgreSQL runs only the branch whose one-time
-- filter holds. The last page costs what the first does; the middle of the list is the dearest,
-- half the list skipped. A page after a cursor, and the first page, are the *_from statements
-- further down.

-- name: list_study_sessions
-- Every session, newest first. $1 LIMIT, $2 OFFSET.
WITH page AS (
    SELECT s.id
    FROM study_sessions AS s
    ORDER BY s.created_at DESC, s.id DESC
    LIMIT $1 OFFSET $2
)
SELECT totals.total_items, listed.*
FROM (SELECT coalesce(sum(sessions), 0)::bigint AS total_items FROM history_totals) AS totals
LEFT JOIN (
    SELECT details.*
    FROM page
    JOIN study_session_details AS details ON details.id = page.id
) AS listed ON true
ORDER BY listed.created_at DESC, listed.id DESC;

-- name: list_study_sessions_deep
-- Every session, newest first: $1 sessions from $2 sessions down, found from the stretch counts.
WITH start AS (
    SELECT * FROM session_list_start($2)
), page AS (
    SELECT s.id
    FROM study_sessions AS s
    WHERE s.created_at < (SELECT before FROM start)
    ORDER BY s.created_at DESC, s.id DESC
    LIMIT $1 OFFSET (SELECT skip FROM start)
)
SELECT totals.total_items, listed.*
FROM (SELECT coalesce(sum(sessions), 0)::bigint AS total_items FROM history_totals) AS totals
LEFT JOIN (
    SELECT details.*
    FROM page
    JOIN study_session_details AS details ON details.id = page.id
) AS listed ON true
ORDER BY listed.created_at DESC, listed.id DESC;

-- name: list_group_study_sessions
-- The sessions of group $1, newest first; found is false when there is no such group.
-- $2 LIMIT, $3 OFFSET: from the newest end, or from the oldest when the page lies in the older
-- half (see above).
WITH total AS (
    SELECT coalesce(sum(sessions), 0)::bigint AS items FROM session_counts_by_group WHERE group_id = $1
), page AS (
    SELECT either.id
    FROM (
        (
            SELECT s.id
            FROM study_sessions AS s
            WHERE s.group_id = $1 AND $3 <= (SELECT items FROM total) / 2
            ORDER BY s.created_at DESC, s.id DESC
            LIMIT $2 OFFSET $3
        )
        UNION ALL
        (
            SELECT s.id
            FROM study_sessions AS s
            WHERE s.group_id = $1 AND $3 > (SELECT items FROM total) / 2
            ORDER BY s.created_at, s.id
            LIMIT least($2, greatest((SELECT items FROM total) - $3, 0))
            OFFSET greatest((SELECT items FROM total) - $3 - $2, 0)
        )
    ) AS either
    LIMIT $2  -- what either branch gives; it tells the planner how few rows to join below
)
SELECT totals.found, totals.total_items, listed.*
FROM (
    SELECT EXISTS (SELECT FROM groups WHERE id = $1) AS found, (SELECT items FROM total) AS total_items
) AS totals
LEFT JOIN (
    SELECT details.*
    FROM page
    JOIN study_session_details AS details ON details.id = page.id
) AS listed ON true
ORDER BY listed.created_at DESC, listed.id DESC;

-- name: list_activity_study_sessions
-- The sessions of study activity $1, newest first; found is false when there is no such
-- activity. $2 LIMIT, $3 OFFSET: from the newest end, or from the oldest when the page lies in
-- the older half (see above).
WITH total AS (
    SELECT coalesce(sum(sessions), 0)::bigint AS items FROM session_counts_by_activity WHERE study_activity_id = $1
), page AS (
    SELECT either.id
    FROM (
        (
            SELECT s.id
            FROM study_sessions AS s
            WHERE s.study_activity_id = $1 AND $3 <= (SELECT items FROM total) / 2
            ORDER BY s.created_at DESC, s.id DESC
            LIMIT $2 OFFSET $3
        )
        UNION ALL
        (
            SELECT s.id
            FROM study_sessions AS s
            WHERE s.study_activity_id = $1 AND $3 > (SELECT items FROM total) / 2
            ORDER BY s.created_at, s.id
            LIMIT least($2, greatest((SELECT items FROM total) - $3, 0))
            OFFSET greatest((SELECT items FROM total) - $3 - $2, 0)
        )
    ) AS either
    LIMIT $2  -- what either branch gives; it tells the planner how few rows to join below
)
SELECT totals.found, totals.total_items, listed.*
FROM (
    SELECT
        EXISTS (SELECT FROM study_activities WHERE id = $1) AS found,
        (SELECT items FROM total) AS total_items
) AS totals
LEFT JOIN (
    SELECT details.*
    FROM page
    JOIN study_session_details AS details ON details.id = page.id
) AS listed ON true
ORDER BY listed.created_at DESC, listed.id DESC;

-- The same three lists for a page that starts at the newest session or at a cursor (no OFFSET):
-- the first page of every list, and every page after a cursor. They are written so that PostgreSQL
-- plans each once per connection (a generic plan, kept after five executions) instead of planning
-- every call: planning was 0.6 ms of a 0.75 ms statement at 1M sessions, and a sixth of the
-- database's CPU time under the mix of bench/list_endpoints.py (perf). The page is cut in two
-- steps: under a constant bound (501: the most per_page allows, schemas/session_page_query.json,
-- and one more, which handlers/pagination.py asks for to know whether a page follows), then by
-- the page size, given as LIMIT (SELECT $n): a value no plan's estimate can see, custom or
-- generic, so the page size no longer makes a custom plan look cheaper than the generic one (with
-- a plain LIMIT $n a custom plan for a page of 10 did, and PostgreSQL kept planning every call).
-- The cursor and the group or activity id still reach the custom plans' estimates; the generic
-- plan wins on what each custom plan's planning costs. The executor pulls only the page's rows
-- either way. Through a transaction pooler (unnamed statements) every call is planned anyway. With
-- OFFSET $n this cannot work: an unknown OFFSET is estimated at a tenth of the table, so ?page=N
-- beyond the first keeps the statements above.

-- name: list_study_sessions_from
-- Every session, newest first, from the cursor on. $1 LIMIT, $2 and $3 the cursor (created_at, id).
WITH page AS (
    SELECT newest.id
    FROM (
        SELECT s.id, s.created_at
        FROM study_sessions AS s
        WHERE (s.created_at, s.id) < ($2::timestamptz, $3::integer)
        ORDER BY s.created_at DESC, s.id DESC
        LIMIT 501
    ) AS newest
    ORDER BY newest.created_at DESC, newest.id DESC
    LIMIT (SELECT $1::integer)
)
SELECT totals.total_items, listed.*
FROM (SELECT coalesce(sum(sessions), 0)::bigint AS total_items FROM history_totals) AS totals
LEFT JOIN (
    SELECT details.*
    FROM page
    JOIN study_session_details AS details ON details.id = page.id
) AS listed ON true
ORDER BY listed.created_at DESC, listed.id DESC;

-- name: list_group_study_sessions_from
-- The sessions of group $1, newest first, from the cursor on; found is false when there is no
-- such group. $2 LIMIT, $3 and $4 the cursor (created_at, id).
WITH page AS (
    SELECT newest.id
    FROM (
        SELECT s.id, s.created_at
        FROM study_sessions AS s
        WHERE s.group_id = $1 AND (s.created_at, s.id) < ($3::timestamptz, $4::integer)
        ORDER BY s.created_at DESC, s.id DESC
        LIMIT 501
    ) AS newest
    ORDER BY newest.created_at DESC, newest.id DESC
    LIMIT (SELECT $2::integer)
)
SELECT totals.found, totals.total_items, listed.*
FROM (
    SELECT
        EXISTS (SELECT FROM groups WHERE id = $1) AS found,
        (
            SELECT coalesce(sum(sessions), 0)::bigint FROM session_counts_by_group WHERE group_id = $1
        ) AS total_items
) AS totals
LEFT JOIN (
    SELECT details.*
    FROM page
    JOIN study_session_details AS details ON details.id = page.id
) AS listed ON true
ORDER BY listed.created_at DESC, listed.id DESC;

-- name: list_activity_study_sessions_from
-- The sessions of study activity $1, newest first, from the cursor on; found is false when there
-- is no such activity. $2 LIMIT, $3 and $4 the cursor (created_at, id).
WITH page AS (
    SELECT newest.id
    FROM (
        SELECT s.id, s.created_at
        FROM study_sessions AS s
        WHERE s.study_activity_id = $1 AND (s.created_at, s.id) < ($3::timestamptz, $4::integer)
        ORDER BY s.created_at DESC, s.id DESC
        LIMIT 501
    ) AS newest
    ORDER BY newest.created_at DESC, newest.id DESC
    LIMIT (SELECT $2::integer)
)
SELECT totals.found, totals.total_items, listed.*
FROM (
    SELECT
        EXISTS (SELECT FROM study_activities WHERE id = $1) AS found,
        (
            SELECT coalesce(sum(sessions), 0)::bigint
            FROM session_counts_by_activity
            WHERE study_activity_id = $1
        ) AS total_items
) AS totals
LEFT JOIN (
    SELECT details.*
    FROM page
    JOIN study_session_details AS details ON details.id = page.id
) AS listed ON true
ORDER BY listed.created_at DESC, listed.id DESC;

-- name: list_study_session_words
-- The words reviewed in session $1, each with its right and wrong answers in that session;
-- found is false when there is no such session. Sorted by $2 (kanji, romaji, english,
-- correct_count or wrong_count) in direction $3 (asc or desc) by sorted_words (migration 0005),
-- ties by id. $4 LIMIT, $5 OFFSET.
WITH counts AS (
    SELECT
        r.word_id,
        count(*) FILTER (WHERE r.correct) AS correct_count,
        count(*) FILTER (WHERE NOT r.correct) AS wrong_count
    FROM word_review_items AS r
    WHERE r.study_session_id = $1
    GROUP BY r.word_id
), page AS (
    SELECT sorted.*
    FROM sorted_words(
        ARRAY(
            SELECT ROW(
                w.id, w.kanji, w.romaji, w.english, w.parts, c.correct_count, c.wrong_count
            )::word_with_counts
            FROM counts AS c
            JOIN words AS w ON w.id = c.word_id
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
        EXISTS (SELECT FROM study_sessions WHERE id = $1) AS found,
        (SELECT count(*) FROM counts) AS total_items
) AS totals
LEFT JOIN page ON true
ORDER BY page.ordinal;
