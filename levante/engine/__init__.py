"""The engine: pure decisions (the :class:`~levante.engine.conductor.Conductor` and its parts, over
records and events as data) and, in :mod:`levante.engine.service`, the service that applies them in
transactions."""
