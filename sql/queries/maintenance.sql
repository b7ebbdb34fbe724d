-- Upkeep: the statements behind portaldb/maintenance.py.

-- name: fold_session_stretches
-- The stretch counts of every stretch that ended more than five minutes ago and since the last
-- fold, folded into one row each (migration 0008); the rows removed, NULL when another process
-- is folding. Run every minute by every server process (langportal/serving.py).
SELECT fold_session_stretches(epoch_second(now()) - 300);
