-- Counters of the history (sessions and reviews), so that no read scans it: per group and per
-- study activity (sessions), per word (right and wrong answers), totals (sessions, reviews, right
-- answers), and the days with a session (for the streak). Triggers keep them exact in the same
-- transaction as every write that changes the history: INSERT, UPDATE and DELETE (one statement-
-- level trigger each, reading the statement's transition table, so a batch of 500 sessions is one
-- increment per counter) and TRUNCATE (which fires no row triggers: it empties the counters).
--
-- Hot rows: every launch and every review would update the same totals row, and every commit
-- holds that row's lock until it is flushed, so writers would queue on it. Counters are striped:
-- each has 64 slots and a writer adds to the slot of its connection (counter_slot(), the backend's
-- pid modulo 64), so concurrent connections update different rows; a read sums the slots.
--
-- The counter tables have no foreign keys, so a TRUNCATE of the portal's tables (tests, the bench,
-- POST /api/full_reset) is never refused because of them.

CREATE FUNCTION counter_slot() RETURNS smallint
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT (pg_backend_pid() % 64)::smallint $$;

-- The UTC date of a moment: the day a session counts for in the streak.
CREATE FUNCTION utc_day(moment timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (moment AT TIME ZONE 'UTC')::date $$;

CREATE TABLE history_totals (
    slot            smallint PRIMARY KEY,
    sessions        bigint NOT NULL DEFAULT 0,
    reviews         bigint NOT NULL DEFAULT 0,
    correct_reviews bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 50);
INSERT INTO history_totals (slot) SELECT generate_series(0, 63);

CREATE TABLE session_counts_by_group (
    group_id integer NOT NULL,
    slot     smallint NOT NULL,
    sessions bigint NOT NULL,
    PRIMARY KEY (group_id, slot)
) WITH (fillfactor = 50);

CREATE TABLE session_counts_by_activity (
    study_activity_id integer NOT NULL,
    slot              smallint NOT NULL,
    sessions          bigint NOT NULL,
    PRIMARY KEY (study_activity_id, slot)
) WITH (fillfactor = 50);

CREATE TABLE review_counts_by_word (
    word_id       integer NOT NULL,
    slot          smallint NOT NULL,
    correct_count bigint NOT NULL,
    wrong_count   bigint NOT NULL,
    PRIMARY KEY (word_id, slot)
) WITH (fillfactor = 50);

-- One row per UTC day with at least one session; run_start is the first day of the run of
-- consecutive such days that the day belongs to, so the streak is read from the newest row alone.
CREATE TABLE study_days (
    day       date PRIMARY KEY,
    run_start date NOT NULL
);

-- Per word, its right and wrong answers over all sessions (summed over the slots); a word never
-- reviewed has no row.
CREATE VIEW word_review_counts AS
SELECT word_id, sum(correct_count)::bigint AS correct_count, sum(wrong_count)::bigint AS wrong_count
FROM review_counts_by_word
GROUP BY word_id;

-- Recompute run_start for every day from day `since` on, which must be the first day of a run (or
-- a day with no study day before it): consecutive days share day - row number.
CREATE FUNCTION renumber_study_days(since date) RETURNS void
LANGUAGE sql
AS $$
    UPDATE study_days AS d
    SET run_start = runs.run_start
    FROM (
        SELECT day, min(day) OVER (PARTITION BY day - ordinal) AS run_start
        FROM (
            SELECT day, (row_number() OVER (ORDER BY day))::integer AS ordinal
            FROM study_days
            WHERE day >= since
        ) AS numbered
    ) AS runs
    WHERE d.day = runs.day AND d.run_start <> runs.run_start;
$$;

-- Days that gained sessions: each existing day row is locked FOR KEY SHARE (as a foreign key
-- would), so a concurrent delete cannot remove it under this transaction; missing days are added
-- under a transaction-level advisory lock (taken only then: once per new day), and the runs after
-- them renumbered.
CREATE FUNCTION add_study_days(days date[]) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    missing date[];
    since date;
BEGIN
    SELECT array_agg(d ORDER BY d) INTO missing
    FROM unnest(days) AS d
    WHERE NOT EXISTS (SELECT FROM study_days AS s WHERE s.day = d FOR KEY SHARE);
    IF missing IS NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('langportal.study_days'));
    INSERT INTO study_days (day, run_start)
    SELECT d, d FROM unnest(missing) AS d ORDER BY d
    ON CONFLICT (day) DO NOTHING;
    SELECT coalesce((SELECT run_start FROM study_days WHERE day = missing[1] - 1), missing[1]) INTO since;
    PERFORM renumber_study_days(since);
