"""The engine service: everything around the pure decisions that touches the database.

- :mod:`.core`: :class:`EngineService` applies events to executions in transactions, through its
  parts :mod:`.steps`, :mod:`.starts`, :mod:`.applying`, :mod:`.control`, :mod:`.callbacks` and
  :mod:`.recovery`.
- :mod:`.parts`: the Store port, a transaction's outcome, the strict clock.
- :mod:`.credentials`: callback tokens and API keys (made, hashed, checked).
- :mod:`.catalog`: definitions as the engine sees them (parsed specs, cached by their text).
- :mod:`.definitions`: storing validated documents.
- :mod:`.cron`: cron patterns, the firer of due cron triggers and the loop that runs it.
- :mod:`.services`: what the API calls (:class:`~.services.Services`): :mod:`.reads`, :mod:`.operations`,
  :mod:`.library`, :mod:`.resources`, :class:`.credentials.Credentials`, :mod:`.trees`.
"""

from levante.engine.service.applying import EXECUTIONS_PER_TRANSACTION
from levante.engine.service.callbacks import completed_conflict
from levante.engine.service.core import EngineService
from levante.engine.service.credentials import callback_token_hash, token_matches
from levante.engine.service.parts import DbStore, StrictClock

__all__ = [
    "EXECUTIONS_PER_TRANSACTION", "DbStore", "EngineService", "StrictClock", "callback_token_hash",
    "completed_conflict", "token_matches",
]
