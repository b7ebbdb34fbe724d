-- Statements only the tests use: resetting the database between tests and small data sets.

-- name: truncate_all
TRUNCATE word_review_items, study_sessions, words_groups, words, groups, study_activities,
    idempotency_keys
RESTART IDENTITY CASCADE;

-- name: insert_group
INSERT INTO groups (name) VALUES ($1) RETURNING id;

-- name: insert_study_activity
INSERT INTO study_activities (name, url) VALUES ($1, $2) RETURNING id;

-- name: count_study_sessions
SELECT count(*) FROM study_sessions;

-- name: study_session_row
SELECT id, group_id, study_activity_id, created_at FROM study_sessions WHERE id = $1;

-- name: all_study_session_ids
SELECT id FROM study_sessions ORDER BY id;

-- name: reset_scratch_schema
DROP SCHEMA IF EXISTS langportal_migration_test CASCADE;
CREATE SCHEMA langportal_migration_test;

-- name: drop_scratch_schema
DROP SCHEMA IF EXISTS langportal_migration_test CASCADE;

-- name: migration_versions
SELECT version FROM schema_migrations ORDER BY version;

-- name: corrupt_migration_checksum
UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1;

-- name: count_groups
SELECT count(*) FROM groups;

-- name: count_study_activities
SELECT count(*) FROM study_activities;

-- name: tables_in_schema
SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1;

-- name: insert_word
INSERT INTO words (kanji, romaji, english, parts) VALUES ($1, $2, $3, $4::jsonb) RETURNING id;

-- name: add_word_to_group
INSERT INTO words_groups (word_id, group_id) VALUES ($1, $2);

-- name: insert_study_session_at
INSERT INTO study_sessions (group_id, study_activity_id, created_at) VALUES ($1, $2, $3) RETURNING id;

-- name: insert_review_at
INSERT INTO word_review_items (study_session_id, word_id, correct, created_at)
VALUES ($1, $2, $3, $4)
RETURNING id;

-- name: count_reviews
SELECT count(*) FROM word_review_items;

-- name: review_row
SELECT id, word_id, study_session_id, correct, created_at FROM word_review_items WHERE id = $1;

-- name: catalogue_counts
SELECT
    (SELECT count(*) FROM groups) AS groups,
    (SELECT count(*) FROM words) AS words,
    (SELECT count(*) FROM words_groups) AS memberships,
    (SELECT count(*) FROM study_activities) AS study_activities;

-- name: group_word_counts
SELECT g.id, g.name, count(wg.word_id) AS word_count
FROM groups AS g LEFT JOIN words_groups AS wg ON wg.group_id = g.id
GROUP BY g.id ORDER BY g.id;

-- name: all_words
SELECT id, kanji, romaji, english, parts FROM words ORDER BY id;

-- name: all_study_activities
SELECT id, name, url FROM study_activities ORDER BY id;

-- name: delete_study_activities
DELETE FROM study_activities;

-- name: batch_probe
-- For tests of portaldb.Batcher: each call learns how many calls shared its statement.
SELECT r.ord, r.x, cardinality($1::int[]) AS batch_size
FROM unnest($1::int[]) WITH ORDINALITY AS r (x, ord)
ORDER BY r.ord;

-- name: batch_probe_timed
-- batch_probe, taking 0.2 s: each call also learns when its statement started and ended.
-- (OFFSET 0 keeps the subquery apart, so its end time is read once, after the sleep.)
SELECT r.ord, r.x, cardinality($1::int[]) AS batch_size, statement_timestamp() AS started, slept.ended
FROM (SELECT clock_timestamp() AS ended FROM pg_sleep(0.2) OFFSET 0) AS slept,
    unnest($1::int[]) WITH ORDINALITY AS r (x, ord)
ORDER BY r.ord;

-- name: batch_probe_failing
SELECT r.ord, 1 / (r.x - r.x) AS boom
FROM unnest($1::int[]) WITH ORDINALITY AS r (x, ord)
ORDER BY r.ord;

-- name: count_idempotency_keys
SELECT count(*) FROM idempotency_keys;

