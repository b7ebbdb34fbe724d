-- Idempotency keys (portaldb/idempotency.py, for handlers/idempotency.py run_once_per_key):
-- claim a key, read or store its answer, purge expired keys.

-- name: claim_idempotency_key
-- Claims $1 for a request with fingerprint $2, kept $3 seconds. Returns the key when this
-- transaction now owns it (a new key, or an expired one taken over); no row when a live key exists.
-- A key claimed by a transaction still running makes this wait for it to end (bounded by
-- statement_timeout), so two requests racing with one key never both do the work.
INSERT INTO idempotency_keys (key, fingerprint, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
ON CONFLICT (key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint,
        status = NULL,
        body = NULL,
        headers = NULL,
        created_at = now(),
        expires_at = EXCLUDED.expires_at
    WHERE idempotency_keys.expires_at <= now()
RETURNING key;

-- name: find_idempotent_answer
SELECT fingerprint, status, body, headers FROM idempotency_keys WHERE key = $1;

-- name: store_idempotent_answer
UPDATE idempotency_keys SET status = $2, body = $3, headers = $4 WHERE key = $1;

-- name: purge_expired_idempotency_keys
DELETE FROM idempotency_keys WHERE expires_at <= now();