END;
$$;

-- Days that lost sessions: under the advisory lock (taken first, so that a writer adding a day
-- never waits for a row this function holds), each is locked FOR UPDATE (waiting for writers that
-- hold it FOR KEY SHARE to finish), then removed if no session is left on it, and the runs after
-- it renumbered.
CREATE FUNCTION remove_study_days(days date[]) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    locked date[];
    empty date[];
    since date;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('langportal.study_days'));
    SELECT array_agg(s.day ORDER BY s.day) INTO locked
    FROM (SELECT day FROM study_days WHERE day = ANY (days) ORDER BY day FOR UPDATE) AS s;
    IF locked IS NULL THEN
        RETURN;
    END IF;
    SELECT array_agg(d ORDER BY d) INTO empty
    FROM unnest(locked) AS d
    WHERE NOT EXISTS (
        SELECT FROM study_sessions AS s
        WHERE s.created_at >= d::timestamp AT TIME ZONE 'UTC'
            AND s.created_at < (d + 1)::timestamp AT TIME ZONE 'UTC'
    );
    IF empty IS NULL THEN
        RETURN;
    END IF;
    SELECT min(run_start) INTO since FROM study_days WHERE day = ANY (empty);
    DELETE FROM study_days WHERE day = ANY (empty);
    PERFORM renumber_study_days(since);
END;
$$;

-- Add the signed changes (one entry per group, activity and day touched; n is +count or -count)
-- to the session counters of this connection's slot, rows in key order (no deadlocks).
CREATE FUNCTION apply_session_changes(
    group_ids integer[], activity_ids integer[], days date[], deltas bigint[]
) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    slot_now smallint := counter_slot();
    added date[];
    removed date[];
BEGIN
    INSERT INTO session_counts_by_group AS c (group_id, slot, sessions)
    SELECT g, slot_now, sum(n) FROM unnest(group_ids, deltas) AS u (g, n)
    GROUP BY g HAVING sum(n) <> 0 ORDER BY g
    ON CONFLICT (group_id, slot) DO UPDATE SET sessions = c.sessions + excluded.sessions;

    INSERT INTO session_counts_by_activity AS c (study_activity_id, slot, sessions)
    SELECT a, slot_now, sum(n) FROM unnest(activity_ids, deltas) AS u (a, n)
    GROUP BY a HAVING sum(n) <> 0 ORDER BY a
    ON CONFLICT (study_activity_id, slot) DO UPDATE SET sessions = c.sessions + excluded.sessions;

    UPDATE history_totals SET sessions = sessions + (SELECT sum(n) FROM unnest(deltas) AS n)
    WHERE slot = slot_now;

    SELECT array_agg(DISTINCT d) FILTER (WHERE n > 0), array_agg(DISTINCT d) FILTER (WHERE n < 0)
    INTO added, removed
    FROM unnest(days, deltas) AS u (d, n);
    IF removed IS NOT NULL THEN
        PERFORM remove_study_days(removed);
    END IF;
    IF added IS NOT NULL THEN
        PERFORM add_study_days(added);
    END IF;
END;
$$;