-- name: expire_idempotency_keys
UPDATE idempotency_keys SET expires_at = now() - interval '1 second';

-- name: idempotency_key_expiry
SELECT expires_at - created_at AS ttl FROM idempotency_keys WHERE key = $1;

-- name: study_session_ids_between
SELECT id FROM study_sessions WHERE id = ANY($1::int[]);

-- name: all_study_session_ids_set
SELECT array_agg(id) FROM study_sessions;

-- name: delete_study_activity
DELETE FROM study_activities WHERE id = $1;

-- name: server_setting
SELECT current_setting($1);

-- name: batch_probe_slow
-- batch_probe, slowly: long enough for a test to cut its connection off mid-statement.
SELECT r.ord, r.x, pg_sleep(2) IS NULL AS slept
FROM unnest($1::int[]) WITH ORDINALITY AS r (x, ord)
ORDER BY r.ord;

-- name: terminate_slow_probes
SELECT count(pg_terminate_backend(pid))
FROM pg_stat_activity
WHERE query LIKE '%pg_sleep(2) IS NULL AS slept%' AND pid <> pg_backend_pid();

-- name: sleep_seconds
SELECT pg_sleep($1);

-- name: backend_pid
SELECT pg_backend_pid();

-- name: terminate_backend
-- Waits (up to 5 s) until the backend is gone, so the client's next read sees its socket closed.
SELECT pg_terminate_backend($1, 5000);

-- name: delete_idempotency_key
DELETE FROM idempotency_keys WHERE key = $1;

-- name: waits_for_a_lock
SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1;

-- name: set_migration_checksum
UPDATE schema_migrations SET checksum = $2 WHERE version = $1;

-- name: migration_checksums
SELECT version, checksum FROM schema_migrations ORDER BY version;

-- name: create_limited_role
-- A login role that may hold two connections at once (superusers are not limited), for a server
-- process that cannot start because the database is full (tests/test_supervisor.py).
CREATE ROLE langportal_limited LOGIN CONNECTION LIMIT 2;

-- name: create_limited_database
CREATE DATABASE langportal_limited OWNER langportal_limited;

-- name: drop_limited_database
DROP DATABASE IF EXISTS langportal_limited WITH (FORCE);

-- name: drop_limited_role
DROP ROLE IF EXISTS langportal_limited;

-- Plain recomputations of every count the API exposes, straight from the history
-- (tests/test_counts_exact.py compares each against the API, which reads the counters).

-- name: exact_totals
-- The quick stats as the portal computed them before the counters of migration 0005: by
-- counting every review and session, and the streak from the distinct days (consecutive days,
-- newest first, share day + row number).
WITH reviews AS (
    SELECT count(*) AS total, count(*) FILTER (WHERE correct) AS correct FROM word_review_items
), sessions AS (
    SELECT count(*) AS total, count(DISTINCT group_id) AS active_groups FROM study_sessions
), days AS (
    SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date AS day FROM study_sessions
), runs AS (
    SELECT day, day + (row_number() OVER (ORDER BY day DESC))::integer AS run FROM days
), latest AS (
    SELECT day, run FROM runs ORDER BY day DESC LIMIT 1
)
SELECT
    CASE WHEN reviews.total > 0 THEN round(100.0 * reviews.correct / reviews.total, 1)::float8 END
        AS success_rate,
    sessions.total AS total_study_sessions,
    sessions.active_groups AS total_active_groups,
    (
        SELECT count(*)
        FROM runs JOIN latest ON latest.run = runs.run
        WHERE latest.day >= (now() AT TIME ZONE 'UTC')::date - 1
    ) AS study_streak_days,
    reviews.total AS total_reviews,
    (SELECT count(DISTINCT word_id) FROM word_review_items) AS total_words_studied,
    (SELECT count(*) FROM words) AS total_available_words
FROM reviews CROSS JOIN sessions;

-- name: exact_group_session_counts
SELECT g.id, count(s.id) AS sessions
FROM groups AS g LEFT JOIN study_sessions AS s ON s.group_id = g.id
GROUP BY g.id ORDER BY g.id;

