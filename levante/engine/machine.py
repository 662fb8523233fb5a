"""Old home of the conductor, kept so that existing imports work until the final rename: the
dispatcher is :mod:`levante.engine.conductor`, the workflow lifecycle :mod:`levante.engine.lifecycle`."""

from levante.engine.conductor import Conductor
from levante.engine.lifecycle import refuse_request

__all__ = ["Conductor", "refuse_request"]
