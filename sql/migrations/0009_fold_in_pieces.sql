-- The fold of the stretch counts (migration 0008) in pieces the caller sizes, so that it always
-- advances. A run of 0008 folded up to six hours of stretches in one statement; a run cut off by
-- the statement timeout (a short --statement-timeout, many writers' rows) or by its lock timeout
-- rolled back, and the next run tried the very same six hours: once six hours of rows took longer
-- than the timeout, the fold never advanced again while unfolded rows piled up.
--
-- Now the caller says how many seconds of stretches a run may fold (span, six hours at most) and
-- gets back the second the fold has reached, so that it can fold piece after piece while it is
-- behind. portaldb/maintenance.py halves the span after a run the statement timeout or a lock
-- timeout cut off, down to one second, and doubles it after a run that fit. One second is certain
-- to fit: at most one stretch of each level ends in it, one row a slot (64) each. Each run is its
-- own transaction, so what a piece folded stays folded whatever happens to the next one.
--
-- And without nested loops. 0008's statements found the stretches to fold with
-- `stretch IN (SELECT ... GROUP BY stretch HAVING ...)`. Where PostgreSQL expected few rows in the
-- window it joined the two sides in a nested loop, aggregating the whole window once for each of
-- its rows: quadratic. It expects few with the counts' table never analyzed (six hours of 40,000
-- rows written through 4 connections: 450 s instead of 0.2 s), and with the generic plan a
-- connection settles on after a few runs of the function (the server's runs, a minute of
-- stretches each), which guesses the rows of a window without knowing its bounds: after ten such
-- runs, 20,000 rows of an analyzed table took 53 s. The function now runs with
-- enable_nestloop off (hash or merge joins, linear in the rows of the window: 0.06 s for those
-- 20,000 rows, 0.9 s for 350,000), and the check for rows of a stretch left in other slots reads
-- the window only (as a hash join it would otherwise read every row of the level).
--
-- Nothing else changes: the marker row taken SKIP LOCKED (one process folds at a time; a reset of
-- the history holds it off), the rows locked in key order before they are folded, each row deleted
-- handing its count to slot 0 in the same statement, a stretch folded once, when it has ended, and
-- a lock waited for a second at most.

-- Folds the stretches that ended from the last fold up to the second `settled` (callers leave the
-- last minutes alone), `span` seconds of them at most (six hours at most). removed: the rows
-- removed; folded_until: the second the fold has now reached (>= settled once caught up). Both
-- NULL when another transaction is folding. A missing marker row is made again (from `settled`).
CREATE FUNCTION fold_session_stretches(
    settled bigint, span bigint, OUT removed bigint, OUT folded_until bigint
)
LANGUAGE plpgsql
SET enable_nestloop = off
AS $$
DECLARE
    since bigint;
    lowest bigint;
    highest bigint;
    gone bigint;
BEGIN
    IF span IS NULL OR span < 1 THEN
        RAISE EXCEPTION 'fold_session_stretches: a span of % second(s); it must be 1 or more', span
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT until_second INTO since FROM session_stretches_folded FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        IF EXISTS (SELECT FROM session_stretches_folded) THEN
            RETURN;
        END IF;
        INSERT INTO session_stretches_folded (until_second) VALUES (settled) ON CONFLICT DO NOTHING;
        IF FOUND THEN
            removed := 0;
            folded_until := settled;
        END IF;
        RETURN;
    END IF;
    settled := least(settled, since + least(span, 21600));
    removed := 0;
    IF settled <= since THEN
        folded_until := since;
        RETURN;
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
                WHERE other.level = depth AND other.stretch BETWEEN lowest AND highest
                    AND other.stretch = c.stretch AND other.slot <> 0
            );
        GET DIAGNOSTICS gone = ROW_COUNT;
        removed := removed + gone;
    END LOOP;
    UPDATE session_stretches_folded SET until_second = settled;
    folded_until := settled;
END;
$$;

-- Migration 0008's call, as it was: six hours at most; the rows removed, NULL when another
-- transaction is folding.
CREATE OR REPLACE FUNCTION fold_session_stretches(settled bigint) RETURNS bigint
LANGUAGE sql
AS $$
    SELECT f.removed FROM fold_session_stretches(settled, 21600) AS f
$$;
