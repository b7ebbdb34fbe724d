-- The orders a group's list of sessions can be sorted in by the course's frontend
-- (GET /groups/{id}/study_sessions?sort_by=...; handlers/course.py), each served by an index, so a
-- page costs the same with a group of ten sessions or of a million:
--
--   start time        study_sessions_group_id_created_at_idx (migration 0004), as before
--   id, group name    study_sessions_group_id_id_idx (all of a group's sessions share its name)
--   activity name     study_sessions_group_id_activity_idx, one activity after another
--                     (group_sessions_by_activity())
--   review count      session_review_stats_by_count
--   end time          session_review_stats_by_end (the last review's time, or the start)
--
-- How many reviews a session holds and when its last one was change after the session starts, so
-- they live in a narrow table of their own, one row per session, kept exact by triggers in the
-- same transaction as every write to the sessions and the reviews (as the counters of migration
-- 0005 are): an answer updates one narrow row and its three index entries, not a row of
-- study_sessions and its six. The sessions' own two new indexes only ever take inserts.
--
-- Locks: an answer batch locks the rows of its sessions in id order before updating them, so two
-- batches that share sessions wait for each other and never deadlock. No foreign key: a TRUNCATE of
-- the history is never refused because of this table, and its TRUNCATE trigger empties it.

-- end_time is coalesce(last_review_at, started_at), kept beside them (every write below sets it) so
-- that its index holds it as a column: a page by end time is then an index-only scan, as a page by
-- review count is (an index on the expression would visit the table for every entry it skips).
CREATE TABLE session_review_stats (
    study_session_id   integer PRIMARY KEY,
    group_id           integer NOT NULL,
    started_at         timestamptz NOT NULL,
    last_review_at     timestamptz,
    end_time           timestamptz NOT NULL,
    review_items_count bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 70);

INSERT INTO session_review_stats
    (study_session_id, group_id, started_at, last_review_at, end_time, review_items_count)
SELECT s.id, s.group_id, s.created_at, r.last_review_at, coalesce(r.last_review_at, s.created_at),
    coalesce(r.reviews, 0)
FROM study_sessions AS s
LEFT JOIN (
    SELECT study_session_id, max(created_at) AS last_review_at, count(*) AS reviews
    FROM word_review_items
    GROUP BY study_session_id
) AS r ON r.study_session_id = s.id;

CREATE INDEX session_review_stats_by_count
    ON session_review_stats (group_id, review_items_count, study_session_id);
CREATE INDEX session_review_stats_by_end ON session_review_stats (group_id, end_time, study_session_id);

CREATE INDEX study_sessions_group_id_id_idx ON study_sessions (group_id, id);
CREATE INDEX study_sessions_group_id_activity_idx
    ON study_sessions (group_id, study_activity_id, created_at DESC, id DESC);

-- The exact stats of the given sessions that still exist, written over whatever their rows hold.
-- Used where rows of the history change other than by an INSERT of reviews (rare: resets,
-- cascades, edits by hand).
CREATE FUNCTION recount_session_review_stats(ids integer[]) RETURNS void
LANGUAGE sql
AS $$
    DELETE FROM session_review_stats AS st
    WHERE st.study_session_id = ANY (ids)
        AND NOT EXISTS (SELECT FROM study_sessions AS s WHERE s.id = st.study_session_id);
    -- the rows to change, locked in id order as the INSERT trigger does
    SELECT count(*) FROM (
        SELECT FROM session_review_stats
        WHERE study_session_id = ANY (ids)
        ORDER BY study_session_id
        FOR NO KEY UPDATE
    ) AS locked;
    INSERT INTO session_review_stats AS st
        (study_session_id, group_id, started_at, last_review_at, end_time, review_items_count)
    SELECT s.id, s.group_id, s.created_at, r.last_review_at, coalesce(r.last_review_at, s.created_at),
        r.reviews
    FROM study_sessions AS s
    CROSS JOIN LATERAL (
        SELECT max(created_at) AS last_review_at, count(*) AS reviews
        FROM word_review_items
        WHERE study_session_id = s.id
    ) AS r
    WHERE s.id = ANY (ids)
    ORDER BY s.id
    ON CONFLICT (study_session_id) DO UPDATE
    SET group_id = excluded.group_id,
        started_at = excluded.started_at,
        last_review_at = excluded.last_review_at,
        end_time = excluded.end_time,
        review_items_count = excluded.review_items_count;
$$;

CREATE FUNCTION add_session_review_stats() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    -- a session is inserted before any review can name it (the reviews' foreign key)
    INSERT INTO session_review_stats (study_session_id, group_id, started_at, end_time)
    SELECT id, group_id, created_at, created_at FROM new_rows;
    RETURN NULL;
END;
$$;

CREATE FUNCTION count_session_reviews() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    -- Several sessions: their rows locked in id order first (one needs no order).
    IF (SELECT count(DISTINCT study_session_id) FROM new_rows) > 1 THEN
        PERFORM FROM session_review_stats
        WHERE study_session_id IN (SELECT study_session_id FROM new_rows)
        ORDER BY study_session_id
        FOR NO KEY UPDATE;
    END IF;
    UPDATE session_review_stats AS st
    SET review_items_count = st.review_items_count + added.reviews,
        last_review_at = greatest(st.last_review_at, added.last_review_at),
        end_time = coalesce(greatest(st.last_review_at, added.last_review_at), st.started_at)
    FROM (
        SELECT study_session_id, count(*) AS reviews, max(created_at) AS last_review_at
        FROM new_rows
        GROUP BY study_session_id
    ) AS added
    WHERE st.study_session_id = added.study_session_id;
    RETURN NULL;
END;
$$;

CREATE FUNCTION recount_changed_session_reviews() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM recount_session_review_stats(ARRAY(
            SELECT study_session_id FROM old_rows UNION SELECT study_session_id FROM new_rows
        ));
    ELSE
        PERFORM recount_session_review_stats(ARRAY(SELECT DISTINCT study_session_id FROM old_rows));
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION recount_changed_sessions() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM recount_session_review_stats(ARRAY(SELECT id FROM old_rows UNION SELECT id FROM new_rows));
    ELSE
        DELETE FROM session_review_stats WHERE study_session_id IN (SELECT id FROM old_rows);
    END IF;
    RETURN NULL;
END;
$$;

-- TRUNCATE fires no row triggers. The sessions truncated: nothing is left to describe. The reviews
-- alone: every session is back to none (when the sessions went in the same TRUNCATE, as in a
-- reset of the history, there is no session left to update).
CREATE FUNCTION forget_session_review_stats() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_TABLE_NAME = 'study_sessions' THEN
        TRUNCATE session_review_stats;
    ELSIF EXISTS (SELECT FROM study_sessions) THEN
        UPDATE session_review_stats
        SET review_items_count = 0, last_review_at = NULL, end_time = started_at
        WHERE review_items_count <> 0 OR last_review_at IS NOT NULL;
    END IF;
    RETURN NULL;
END;
$$;

-- A page of group the_group's sessions in the order of their activities' names, each activity's
-- sessions by start (both descending when `descending`): page_size ids after `skipped` sessions.
-- Activity after activity in name order, each one's sessions along
-- study_sessions_group_id_activity_idx, so nothing is sorted. An activity that lies wholly before
-- the page is skipped by counting its sessions, at most as many as are still to skip (an
-- index-only count), so a page costs what an OFFSET as deep costs in the other orders. STABLE: it
-- reads in the snapshot of the statement calling it.
CREATE FUNCTION group_sessions_by_activity(
    the_group integer, descending boolean, page_size bigint, skipped bigint
) RETURNS TABLE (id integer)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    activity integer;
    here bigint;
    taken bigint;
    wanted bigint := page_size;
    skip bigint := skipped;
BEGIN
    FOR activity IN
        SELECT a.id FROM study_activities AS a
        ORDER BY CASE WHEN descending THEN a.name END DESC, CASE WHEN NOT descending THEN a.name END
    LOOP
        EXIT WHEN wanted <= 0;
        IF skip > 0 THEN
            SELECT count(*) INTO here FROM (
                SELECT FROM study_sessions AS s
                WHERE s.group_id = the_group AND s.study_activity_id = activity
                LIMIT skip
            ) AS counted;
            IF here < skip THEN
                skip := skip - here;
                CONTINUE;
            END IF;
        END IF;
        IF descending THEN
            RETURN QUERY
                SELECT s.id FROM study_sessions AS s
                WHERE s.group_id = the_group AND s.study_activity_id = activity
                ORDER BY s.created_at DESC, s.id DESC
                LIMIT wanted OFFSET skip;
        ELSE
            RETURN QUERY
                SELECT s.id FROM study_sessions AS s
                WHERE s.group_id = the_group AND s.study_activity_id = activity
                ORDER BY s.created_at, s.id
                LIMIT wanted OFFSET skip;
        END IF;
        GET DIAGNOSTICS taken = ROW_COUNT;
        wanted := wanted - taken;
        skip := 0;
    END LOOP;
END;
$$;

CREATE TRIGGER study_sessions_review_stats_insert AFTER INSERT ON study_sessions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION add_session_review_stats();
CREATE TRIGGER study_sessions_review_stats_update AFTER UPDATE ON study_sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION recount_changed_sessions();
CREATE TRIGGER study_sessions_review_stats_delete AFTER DELETE ON study_sessions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION recount_changed_sessions();
CREATE TRIGGER study_sessions_review_stats_truncate AFTER TRUNCATE ON study_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION forget_session_review_stats();

CREATE TRIGGER word_review_items_review_stats_insert AFTER INSERT ON word_review_items
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_session_reviews();
CREATE TRIGGER word_review_items_review_stats_update AFTER UPDATE ON word_review_items
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION recount_changed_session_reviews();
CREATE TRIGGER word_review_items_review_stats_delete AFTER DELETE ON word_review_items
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION recount_changed_session_reviews();
CREATE TRIGGER word_review_items_review_stats_truncate AFTER TRUNCATE ON word_review_items
    FOR EACH STATEMENT EXECUTE FUNCTION forget_session_review_stats();
