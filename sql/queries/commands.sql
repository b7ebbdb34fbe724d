-- The commands besides serving (langportal/commands.py): backup, restore, psql.

-- name: user_relations
-- Tables, views, sequences... outside PostgreSQL's own schemas: none means an empty database,
-- which `restore` may load a backup into without --replace.
SELECT count(*)::int
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE 'pg\_temp\_%';
