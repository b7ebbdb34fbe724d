-- The failover test's and bench/failover.py's reads (tests/cluster_client.py), besides
-- tests/sql/fixtures.sql's.

-- name: study_sessions_after
-- Every session stored after the load began, with when it was stored: an acknowledged id whose
-- row now holds another time was handed out twice (a write lost with asynchronous replication,
-- its id given again by the promoted standby).
SELECT id, created_at FROM study_sessions WHERE id > $1;
