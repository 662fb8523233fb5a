"""What every resource uses: the configuration and the services the API drives.

Resources parse the request, call one service method and render what it returns; they open no
transaction (the services own them). Tests may pass stand-in services.
"""

from __future__ import annotations

from typing import Any

from levante.config import Config


class ApiContext:
    """Shared by the resources of one app."""

    def __init__(self, config: Config, services: Any) -> None:
        self.config = config
        #: A :class:`~levante.engine.service.services.Services` (or a stand-in in tests).
        self.services = services
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
