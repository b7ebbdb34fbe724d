-- Test-only SQL of tests/test_faults.py: make the real database raise a chosen SQLSTATE, the way
-- it does when its disk is full or it is out of memory, while the rest of the stack stays real.

-- name: install_fault
-- The fault to raise (none while the table is empty), a trigger raising it on every insert into
-- study_sessions, and an event trigger raising it on CREATE TABLE (the readiness probe's write).
CREATE TABLE test_fault (sqlstate text NOT NULL, message text NOT NULL);
CREATE FUNCTION test_fault_raise() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    f record;
BEGIN
    SELECT * INTO f FROM test_fault LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = f.sqlstate, MESSAGE = f.message;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER test_fault BEFORE INSERT ON study_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION test_fault_raise();
CREATE FUNCTION test_fault_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
    f record;
BEGIN
    SELECT * INTO f FROM test_fault LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = f.sqlstate, MESSAGE = f.message;
    END IF;
END
$$;
CREATE EVENT TRIGGER test_fault_ddl ON ddl_command_start WHEN TAG IN ('CREATE TABLE')
    EXECUTE FUNCTION test_fault_ddl();

-- name: remove_fault
DROP EVENT TRIGGER IF EXISTS test_fault_ddl;
DROP FUNCTION IF EXISTS test_fault_ddl();
DROP TRIGGER IF EXISTS test_fault ON study_sessions;
DROP FUNCTION IF EXISTS test_fault_raise();
DROP TABLE IF EXISTS test_fault;

-- name: set_fault
INSERT INTO test_fault (sqlstate, message) VALUES ($1, $2);

-- name: clear_fault
DELETE FROM test_fault;

-- name: switch_wal
-- Start a new WAL segment (tests/test_disk_full.py: on a full disk it cannot be created).
SELECT pg_switch_wal();