-- name: exact_activity_session_counts
SELECT a.id, count(s.id) AS sessions
FROM study_activities AS a LEFT JOIN study_sessions AS s ON s.study_activity_id = a.id
GROUP BY a.id ORDER BY a.id;

-- name: exact_word_review_counts
SELECT
    w.id,
    count(r.id) FILTER (WHERE r.correct) AS correct_count,
    count(r.id) FILTER (WHERE NOT r.correct) AS wrong_count
FROM words AS w LEFT JOIN word_review_items AS r ON r.word_id = w.id
GROUP BY w.id ORDER BY w.id;

-- name: exact_session_review_counts
SELECT s.id, count(r.id) AS reviews, count(DISTINCT r.word_id) AS words
FROM study_sessions AS s LEFT JOIN word_review_items AS r ON r.study_session_id = s.id
GROUP BY s.id ORDER BY s.id;

-- name: delete_word
DELETE FROM words WHERE id = $1;

-- name: delete_study_sessions
DELETE FROM study_sessions WHERE id = ANY($1::int[]);

-- name: delete_study_sessions_before
DELETE FROM study_sessions WHERE created_at < $1;

-- name: delete_reviews_of_session
DELETE FROM word_review_items WHERE study_session_id = $1;

-- name: flip_reviews_of_word
UPDATE word_review_items SET correct = NOT correct WHERE word_id = $1;

-- name: move_study_session
UPDATE study_sessions SET created_at = $2, group_id = $3 WHERE id = $1;

-- name: insert_study_sessions_days_ago
-- One session $2 on each of the days $1 (an array of how many days before today, UTC noon).
INSERT INTO study_sessions (group_id, study_activity_id, created_at)
SELECT $2, $3, ((now() AT TIME ZONE 'UTC')::date - d + time '12:00') AT TIME ZONE 'UTC'
FROM unnest($1::int[]) AS d;

-- name: delete_study_sessions_days_ago
DELETE FROM study_sessions
WHERE (created_at AT TIME ZONE 'UTC')::date = ANY (
    SELECT (now() AT TIME ZONE 'UTC')::date - d FROM unnest($1::int[]) AS d
);

-- name: counter_tables_backfilled
-- The counters of migration 0005, summed over their slots (for the backfill test).
SELECT
    (SELECT coalesce(sum(sessions), 0) FROM history_totals) AS sessions,
    (SELECT coalesce(sum(reviews), 0) FROM history_totals) AS reviews,
    (SELECT coalesce(sum(correct_reviews), 0) FROM history_totals) AS correct_reviews,
    (
        SELECT coalesce(jsonb_object_agg(group_id, n), '{}') FROM (
            SELECT group_id, sum(sessions) AS n FROM session_counts_by_group GROUP BY group_id
        ) AS g
    ) AS by_group,
    (
        SELECT coalesce(jsonb_object_agg(word_id, jsonb_build_array(correct_count, wrong_count)), '{}')
        FROM word_review_counts
    ) AS by_word,
    (SELECT coalesce(jsonb_object_agg(day, run_start), '{}') FROM study_days) AS days;

-- issue 10: tests/test_pooler.py and tests/test_cluster.py (a PgBouncer in front of a database)

-- name: drop_pooler_database
DROP DATABASE IF EXISTS langportal_pooler WITH (FORCE);

-- name: create_pooler_database
CREATE DATABASE langportal_pooler;

-- name: hold_migration_lock
SELECT pg_advisory_xact_lock($1);

-- name: current_statement_timeout
SELECT current_setting('statement_timeout');

-- name: count_migrations
SELECT count(*) FROM schema_migrations;

-- name: add_one
SELECT $1::int + 1;

-- name: cluster_last_study_session_id
SELECT coalesce(max(id), 0) FROM study_sessions;

-- name: cluster_study_session_ids_after
SELECT id FROM study_sessions WHERE id > $1;

-- name: portal_tables
-- Every table of the portal, for the backup tests' snapshots (issue 9).
SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = 'public' ORDER BY 1;

