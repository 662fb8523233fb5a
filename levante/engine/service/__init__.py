"""The engine service: everything around the pure decisions that touches the database.

- :mod:`.core`: :class:`EngineService` applies events to executions in transactions.
- :mod:`.catalog`: definitions as the engine sees them (parsed specs, cached by their text).
- :mod:`.definitions`: storing validated documents.
"""

from levante.engine.service.core import (
    EXECUTIONS_PER_TRANSACTION,
    DbStore,
    EngineService,
    StrictClock,
    callback_token_hash,
    completed_conflict,
    token_matches,
)

__all__ = [
    "EXECUTIONS_PER_TRANSACTION", "DbStore", "EngineService", "StrictClock", "callback_token_hash",
    "completed_conflict", "token_matches",
]
