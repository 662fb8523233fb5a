"""The column types and base class of every table (:mod:`levante.db.models`): aware UTC
timestamps on both backends, JSON (JSONB on PostgreSQL), 64-bit autoincrement keys, UUID string
ids, and the constraint naming the migrations use."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from levante.db.nulsafe import NulSafeString
from levante.engine.records import new_id

#: Constraint and index names, so that every backend and the migration agree on them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: JSON everywhere, JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")
#: 64-bit autoincrement keys; SQLite needs exactly ``INTEGER PRIMARY KEY`` for its rowid alias.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")

ID_LENGTH = 36
NAME_LENGTH = 255
CHECKSUM_LENGTH = 64


class UTCDateTime(TypeDecorator[datetime]):
    """A ``TIMESTAMP WITH TIME ZONE`` that always gives back aware UTC datetimes.

    PostgreSQL stores an instant and returns it in the session's time zone: it is converted to UTC.
    SQLite stores text without an offset: values are converted to UTC before they are written (so the
    text sorts in time order) and read back as UTC. A naive datetime given in is taken to be UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        else:
            value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        utc = timezone.utc

        def to_text(value: datetime | None) -> str | None:
            # What process_bind_param and SQLite's DATETIME processor give (its storage format
            # is ISO text with a space and always six digits of microseconds), in one call: a
            # with-items task over 10,000 items writes 30,000 of them in its start.
            if value is None:
                return None
            value = value.replace(tzinfo=utc) if value.tzinfo is None else value.astimezone(utc)
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")

        return to_text

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Base of every table class."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
        Any: JSONType,
    }


def id_column() -> Mapped[str]:
    """The primary key of a table whose ids are UUID strings (new ones made in Python)."""
    return mapped_column(NulSafeString(ID_LENGTH), primary_key=True, default=new_id)
