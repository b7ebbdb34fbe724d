"""Database plumbing for the portal: the pool, migrations, the embedded server, named SQL.

The lowest floor of the project: it knows nothing of HTTP.
"""

from .batch import Batcher, BatchSendTimeout, BatchWaitTimeout, Lane
from .embedded import EmbeddedPostgres, EmbeddedPostgresError
from .faults import DatabaseHealth, Fault, classify, reason_of
from .idempotency import purge_idempotency_keys
from .maintenance import FOLD_SECONDS, fold_session_stretches
from .migrations import MigrationError, migrate, restore_demo
from .pool import (
    POOLER_MODES,
    UNAVAILABLE_ERRORS,
    Connection,
    connect_options,
    connection_is_suspect,
    create_pool,
    discard,
    is_unavailable,
    raised_by_the_driver,
    redact,
    statement_timeouts,
)
from .queries import Queries
from .queries import load as load_queries
from .resets import reset_history
from .shared import SharedReads
from .watchdog import Watchdog, watch

__all__ = [
    "FOLD_SECONDS",
    "POOLER_MODES",
    "UNAVAILABLE_ERRORS",
    "BatchSendTimeout",
    "BatchWaitTimeout",
    "Batcher",
    "Connection",
    "DatabaseHealth",
    "EmbeddedPostgres",
    "EmbeddedPostgresError",
    "Fault",
    "Lane",
    "MigrationError",
    "Queries",
    "SharedReads",
    "Watchdog",
    "classify",
    "connect_options",
    "connection_is_suspect",
    "create_pool",
    "discard",
    "fold_session_stretches",
    "is_unavailable",
    "load_queries",
    "migrate",
    "purge_idempotency_keys",
    "raised_by_the_driver",
    "reason_of",
    "redact",
    "reset_history",
    "restore_demo",
    "statement_timeouts",
    "watch",
]
