-- `langportal restore --replace`: drop every object of the portal before the backup is loaded.
-- Run by psql in the same transaction as the restore itself, so a restore that fails leaves the
-- database as it was. Everything the portal creates lives in the public schema (sql/migrations).
DROP SCHEMA IF EXISTS public CASCADE;
CREATE SCHEMA public;
