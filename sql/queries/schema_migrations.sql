-- Bookkeeping for portaldb/migrations.py: which numbered migrations this database has.

-- name: bound_migration_waits
-- $1: lock_timeout in milliseconds (every lock wait of this transaction, the migration lock's too).
-- No statement_timeout inside: a migration may take long, and the role's default (which a
-- transaction pooler setup sets, see set_role_timeouts) must not cut it off.
SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', '0', true);

-- name: try_lock_migrations
-- The migration lock is held by the one transaction that checks and applies everything, so it is
-- released at COMMIT or ROLLBACK on the server connection that took it, also behind a transaction
-- pooler (a session lock could be taken on one server connection and "released" on another).
SELECT pg_try_advisory_xact_lock($1);

-- name: lock_migrations
SELECT pg_advisory_xact_lock($1);

-- name: migration_lock_holder
-- Who holds the migration lock (for the message while waiting), if anyone still does.
SELECT a.pid, coalesce(nullif(a.application_name, ''), 'no application_name') AS application_name,
       coalesce(host(a.client_addr), 'local') AS client
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND (l.classid::bigint << 32 | l.objid::bigint) = $1
 LIMIT 1;

-- name: set_role_timeouts
-- Behind a transaction pooler the timeouts cannot be startup parameters or SET (session state the
-- pooler does not keep), so they become the defaults of this role in this database, which the
-- server applies to every server connection the pooler opens from now on; and to this server
-- connection (opened before) for the rest of its life. $1 statement_timeout, $2
-- idle_in_transaction_session_timeout, both in milliseconds. apply_role_timeouts also turns JIT
-- off for the role, as direct connections do at start (portaldb/pool.py NO_JIT says why).
SELECT set_config('langportal.statement_timeout', $1, true),
       set_config('langportal.idle_in_transaction_session_timeout', $2, true);

-- name: apply_role_timeouts
DO $$
BEGIN
    EXECUTE format('ALTER ROLE %I IN DATABASE %I SET statement_timeout = %L',
                   current_user, current_database(), current_setting('langportal.statement_timeout'));
    EXECUTE format('ALTER ROLE %I IN DATABASE %I SET idle_in_transaction_session_timeout = %L',
                   current_user, current_database(),
                   current_setting('langportal.idle_in_transaction_session_timeout'));
    EXECUTE format('ALTER ROLE %I IN DATABASE %I SET jit = off', current_user, current_database());
    PERFORM set_config('jit', 'off', false);
    PERFORM set_config('statement_timeout', current_setting('langportal.statement_timeout'), false);
    PERFORM set_config('idle_in_transaction_session_timeout',
                       current_setting('langportal.idle_in_transaction_session_timeout'), false);
END
$$;

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: applied_migrations
SELECT version, checksum FROM schema_migrations;

-- name: record_migration
INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3);

-- name: update_migration_checksum
-- A checksum recorded in the old form (over the whole file) rewritten in the current one.
UPDATE schema_migrations SET checksum = $2 WHERE version = $1;

-- name: has_catalogue
SELECT EXISTS (SELECT FROM groups) OR EXISTS (SELECT FROM study_activities);
