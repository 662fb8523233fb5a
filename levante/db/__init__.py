"""Levante's persistence: SQLAlchemy models, Alembic migrations, sessions and repository functions.

Typical use::

    from levante.db import make_engine, make_session_factory, migrate, transaction
    from levante.db import repository as repo

    engine = make_engine("sqlite:///levante.db")
    migrate(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        repo.lock_execution(session, execution_id)   # or repo.get_execution(session, id, lock=True)
        ...
"""

from levante.db.session import (
    SessionFactory,
    current_revision,
    lock_execution,
    make_engine,
    make_session_factory,
    migrate,
    transaction,
)

__all__ = [
    "SessionFactory",
    "current_revision",
    "lock_execution",
    "make_engine",
    "make_session_factory",
    "migrate",
    "transaction",
]
