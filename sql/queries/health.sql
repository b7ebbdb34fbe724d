-- Readiness (GET /readyz): the database answers a trivial statement.

-- name: ping
SELECT 1;
