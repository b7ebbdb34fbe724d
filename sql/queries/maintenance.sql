-- Upkeep: the statements behind portaldb/maintenance.py.

-- name: fold_target
-- The second a run of the fold folds up to: five minutes ago by the database's clock (the
-- stretches that ended before it are left alone by writers, but for edits by hand). Read once a
-- run, so that a run's pieces aim at one second and the run ends once it is reached.
SELECT epoch_second(now()) - 300;

-- name: fold_session_stretches
-- One piece of a run: the stretch counts of every stretch that ended since the last fold and
-- before the second $1, $2 seconds of them at most, folded into one row each (migrations 0008 and
-- 0009); the rows removed and the second the fold has reached, both NULL when another process is
-- folding. Run every minute by every server process (langportal/serving.py), piece after piece
-- while behind.
SELECT removed, folded_until FROM fold_session_stretches($1::bigint, $2::bigint);
