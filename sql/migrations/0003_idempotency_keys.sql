-- Idempotency keys of POST requests (the Idempotency-Key header): the first request with a key
-- stores its answer here, in the same transaction as its work; a retry with the same key gets that
-- answer back instead of doing the work again. Rows expire (expires_at) and are purged by the server.

CREATE TABLE idempotency_keys (
    key         text PRIMARY KEY,
    fingerprint text NOT NULL,         -- sha256 of the method, path and canonical JSON body
    status      smallint,              -- the stored answer; set in the claiming transaction
    body        text,                  -- the answer's body, exactly as it was sent
    headers     jsonb,                 -- the answer's own headers (e.g. Location)
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
