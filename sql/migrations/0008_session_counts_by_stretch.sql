-- Pages deep into a session list by number (?page=N) at the cost of a page near the top (issue 12).
-- A list is ordered newest first, by (created_at, id), and ?page=N starts (N - 1) * per_page
-- sessions down. An OFFSET walks the index entry by entry to get there: page 1,000 of 100 took
-- 7-8 ms at 1M sessions, and every page deeper a little more.
--
-- Sessions are counted by stretch of time, exactly, in the same transaction as every write: per
-- stretch of 1 second, 256 seconds, 65,536 seconds (about 18 hours) and 16,777,216 seconds (about
-- 194 days): level 0 to 3, each stretch made of 256 stretches of the level below. Stretches are
-- numbered from 1970-01-01 UTC: a session's stretch at level L is epoch_second(created_at) >> (8 *
-- L), so every session of a newer stretch comes before every session of an older one in the list.
--
-- To start a page k sessions down, session_list_start() goes from the top level down: at each
-- level it sums the stretches inside the one chosen above, newest first, until the sessions
-- passed exceed k, takes away the sessions of the newer stretches, and goes into the stretch
-- reached. Its second then holds the page's first session: the page is read from the end of that
-- second with an OFFSET smaller than the sessions of that one second. At most 256 stretches a
-- level (the top level: one per 194 days of history), whatever the depth of the page.
--
-- Writes: a launch batch adds to one row per level (its sessions mostly share one second), in the
-- same statement-level trigger as the other counters and before them (the lock order of migration
-- 0005, with these rows first, for inserts, updates and deletes alike). Rows are striped by
-- counter_slot() as the other counters are, so concurrent writers don't queue on the newest
-- stretches' rows; a read sums the slots, so a stretch costs a read one row per slot that wrote in
-- it. A history spread thin (one session every 50 minutes, as bench/load.sql makes) costs about
-- two rows per session, at levels 0 and 1; a dense one (a load test) about one row per second and
-- connection that wrote in it. UPDATE and DELETE add signed changes to the writer's slot, like the
-- other counters, so a stretch emptied by a delete keeps rows that sum to 0 (until folded, below),
-- except a delete of every session by a transaction that holds writers off (POST
-- /api/reset_history), which empties the table; TRUNCATE empties it too.
--
-- Only the list of every session is counted so. The lists of one group or one study activity
-- would need rows per group and activity too: a launch batch of the bench's data set touches about
-- 70 of them, and four levels each made the counting trigger ten times dearer (0.5 to 5.3 ms a
-- batch of 100) and launches 9% slower (bench/ab.py). Their pages by number keep the OFFSET; their
-- cursor costs the same at any depth.

