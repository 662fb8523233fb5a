"""What every resource uses: the configuration and the services of the node the API drives.

Resources parse the request, call one service method and render what it returns; they open no
transaction (the services own them). Tests may pass stand-in services.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from levante.config import Config
from levante.engine.service.services import Services

if TYPE_CHECKING:
    from levante.node import Node


class ApiContext:
    """Shared by the resources of one app."""

    def __init__(self, config: Config, node: "Node | None" = None, services: Any = None) -> None:
        self.config = config
        self.node = node
        #: A :class:`~levante.engine.service.services.Services` (or a stand-in in tests).
        self.services = services if services is not None else Services.of(node)
        self.service = self.services.engine
        self.catalog = self.services.catalog
        self.registry = self.services.registry
        self.reads = self.services.reads
        self.operations = self.services.operations
        self.library = self.services.library
        self.resources = self.services.resources
        self.credentials = self.services.credentials
        self.trees = self.services.trees

    @property
    def max_body(self) -> int:
        """Largest request body accepted, in bytes."""
        return self.config.max_body_bytes
