"""The ``levante`` command."""
