"""What every resource uses: the configuration, the node's engine service and catalog, and sessions.

Reads use a separate session factory whose SQLite transactions begin DEFERRED, so GETs run beside
the engine's writer instead of queueing for the write lock; writes use the node's factory.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from levante.config import Config
from levante.db.session import make_session_factory, transaction
from levante.engine.service.trees import ExecutionTrees

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from levante.node import Node


class ApiContext:
    """Shared by the resources of one app."""

    def __init__(self, config: Config, node: "Node") -> None:
        self.config = config
        self.node = node
        self.service = node.service
        self.catalog = node.catalog
        self.registry = node.registry
        self._reads = make_session_factory(node.db, read_only=True)
        #: Execution trees (the report), read beside the engine's writes.
        self.trees = ExecutionTrees(self._reads)

    @property
    def max_body(self) -> int:
        """Largest request body accepted, in bytes."""
        return self.config.max_body_bytes

    def read(self) -> AbstractContextManager["Session"]:
        """A read-only transaction."""
        return transaction(self._reads)

    def write(self) -> AbstractContextManager["Session"]:
        """A read-write transaction (SQLite: takes the write lock at its start)."""
        return transaction(self.node.session_factory)
