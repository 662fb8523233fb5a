"""The gunicorn target: ``gunicorn 'levante.wsgi:application'``.

Each worker process composes its own node from the ``LEVANTE_*`` variables (the role decides what it
runs beside the API: ``api`` relays the outbox of its requests to the broker; ``all`` also runs an
engine and an executor), starts it, and stops it when the process exits.
"""

from __future__ import annotations

import atexit

from levante import config as config_mod
from levante.api.app import create_app
from levante.node import Node

config = config_mod.load()
node = Node(config).start()
atexit.register(node.stop)
#: The WSGI application.
application = create_app(config, node.services)