CREATE FUNCTION count_study_sessions() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    group_ids integer[];
    activity_ids integer[];
    days date[];
    deltas bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(group_id), array_agg(study_activity_id), array_agg(day), array_agg(n)
        INTO group_ids, activity_ids, days, deltas
        FROM (
            SELECT group_id, study_activity_id, utc_day(created_at) AS day, count(*) AS n
            FROM new_rows GROUP BY 1, 2, 3
        ) AS changes;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(group_id), array_agg(study_activity_id), array_agg(day), array_agg(n)
        INTO group_ids, activity_ids, days, deltas
        FROM (
            SELECT group_id, study_activity_id, utc_day(created_at) AS day, -count(*) AS n
            FROM old_rows GROUP BY 1, 2, 3
        ) AS changes;
    ELSE
        SELECT array_agg(group_id), array_agg(study_activity_id), array_agg(day), array_agg(n)
        INTO group_ids, activity_ids, days, deltas
        FROM (
            SELECT group_id, study_activity_id, day, sum(n) AS n
            FROM (
                SELECT group_id, study_activity_id, utc_day(created_at) AS day, 1 AS n FROM new_rows
                UNION ALL
                SELECT group_id, study_activity_id, utc_day(created_at) AS day, -1 AS n FROM old_rows
            ) AS both_sides
            GROUP BY 1, 2, 3
            HAVING sum(n) <> 0
        ) AS changes;
    END IF;
    IF deltas IS NOT NULL THEN
        PERFORM apply_session_changes(group_ids, activity_ids, days, deltas);
    END IF;
    RETURN NULL;
END;
$$;

-- Add the signed changes per word to the review counters of this connection's slot.
CREATE FUNCTION apply_review_changes(word_ids integer[], corrects bigint[], wrongs bigint[]) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    slot_now smallint := counter_slot();
BEGIN
    INSERT INTO review_counts_by_word AS c (word_id, slot, correct_count, wrong_count)
    SELECT w, slot_now, sum(r), sum(x) FROM unnest(word_ids, corrects, wrongs) AS u (w, r, x)
    GROUP BY w ORDER BY w
    ON CONFLICT (word_id, slot) DO UPDATE
    SET correct_count = c.correct_count + excluded.correct_count,
        wrong_count = c.wrong_count + excluded.wrong_count;

    UPDATE history_totals
    SET reviews = reviews + changes.correct + changes.wrong,
        correct_reviews = correct_reviews + changes.correct
    FROM (SELECT sum(r) AS correct, sum(x) AS wrong FROM unnest(corrects, wrongs) AS u (r, x)) AS changes
    WHERE slot = slot_now;
END;
$$;

CREATE FUNCTION count_reviews() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    word_ids integer[];
    corrects bigint[];
    wrongs bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(word_id), array_agg(r), array_agg(x) INTO word_ids, corrects, wrongs
        FROM (
            SELECT word_id, count(*) FILTER (WHERE correct) AS r, count(*) FILTER (WHERE NOT correct) AS x
            FROM new_rows GROUP BY word_id
        ) AS changes;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(word_id), array_agg(r), array_agg(x) INTO word_ids, corrects, wrongs
        FROM (
            SELECT word_id, -count(*) FILTER (WHERE correct) AS r, -count(*) FILTER (WHERE NOT correct) AS x
            FROM old_rows GROUP BY word_id
        ) AS changes;
    ELSE
        SELECT array_agg(word_id), array_agg(r), array_agg(x) INTO word_ids, corrects, wrongs
        FROM (
            SELECT word_id, sum(r) AS r, sum(x) AS x
            FROM (
                SELECT word_id, (correct)::integer AS r, (NOT correct)::integer AS x FROM new_rows
                UNION ALL
                SELECT word_id, -(correct)::integer, -(NOT correct)::integer FROM old_rows
            ) AS both_sides
            GROUP BY word_id
            HAVING sum(r) <> 0 OR sum(x) <> 0
        ) AS changes;
    END IF;
    IF word_ids IS NOT NULL THEN
        PERFORM apply_review_changes(word_ids, corrects, wrongs);
    END IF;
    RETURN NULL;
END;
$$;

-- TRUNCATE fires no row or transition-table trigger: empty the counters it makes wrong.
CREATE FUNCTION forget_study_sessions() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM session_counts_by_group;
    DELETE FROM session_counts_by_activity;
    DELETE FROM study_days;
    UPDATE history_totals SET sessions = 0 WHERE sessions <> 0;
    RETURN NULL;
END;
$$;

CREATE FUNCTION forget_reviews() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM review_counts_by_word;
    UPDATE history_totals SET reviews = 0, correct_reviews = 0 WHERE reviews <> 0 OR correct_reviews <> 0;
    RETURN NULL;
END;
$$;