-- name: drop_everything
-- A lost database, for the backup tests: every object of the portal gone.
DROP SCHEMA public CASCADE;
CREATE SCHEMA public;

-- name: insert_study_sessions_series
-- $3 sessions of group $1 and activity $2, one a second from $4 on.
INSERT INTO study_sessions (group_id, study_activity_id, created_at)
SELECT $1, $2, $4::timestamptz + make_interval(secs => n) FROM generate_series(1, $3) AS n;

-- name: analyze_study_sessions
ANALYZE study_sessions;

-- name: prepared_statement_plans
-- How often this connection's prepared statement with the text $1 was run with a generic plan
-- (planned once) and with a custom plan (planned for its arguments).
SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1;

-- name: exact_session_stretch_counts
-- The sessions per level and stretch of time (migration 0008), counted from the sessions.
SELECT depth AS level, epoch_second(created_at) >> (8 * depth) AS stretch, count(*) AS sessions
FROM study_sessions CROSS JOIN generate_series(0, 3) AS depth
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: session_stretch_counts
-- The same as the counters hold them: summed over the slots, stretches that sum to 0 left out.
SELECT level, stretch, sum(sessions)::bigint AS sessions
FROM session_counts_by_stretch
GROUP BY 1, 2
HAVING sum(sessions) <> 0
ORDER BY 1, 2;

-- name: insert_study_sessions_at
-- Sessions at the times $1, of the groups $2 and the activities $3 (arrays of one length).
INSERT INTO study_sessions (group_id, study_activity_id, created_at)
SELECT g, a, t FROM unnest($1::timestamptz[], $2::int[], $3::int[]) AS u (t, g, a);

-- name: session_page_by_offset
-- A page of a session list as a plain OFFSET reads it: every session ($1 and $2 NULL), group $1's
-- or activity $2's, newest first; $3 LIMIT, $4 OFFSET.
SELECT id FROM study_sessions
WHERE ($1::int IS NULL OR group_id = $1) AND ($2::int IS NULL OR study_activity_id = $2)
ORDER BY created_at DESC, id DESC
LIMIT $3 OFFSET $4;

-- name: session_list_length
SELECT count(*) FROM study_sessions
WHERE ($1::int IS NULL OR group_id = $1) AND ($2::int IS NULL OR study_activity_id = $2);

-- name: move_study_sessions_by
-- Every session of group $1 moves by the interval $2 and to activity $3 (one UPDATE).
UPDATE study_sessions SET created_at = created_at + $2, study_activity_id = $3 WHERE group_id = $1;

-- name: delete_every_third_study_session
DELETE FROM study_sessions WHERE id % 3 = 0;

-- name: insert_study_session_at_time_named
-- A session of group 1 and activity 1 at a time given as text ('infinity', say).
INSERT INTO study_sessions (group_id, study_activity_id, created_at) VALUES (1, 1, $1::text::timestamptz);

-- name: count_stretch_rows
SELECT count(*) FROM session_counts_by_stretch;

-- name: lock_stretch_counts
-- Inside a transaction: every reader of the stretch counts waits until it ends.
LOCK TABLE session_counts_by_stretch IN ACCESS EXCLUSIVE MODE;

-- name: set_stretches_folded_until
UPDATE session_stretches_folded SET until_second = epoch_second($1);

-- name: stretches_folded_until
SELECT until_second FROM session_stretches_folded;

-- name: unfolded_stretches
-- Stretches that ended after the second $1 and by the second $2 and still have more than one row,
-- or rows summing to 0.
SELECT level, stretch, count(*) AS rows, sum(sessions) AS sessions
FROM session_counts_by_stretch
WHERE ((stretch + 1) << (8 * level)) > $1 AND ((stretch + 1) << (8 * level)) <= $2
GROUP BY 1, 2
HAVING count(*) > 1 OR sum(sessions) = 0;

-- name: slots_in_stretches
SELECT count(DISTINCT slot) FROM session_counts_by_stretch;

-- name: epoch_second_of
SELECT epoch_second($1);

