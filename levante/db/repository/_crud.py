"""Create, get, update, list and delete of named ORM rows (definitions and other resources)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from levante.db.models import Base
from levante.db.repository._query import keyset
from levante.engine.records import utcnow
from levante.exceptions import ConflictError, InputError, NotFoundError

M = TypeVar("M", bound=Base)

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def looks_like_id(identifier: str) -> bool:
    """Whether ``identifier`` has the shape of a UUID (an id rather than a name)."""
    return bool(_UUID.match(identifier))


def _where(namespace: str | None) -> str:
    return f' in namespace "{namespace}"' if namespace else ""


def _conflict(kind: str, name: str, namespace: str | None) -> ConflictError:
    return ConflictError(f'{kind} "{name}" already exists{_where(namespace)}.')


def _by_name(session: Session, model: type[M], name: str, namespace: str | None) -> M | None:
    stmt = select(model).where(model.name == name)  # type: ignore[attr-defined]
    if namespace is not None:
        stmt = stmt.where(model.namespace == namespace)  # type: ignore[attr-defined]
    return session.scalars(stmt).first()


def find(
    session: Session, model: type[M], identifier: str, namespace: str | None = None, fallback: bool = False
) -> M | None:
    """The row whose id is ``identifier``, or else whose name is (in ``namespace`` when the model has
    namespaces; with ``fallback``, also in the default namespace '')."""
    if looks_like_id(identifier):
        row = session.get(model, identifier)
        if row is not None:
            return row
    row = _by_name(session, model, identifier, namespace)
    if row is None and fallback and namespace:
        row = _by_name(session, model, identifier, "")
    return row


def get(
    session: Session,
    model: type[M],
    kind: str,
    identifier: str,
    namespace: str | None = None,
    fallback: bool = False,
) -> M:
    """As :func:`find`; raises ``NotFoundError(kind, identifier)`` when there is none."""
    row = find(session, model, identifier, namespace, fallback)
    if row is None:
        raise NotFoundError(kind, identifier)
    return row


def _check_fields(model: type[Base], kind: str, fields: dict[str, Any]) -> None:
    columns = model.__table__.c  # type: ignore[attr-defined]
    unknown = sorted(k for k in fields if k not in columns or k in ("id", "created_at"))
    if unknown:
        raise InputError(f"{kind}: unknown or read-only fields {unknown}.")


def _flush_unique(session: Session, row: Base, kind: str, name: str, namespace: str | None) -> None:
    """Flush in a savepoint, turning a unique violation (a concurrent twin) into ConflictError."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise _conflict(kind, name, namespace) from exc


def create(
    session: Session, model: type[M], kind: str, name: str, namespace: str | None = None, **fields: Any
) -> M:
    """Insert a row named ``name`` (ConflictError if one exists already)."""
    _check_fields(model, kind, fields)
    if _by_name(session, model, name, namespace) is not None:
        raise _conflict(kind, name, namespace)
    values = dict(fields, name=name)
    if namespace is not None:
        values["namespace"] = namespace
    row = model(**values)
    _flush_unique(session, row, kind, name, namespace)
    return row


def update(
    session: Session, model: type[M], kind: str, identifier: str, namespace: str | None = None, **changes: Any
) -> M:
    """Change fields of a row found by id or name (renaming onto an existing name: ConflictError)."""
    _check_fields(model, kind, changes)
    row = get(session, model, kind, identifier, namespace)
    new_name: str = changes["name"] if "name" in changes else row.name  # type: ignore[attr-defined]
    new_namespace = changes.get("namespace", getattr(row, "namespace", None))
    renamed = new_name != row.name or new_namespace != getattr(row, "namespace", None)  # type: ignore[attr-defined]
    if renamed and _by_name(session, model, new_name, new_namespace) is not None:
        raise _conflict(kind, new_name, new_namespace)
    for key, value in changes.items():
        setattr(row, key, value)
    if "updated_at" in model.__table__.c and "updated_at" not in changes:  # type: ignore[attr-defined]
        row.updated_at = utcnow()  # type: ignore[attr-defined]
    _flush_unique(session, row, kind, new_name, new_namespace)
    return row


def delete(
    session: Session, model: type[M], kind: str, identifier: str, namespace: str | None = None
) -> None:
    """Delete a row found by id or name (NotFoundError if none)."""
    row = get(session, model, kind, identifier, namespace)
    session.delete(row)
    session.flush()


class Rows(Generic[M]):
    """The find, get, update, list and delete of one model's named rows, bound to the model and the
    kind named in its errors (``NotFoundError(kind, identifier)``, ``ConflictError``). The namespace
    arguments count only for models with a ``namespace`` column ('' is the default namespace; for
    ``list``, None means every namespace)."""

    def __init__(self, model: type[M], kind: str) -> None:
        self.model = model
        self.kind = kind
        self._namespaced = "namespace" in model.__table__.c  # type: ignore[attr-defined]

    def _ns(self, namespace: str) -> str | None:
        return namespace if self._namespaced else None

    def find(self, session: Session, identifier: str, namespace: str = "", fallback: bool = False) -> M | None:
        """A row by id or name, or None; ``fallback`` also looks in the default namespace ''."""
        return find(session, self.model, identifier, self._ns(namespace), fallback)

    def get(self, session: Session, identifier: str, namespace: str = "", fallback: bool = False) -> M:
        """A row by id or name (NotFoundError if none)."""
        return get(session, self.model, self.kind, identifier, self._ns(namespace), fallback)

    def update(self, session: Session, identifier: str, namespace: str = "", **changes: Any) -> M:
        """Change fields of a row found by id or name (renaming onto a taken name: ConflictError)."""
        return update(session, self.model, self.kind, identifier, self._ns(namespace), **changes)

    def delete(self, session: Session, identifier: str, namespace: str = "") -> None:
        """Delete a row found by id or name (NotFoundError if none)."""
        delete(session, self.model, self.kind, identifier, self._ns(namespace))

    def list_rows(
        self,
        session: Session,
        namespace: str | None = None,
        *,
        filters: dict[str, Any] | None = None,
        limit: int | None = None,
        marker: str | None = None,
        sort_keys: Sequence[str] = ("created_at", "id"),
        sort_dirs: Sequence[str] = ("asc", "asc"),
    ) -> list[M]:
        """A page of rows (of one namespace if given), oldest first by default; filters and keyset
        pagination as in ``list_executions``."""
        filters = dict(filters or {})
        if namespace is not None and self._namespaced:
            filters["namespace"] = namespace
        table: Any = self.model.__table__  # type: ignore[attr-defined]
        stmt = keyset(
            session,
            select(self.model),
            table,
            filters=filters,
            limit=limit,
            marker=marker,
            sort_keys=sort_keys,
            sort_dirs=sort_dirs,
            kind=self.kind,
        )
        return list(session.scalars(stmt))