-- The second a moment falls in, counted from 1970-01-01 UTC (rounded down, before 1970 too), in
-- integer arithmetic: the UTC day's number times 86,400, plus the whole seconds of its time of day
-- (a double below 86,400, exact to the microsecond). Every function it calls is immutable, so
-- PostgreSQL inlines it (extract(epoch FROM timestamptz) is only stable, and made it a function
-- call per row: 1.6 us).
CREATE FUNCTION epoch_second(moment timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ((moment AT TIME ZONE 'UTC')::date - date '1970-01-01')::bigint * 86400
        + floor(date_part('epoch', (moment AT TIME ZONE 'UTC')::time))::bigint
$$;

CREATE TABLE session_counts_by_stretch (
    stretch  bigint   NOT NULL,  -- epoch_second(created_at) >> (8 * level)
    sessions bigint   NOT NULL,
    level    smallint NOT NULL,  -- stretches of 256 ^ level seconds
    slot     smallint NOT NULL,
    PRIMARY KEY (level, stretch, slot)
);

-- Counts the new rows of an INSERT: one upsert, rows in key order (no deadlock between writers of
-- one slot), then the counters of migration 0007 as before.
CREATE OR REPLACE FUNCTION count_inserted_study_sessions() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    missing date[];
BEGIN
    INSERT INTO session_counts_by_stretch AS c (level, stretch, slot, sessions)
    SELECT depth, per_second.second >> (8 * depth), counter_slot(), sum(per_second.n)
    FROM (SELECT epoch_second(created_at) AS second, count(*) AS n FROM new_rows GROUP BY 1) AS per_second
    CROSS JOIN generate_series(0, 3) AS depth
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (level, stretch, slot) DO UPDATE SET sessions = c.sessions + excluded.sessions;

    INSERT INTO session_counts_by_group AS c (group_id, slot, sessions)
    SELECT group_id, counter_slot(), count(*) FROM new_rows GROUP BY group_id ORDER BY group_id
    ON CONFLICT (group_id, slot) DO UPDATE SET sessions = c.sessions + excluded.sessions;

    INSERT INTO session_counts_by_activity AS c (study_activity_id, slot, sessions)
    SELECT study_activity_id, counter_slot(), count(*) FROM new_rows
    GROUP BY study_activity_id ORDER BY study_activity_id
    ON CONFLICT (study_activity_id, slot) DO UPDATE SET sessions = c.sessions + excluded.sessions;

    UPDATE history_totals AS t SET sessions = t.sessions + added.n
    FROM (SELECT count(*) AS n FROM new_rows) AS added
    WHERE t.slot = counter_slot() AND added.n > 0;

    -- The days, locked in date order as add_study_days does (unnest keeps the array's order).
    SELECT array_agg(d ORDER BY d) INTO missing
    FROM unnest((
        SELECT array_agg(DISTINCT utc_day(created_at) ORDER BY utc_day(created_at)) FROM new_rows
    )) AS d
    WHERE NOT EXISTS (SELECT FROM study_days AS s WHERE s.day = d FOR KEY SHARE);
    IF missing IS NOT NULL THEN
        PERFORM add_study_days(missing);
    END IF;
    RETURN NULL;
END;
$$;

-- UPDATE and DELETE (resets, edits by hand): the signed changes per stretch first, then migration
-- 0005's counting, unchanged.
--
-- A DELETE of every session (the transition table holds as many as the totals of migration 0005
-- count, read before their own trigger takes them away) by a transaction that holds SHARE ROW
-- EXCLUSIVE on study_sessions (POST /api/reset_history takes it first), so that no other writer
-- can count a session meanwhile: the table is emptied instead of adding a signed change per
-- stretch, which on a history spread thin is two rows per session deleted (a reset of 500,000
-- such sessions took 8.6 s instead of 2.2 s). With DELETE, not TRUNCATE: a deep page read in a
-- snapshot taken before the reset commits must still find the counts of the sessions it sees.
CREATE FUNCTION count_changed_session_stretches() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'DELETE'
        AND (SELECT count(*) FROM old_rows) = (SELECT coalesce(sum(sessions), 0) FROM history_totals)
        AND EXISTS (
            SELECT FROM pg_locks
            WHERE locktype = 'relation' AND relation = TG_RELID
                AND pid = pg_backend_pid() AND granted
                AND mode IN ('ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
        )
    THEN
        DELETE FROM session_counts_by_stretch;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO session_counts_by_stretch AS c (level, stretch, slot, sessions)
        SELECT depth, per_second.second >> (8 * depth), counter_slot(), -sum(per_second.n)
        FROM (SELECT epoch_second(created_at) AS second, count(*) AS n FROM old_rows GROUP BY 1) AS per_second
        CROSS JOIN generate_series(0, 3) AS depth
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT (level, stretch, slot) DO UPDATE SET sessions = c.sessions + excluded.sessions;
    ELSE
        INSERT INTO session_counts_by_stretch AS c (level, stretch, slot, sessions)
        SELECT depth, per_second.second >> (8 * depth), counter_slot(), sum(per_second.n)
        FROM (
            SELECT sides.second, sum(sides.n) AS n
            FROM (
                SELECT epoch_second(created_at) AS second, 1 AS n FROM new_rows
                UNION ALL
                SELECT epoch_second(created_at) AS second, -1 AS n FROM old_rows
            ) AS sides
            GROUP BY 1
        ) AS per_second
        CROSS JOIN generate_series(0, 3) AS depth
        GROUP BY 1, 2
        HAVING sum(per_second.n) <> 0
        ORDER BY 1, 2
        ON CONFLICT (level, stretch, slot) DO UPDATE SET sessions = c.sessions + excluded.sessions;
    END IF;
    RETURN NULL;
END;
$$;

-- TRUNCATE fires no row or transition-table trigger: empty the stretch counters too. TRUNCATE, not
-- DELETE: a history spread thin leaves millions of rows here, and this runs when everything goes.
CREATE FUNCTION forget_session_stretches() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    TRUNCATE session_counts_by_stretch;
    RETURN NULL;
END;
$$;

-- Triggers on one event fire in the order of their names: "counted_by_stretch_..." before
-- migration 0005's "counted_delete" and "counted_update", so the stretch rows are locked first, as
-- on INSERT.
CREATE TRIGGER study_sessions_counted_by_stretch_update AFTER UPDATE ON study_sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_changed_session_stretches();
CREATE TRIGGER study_sessions_counted_by_stretch_delete AFTER DELETE ON study_sessions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_changed_session_stretches();
CREATE TRIGGER study_sessions_counted_by_stretch_truncate AFTER TRUNCATE ON study_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION forget_session_stretches();

-- Folding. A stretch costs a read one row per slot that wrote in it: a history written steadily
-- through 16 connections (200,000 sessions over 30 days) made session_list_start(99,900) take
-- 2.2 ms against 0.65 ms for one slot. Once a stretch has ended nobody but an edit by hand writes
-- in it, so each server process calls fold_session_stretches() every minute: the stretches that
-- ended since the last fold (session_stretches_folded.until_second) get their rows folded into
-- one (slot 0), and stretches whose rows sum to 0 (a delete's signed changes) are dropped. Exact
-- under concurrent writes: the rows are locked in key order (as writers lock them), and each row
-- deleted hands its count, as deleted, to slot 0 in the same statement; a writer that comes to a
-- deleted row inserts a new one. One process folds at a time (the marker row, locked SKIP
-- LOCKED); a stretch is folded once, when it has ended, so a stretch written by hand after that
-- keeps its extra rows. A run folds at most six hours of stretches (about 350,000 rows written
-- through 16 connections: 1.4 s), so a backlog is caught up run by run within the statement
-- timeout, and waits at most a second for a row lock (a transaction writing old stretches by
-- hand, in another order): the next run tries again.
CREATE TABLE session_stretches_folded (
    only_row     boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    until_second bigint  NOT NULL
);
-- The history counted above is in slot 0 already: one row per stretch.
INSERT INTO session_stretches_folded (until_second) VALUES (epoch_second(now()));

-- Folds the stretches that ended from the last fold up to the second `settled` (callers leave the
-- last minutes alone), six hours of them at most; returns the rows removed, or NULL when another
-- transaction is folding. A missing marker row is made again (from now on).
CREATE FUNCTION fold_session_stretches(settled bigint) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    since bigint;
    lowest bigint;
    highest bigint;
    removed bigint := 0;
    gone bigint;
BEGIN
    SELECT until_second INTO since FROM session_stretches_folded FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        IF EXISTS (SELECT FROM session_stretches_folded) THEN
            RETURN NULL;
        END IF;
        INSERT INTO session_stretches_folded (until_second) VALUES (settled) ON CONFLICT DO NOTHING;
        RETURN 0;
    END IF;
    settled := least(settled, since + 21600);
    IF settled <= since THEN
        RETURN 0;
    END IF;
    PERFORM set_config('lock_timeout', '1s', true);
    FOR depth IN 0..3 LOOP
        lowest := since >> (8 * depth);
        highest := (settled >> (8 * depth)) - 1;
        CONTINUE WHEN lowest > highest;

        PERFORM
        FROM session_counts_by_stretch AS c
        WHERE c.level = depth AND c.stretch BETWEEN lowest AND highest
            AND c.stretch IN (
                SELECT stretch FROM session_counts_by_stretch
                WHERE level = depth AND stretch BETWEEN lowest AND highest
                GROUP BY stretch
                HAVING count(*) > 1 OR sum(sessions) = 0
            )
        ORDER BY c.level, c.stretch, c.slot
        FOR UPDATE OF c;

        WITH moved AS (
            DELETE FROM session_counts_by_stretch AS c
            WHERE c.level = depth AND c.stretch BETWEEN lowest AND highest AND c.slot <> 0
                AND c.stretch IN (
                    SELECT stretch FROM session_counts_by_stretch
                    WHERE level = depth AND stretch BETWEEN lowest AND highest
                    GROUP BY stretch
                    HAVING count(*) > 1 OR sum(sessions) = 0
                )
            RETURNING c.stretch, c.sessions
        ), folded AS (
            INSERT INTO session_counts_by_stretch AS c (level, stretch, slot, sessions)
            SELECT depth, moved.stretch, 0, sum(moved.sessions) FROM moved GROUP BY moved.stretch ORDER BY 2
            ON CONFLICT (level, stretch, slot) DO UPDATE SET sessions = c.sessions + excluded.sessions
        )
        SELECT count(*) INTO gone FROM moved;
        removed := removed + gone;

        DELETE FROM session_counts_by_stretch AS c
        WHERE c.level = depth AND c.stretch BETWEEN lowest AND highest AND c.slot = 0 AND c.sessions = 0
            AND NOT EXISTS (
                SELECT FROM session_counts_by_stretch AS other
                WHERE other.level = c.level AND other.stretch = c.stretch AND other.slot <> 0
            );
        GET DIAGNOSTICS gone = ROW_COUNT;
        removed := removed + gone;
    END LOOP;
    UPDATE session_stretches_folded SET until_second = settled;
    RETURN removed;
END;
$$;

-- Where a page k sessions down the list of every session starts: the end of the second that holds
-- its first session (before: the page is read from the sessions created before it) and how many
-- sessions of that second come first (skip: its OFFSET). With no session k (k >= the number of
-- sessions), before is '-infinity', before which there is nothing. STABLE: it reads with the
-- snapshot of the statement that calls it, so the counts and the sessions that statement reads
-- agree. The end of a second is exact: to_timestamp() takes a double, exact for every second up to
-- the year 9999 (the CHECK below).
CREATE FUNCTION session_list_start(skipped bigint, OUT before timestamptz, OUT skip bigint)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    lowest bigint := -9223372036854775808;
    highest bigint := 9223372036854775807;
    found_stretch bigint;
    newer bigint;
BEGIN
    FOR depth IN REVERSE 3..0 LOOP
        SELECT running.stretch, running.newer INTO found_stretch, newer
        FROM (
            SELECT
                per_stretch.stretch,
                sum(per_stretch.sessions) OVER newest_first - per_stretch.sessions AS newer,
                sum(per_stretch.sessions) OVER newest_first AS through
            FROM (
                SELECT c.stretch, sum(c.sessions) AS sessions
                FROM session_counts_by_stretch AS c
                WHERE c.level = depth AND c.stretch BETWEEN lowest AND highest
                GROUP BY c.stretch
            ) AS per_stretch
            WINDOW newest_first AS (ORDER BY per_stretch.stretch DESC ROWS UNBOUNDED PRECEDING)
        ) AS running
        WHERE running.through > skipped
        ORDER BY running.stretch DESC
        LIMIT 1;
        IF NOT FOUND THEN
            before := '-infinity';
            skip := 0;
            RETURN;
        END IF;
        skipped := skipped - newer;
        lowest := found_stretch << 8;
        highest := lowest + 255;
    END LOOP;
    before := to_timestamp(found_stretch + 1);
    skip := skipped;
END;
$$;

-- The history already there, counted once (into slot 0).
INSERT INTO session_counts_by_stretch (level, stretch, slot, sessions)
SELECT depth, per_second.second >> (8 * depth), 0, sum(per_second.n)
FROM (SELECT epoch_second(created_at) AS second, count(*) AS n FROM study_sessions GROUP BY 1) AS per_second
CROSS JOIN generate_series(0, 3) AS depth
GROUP BY 1, 2;

-- A session starts between the years 1 and 9999 (UTC), the times the server can show
-- (Python's datetime): 'infinity' has no second to be counted in, and after the year 9999 the
-- end of a second would not be exact as a double. Added last: its ACCESS EXCLUSIVE lock is held
-- to the end of this migration's transaction, and reads need not wait for the backfill above.
ALTER TABLE study_sessions ADD CONSTRAINT study_sessions_created_at_in_range
    CHECK (created_at >= '0001-01-01 00:00:00+00' AND created_at < '10000-01-01 00:00:00+00');