-- name: hold_the_fold
-- Inside a transaction: as a folding process does, the marker row stays locked until it ends.
SELECT until_second FROM session_stretches_folded FOR UPDATE;

-- name: delete_study_sessions_at
DELETE FROM study_sessions WHERE created_at = $1;

-- name: stretch_rows_at
-- The rows of stretch $2 of level $1.
SELECT count(*) FROM session_counts_by_stretch WHERE level = $1 AND stretch = $2;

-- name: fold_until
-- The fold of migration 0008 up to the second $1.
SELECT fold_session_stretches($1);

-- name: expired_idempotency_key
INSERT INTO idempotency_keys (key, fingerprint, expires_at) VALUES ($1, 'expired', now() - interval '1 hour');

-- name: waiting_for_the_fold_marker
-- Backends waiting for a lock in a statement that locks the fold's marker row.
SELECT count(*) FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND query LIKE '%FROM session_stretches_folded FOR UPDATE%'
    AND pid <> pg_backend_pid();

-- name: waiting_for_a_table
-- Backends waiting for a lock on the table named $1 (a relation lock, not a row's).
SELECT count(*) FROM pg_locks
WHERE locktype = 'relation' AND relation = $1::regclass AND NOT granted AND pid <> pg_backend_pid();

-- name: session_index_entries_read
-- Index entries this transaction's scans have read from the indexes of study_sessions so far,
-- whichever the plans chose (statistics of the current transaction, counted as it runs).
SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid))::bigint
FROM pg_index
WHERE indrelid = 'study_sessions'::regclass;

-- name: counters_off_a_recount
-- The history's counter tables (migrations 0005 and 0008) whose counts differ from a recount of
-- the history, each with what it holds and what the recount gives (as text); no row when every
-- one is exact. Rows whose counts sum to 0 count for nothing (a delete's signed changes leave
-- them). Also read by bench/resets.py.
WITH compared (counters, kept, recounted) AS (
    SELECT
        'history_totals',
        (SELECT row(coalesce(sum(sessions), 0), coalesce(sum(reviews), 0), coalesce(sum(correct_reviews), 0))::text
            FROM history_totals),
        (SELECT row((SELECT count(*) FROM study_sessions), count(*), count(*) FILTER (WHERE correct))::text
            FROM word_review_items)
    UNION ALL
    SELECT
        'session_counts_by_group',
        (SELECT coalesce(array_agg(row(group_id, n) ORDER BY group_id), '{}')::text FROM (
            SELECT group_id, sum(sessions) AS n FROM session_counts_by_group GROUP BY 1 HAVING sum(sessions) <> 0
        ) AS kept),
        (SELECT coalesce(array_agg(row(group_id, n) ORDER BY group_id), '{}')::text FROM (
            SELECT group_id, count(*) AS n FROM study_sessions GROUP BY 1
        ) AS recounted)
    UNION ALL
    SELECT
        'session_counts_by_activity',
        (SELECT coalesce(array_agg(row(study_activity_id, n) ORDER BY study_activity_id), '{}')::text FROM (
            SELECT study_activity_id, sum(sessions) AS n FROM session_counts_by_activity
            GROUP BY 1 HAVING sum(sessions) <> 0
        ) AS kept),
        (SELECT coalesce(array_agg(row(study_activity_id, n) ORDER BY study_activity_id), '{}')::text FROM (
            SELECT study_activity_id, count(*) AS n FROM study_sessions GROUP BY 1
        ) AS recounted)
    UNION ALL
    SELECT
        'review_counts_by_word',
        (SELECT coalesce(array_agg(row(word_id, r, x) ORDER BY word_id), '{}')::text FROM (
            SELECT word_id, sum(correct_count) AS r, sum(wrong_count) AS x FROM review_counts_by_word
            GROUP BY 1 HAVING sum(correct_count) <> 0 OR sum(wrong_count) <> 0
        ) AS kept),
        (SELECT coalesce(array_agg(row(word_id, r, x) ORDER BY word_id), '{}')::text FROM (
            SELECT word_id, count(*) FILTER (WHERE correct) AS r, count(*) FILTER (WHERE NOT correct) AS x
            FROM word_review_items GROUP BY 1
        ) AS recounted)
    UNION ALL
    SELECT
        'study_days',
        (SELECT coalesce(array_agg(row(day, run_start) ORDER BY day), '{}')::text FROM study_days),
        (SELECT coalesce(array_agg(row(day, run_start) ORDER BY day), '{}')::text FROM (
            SELECT day, min(day) OVER (PARTITION BY day - ordinal) AS run_start
            FROM (
                SELECT day, (row_number() OVER (ORDER BY day))::integer AS ordinal
                FROM (SELECT DISTINCT utc_day(created_at) AS day FROM study_sessions) AS days
            ) AS numbered
        ) AS recounted)
    UNION ALL
    SELECT
        'session_counts_by_stretch',
        (SELECT coalesce(array_agg(row(level, stretch, n) ORDER BY level, stretch), '{}')::text FROM (
            SELECT level, stretch, sum(sessions) AS n FROM session_counts_by_stretch
            GROUP BY 1, 2 HAVING sum(sessions) <> 0
        ) AS kept),
        (SELECT coalesce(array_agg(row(level, stretch, n) ORDER BY level, stretch), '{}')::text FROM (
            SELECT depth AS level, epoch_second(created_at) >> (8 * depth) AS stretch, count(*) AS n
            FROM study_sessions CROSS JOIN generate_series(0, 3) AS depth
            GROUP BY 1, 2
        ) AS recounted)
)
SELECT counters, left(kept, 200) AS kept, left(recounted, 200) AS recounted
FROM compared
WHERE kept IS DISTINCT FROM recounted;

