-- Facts about the database server itself, checked at start.

-- name: max_connections
SELECT current_setting('max_connections')::int;
