-- Readiness (GET /readyz): the database answers, and can write.

-- name: readiness_write_probe
-- Can the database store data now? A new relation file extended by a page: what fails first when
-- its disk is full (DiskFullError, 53100), or when it is out of memory or at a configured limit.
-- A temporary table, in a transaction the caller rolls back: nothing is kept, nothing is logged
-- to the WAL but the catalog rows, and no other session sees it.
CREATE TEMPORARY TABLE readiness_probe (filler text) ON COMMIT DROP;
INSERT INTO readiness_probe VALUES ('ready');
