-- Bookkeeping for portaldb/migrations.py: which numbered migrations this database has.

-- name: lock_migrations
SELECT pg_advisory_lock($1);

-- name: unlock_migrations
SELECT pg_advisory_unlock($1);

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