CREATE TRIGGER study_sessions_counted_insert AFTER INSERT ON study_sessions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_study_sessions();
CREATE TRIGGER study_sessions_counted_update AFTER UPDATE ON study_sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_study_sessions();
CREATE TRIGGER study_sessions_counted_delete AFTER DELETE ON study_sessions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_study_sessions();
CREATE TRIGGER study_sessions_counted_truncate AFTER TRUNCATE ON study_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION forget_study_sessions();

CREATE TRIGGER word_review_items_counted_insert AFTER INSERT ON word_review_items
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_reviews();
CREATE TRIGGER word_review_items_counted_update AFTER UPDATE ON word_review_items
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_reviews();
CREATE TRIGGER word_review_items_counted_delete AFTER DELETE ON word_review_items
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_reviews();
CREATE TRIGGER word_review_items_counted_truncate AFTER TRUNCATE ON word_review_items
    FOR EACH STATEMENT EXECUTE FUNCTION forget_reviews();

-- The history already there, counted once (into slot 0).
INSERT INTO session_counts_by_group (group_id, slot, sessions)
SELECT group_id, 0, count(*) FROM study_sessions GROUP BY group_id;
INSERT INTO session_counts_by_activity (study_activity_id, slot, sessions)
SELECT study_activity_id, 0, count(*) FROM study_sessions GROUP BY study_activity_id;
INSERT INTO review_counts_by_word (word_id, slot, correct_count, wrong_count)
SELECT word_id, 0, count(*) FILTER (WHERE correct), count(*) FILTER (WHERE NOT correct)
FROM word_review_items GROUP BY word_id;
UPDATE history_totals
SET sessions = (SELECT count(*) FROM study_sessions),
    reviews = (SELECT count(*) FROM word_review_items),
    correct_reviews = (SELECT count(*) FROM word_review_items WHERE correct)
WHERE slot = 0;
INSERT INTO study_days (day, run_start)
SELECT DISTINCT utc_day(created_at), utc_day(created_at) FROM study_sessions;
SELECT renumber_study_days('-infinity');

-- Words in the order a list asks for, one place for the sort rule of every word list (GET
-- /api/words, /api/groups/{id}/words, /api/study_sessions/{id}/words): candidates are the words
-- with their counts; sort_by is kanji, romaji, english, correct_count or wrong_count and
-- sort_order asc or desc (the schema words_query.json allows no other). Each CASE is NULL unless
-- its column and direction are the chosen ones, so exactly one of them orders the rows; ties (and
-- an unknown value) fall back to the word's id. ordinal numbers the words from 1 in that order.
CREATE TYPE word_with_counts AS (
    id            integer,
    kanji         text,
    romaji        text,
    english       text,
    parts         jsonb,
    correct_count bigint,
    wrong_count   bigint
);

CREATE FUNCTION sorted_words(candidates word_with_counts[], sort_by text, sort_order text)
RETURNS TABLE (
    id integer, kanji text, romaji text, english text, parts jsonb,
    correct_count bigint, wrong_count bigint, ordinal bigint
)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT
        c.id, c.kanji, c.romaji, c.english, c.parts, c.correct_count, c.wrong_count,
        row_number() OVER (
            ORDER BY
                CASE WHEN $3 = 'asc' THEN
                    CASE $2 WHEN 'kanji' THEN c.kanji WHEN 'romaji' THEN c.romaji
                            WHEN 'english' THEN c.english END
                END ASC,
                CASE WHEN $3 = 'desc' THEN
                    CASE $2 WHEN 'kanji' THEN c.kanji WHEN 'romaji' THEN c.romaji
                            WHEN 'english' THEN c.english END
                END DESC,
                CASE WHEN $3 = 'asc' THEN
                    CASE $2 WHEN 'correct_count' THEN c.correct_count
                            WHEN 'wrong_count' THEN c.wrong_count END
                END ASC,
                CASE WHEN $3 = 'desc' THEN
                    CASE $2 WHEN 'correct_count' THEN c.correct_count
                            WHEN 'wrong_count' THEN c.wrong_count END
                END DESC,
                c.id
        )
    FROM unnest($1) AS c
$$;