-- name: backends_waiting_for_a_lock
-- Backends of this database waiting for a lock (a table's or a row's), this one left out.
SELECT count(*) FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND datname = current_database() AND pid <> pg_backend_pid();

-- name: delete_every_session
-- Every review and every session, row by row (their triggers count each): a history deleted
-- under a test's feet while it runs (the server's own reset truncates).
WITH reviews AS (DELETE FROM word_review_items RETURNING 1)
DELETE FROM study_sessions;

-- name: insert_study_activity_with_thumbnail
INSERT INTO study_activities (name, url, thumbnail_url, description) VALUES ($1, $2, $3, $4) RETURNING id;

-- name: session_review_stats_mismatches
-- Sessions whose row in session_review_stats (migration 0010) differs from a recount of the
-- history, or is missing, or describes no session: none when the triggers kept it exact.
WITH truth AS (
    SELECT s.id, s.group_id, s.created_at, r.last_review_at, coalesce(r.reviews, 0) AS reviews
    FROM study_sessions AS s
    LEFT JOIN (
        SELECT study_session_id, max(created_at) AS last_review_at, count(*) AS reviews
        FROM word_review_items
        GROUP BY study_session_id
    ) AS r ON r.study_session_id = s.id
)
SELECT coalesce(truth.id, st.study_session_id) AS id
FROM truth
FULL JOIN session_review_stats AS st ON st.study_session_id = truth.id
WHERE truth.id IS NULL OR st.study_session_id IS NULL
    OR (truth.group_id, truth.created_at, truth.last_review_at, coalesce(truth.last_review_at, truth.created_at),
        truth.reviews)
        IS DISTINCT FROM (st.group_id, st.started_at, st.last_review_at, st.end_time, st.review_items_count);

-- name: count_session_review_stats
SELECT count(*) FROM session_review_stats;

-- name: move_reviews_to_session
-- Every review of session $1 moved to session $2 (an edit by hand).
UPDATE word_review_items SET study_session_id = $2 WHERE study_session_id = $1;

-- name: delete_newest_review_of_session
DELETE FROM word_review_items
WHERE id = (SELECT max(id) FROM word_review_items WHERE study_session_id = $1);

-- name: move_session_to_group
UPDATE study_sessions SET group_id = $2 WHERE id = $1;

-- name: delete_study_session
DELETE FROM study_sessions WHERE id = $1;

-- name: truncate_reviews
TRUNCATE word_review_items;
