"""The outbox relay: publishes the engine's outbox rows as ``run_action`` envelopes.

The engine stores a RunAction and its outbox row in one transaction; after the commit the relay
publishes the rows and returns the ids it published, which the caller marks sent. Rows it could not
publish stay pending and the sweeper sends them again later (executors tolerate duplicates: a
redelivered or repeated request is either safe to re-run or fails cleanly).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from levante.exceptions import TransportError
from levante.messaging import envelope as env
from levante.messaging.topology import EXECUTOR_TOPIC
from levante.messaging.transport import Transport

__all__ = ["OutboxRow", "Relay"]

LOG = logging.getLogger(__name__)

#: An outbox row: (id, topic, RunAction payload); topic is ``executor`` or ``executor.<target>``.
OutboxRow = tuple[int, str, Mapping[str, Any]]


class Relay:
    """Publishes outbox rows through a :class:`~levante.messaging.transport.Transport`."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def send(self, rows: Iterable[OutboxRow]) -> list[int]:
        """Publish rows in order; return the ids of those published.

        A row that can never be published (a topic that is not an executor's, a payload that is not
        JSON) is logged and skipped. When the broker is unreachable the remaining rows are left for
        the sweeper, since each of them would wait through the whole retry policy again.
        """
        sent: list[int] = []
        rows = list(rows)
        for position, (row_id, topic, payload) in enumerate(rows):
            try:
                if topic != EXECUTOR_TOPIC and not topic.startswith(EXECUTOR_TOPIC + "."):
                    raise ValueError(f'outbox topic "{topic}" is not an executor topic')
                self.transport.publish(topic, env.encode(env.RUN_ACTION, payload))
            except ValueError as exc:
                LOG.error("relay: cannot send outbox row %s: %s", row_id, exc)
                continue
            except TransportError as exc:
                if not exc.recoverable:
                    LOG.error("relay: the broker refused outbox row %s: %s", row_id, exc)
                    continue
                LOG.warning("relay: %d outbox row(s) left unsent for the sweeper: %s",
                            len(rows) - position, exc)
                break
            sent.append(row_id)
        return sent
