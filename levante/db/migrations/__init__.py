"""Alembic migrations of Levante's schema (run with :func:`levante.db.session.migrate`)."""
