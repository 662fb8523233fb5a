"""Alembic environment: runs on the connection :func:`levante.db.session.migrate` hands over.

Without one (e.g. ``alembic -x url=sqlite:///levante.db upgrade head`` from a hand-made config),
it connects to the ``url`` given with ``-x`` or the config's ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context

from levante.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # noqa: ANN001 - alembic's untyped hook
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from levante.db.session import make_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("No database: give -x url=... or use levante.db.session.migrate(engine)")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("Offline (SQL script) migrations are not supported; run them on a connection.")
run_migrations_online()
