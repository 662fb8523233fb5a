"""The services the API calls, built once for a node: it renders what they return and opens no
transaction of its own (DESIGN.md, layering)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from levante.db.session import make_session_factory
from levante.engine.service.catalog import DbCatalog
from levante.engine.service.core import EngineService
from levante.engine.service.credentials import Credentials
from levante.engine.service.library import Library
from levante.engine.service.operations import Operations
from levante.engine.service.parts import Transactions
from levante.engine.service.reads import Reads
from levante.engine.service.resources import Resources
from levante.engine.service.trees import ExecutionTrees


@dataclass
class Services:
    """Everything a request may ask of the engine's side."""

    #: Starts executions, applies results and lifecycle requests.
    engine: EngineService
    catalog: DbCatalog
    #: The registered actions (their names, inputs and descriptions).
    registry: Any
    reads: Reads
    operations: Operations
    library: Library
    resources: Resources
    credentials: Credentials
    #: Execution trees (the report).
    trees: ExecutionTrees

    @classmethod
    def of(cls, node: Any) -> "Services":
        """The services over a node's database, engine service, catalog and registry. Reads use a
        session factory of their own whose SQLite transactions begin DEFERRED, so GETs run beside
        the engine's writer instead of queueing for the write lock."""
        reads = make_session_factory(node.db, read_only=True)
        tx = Transactions(node.session_factory, reads)
        return cls(engine=node.service, catalog=node.catalog, registry=node.registry, reads=Reads(tx),
                   operations=Operations(tx, node.service), library=Library(tx, node.catalog),
                   resources=Resources(tx, node.catalog), credentials=Credentials(node.session_factory, reads),
                   trees=ExecutionTrees(reads))
