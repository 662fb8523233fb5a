"""Where actions come from: entry points of a group (``levante.actions``) plus explicit registration.

Nothing is imported or registered when this module is imported. A :class:`Registry` reads the
entry point *names* on first use and imports an action's module only when that action is asked
for, so one broken plug-in gives an :class:`~levante.exceptions.ActionError` naming its entry point
when it is used, and never breaks the others.

Input checking follows Mistral: the parameters of ``__init__`` without a default are required,
those with one are optional, anything else is unexpected; ``**kwargs`` turns the check off.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from levante.actions.base import NAME_ATTR, Action
from levante.exceptions import ActionError, ActionNotFoundError

LOG = logging.getLogger(__name__)

DEFAULT_GROUP = "levante.actions"


@dataclass(frozen=True)
class ActionInfo:
    """What the registry knows about one action."""

    #: Registered name, e.g. ``std.echo``.
    name: str
    #: The action class.
    cls: type[Action]
    #: Whether the action produces its result itself (False for ``std.mistral_http``).
    is_sync: bool
    #: ``__init__`` parameters without a default, in declaration order.
    required: tuple[str, ...]
    #: ``__init__`` parameters with a default; None when ``__init__`` takes ``**kwargs``.
    optional: tuple[str, ...] | None
    #: First line of the class docstring ('' when there is none).
    description: str

    @property
    def class_path(self) -> str:
        """``module.Class`` of the action class."""
        return f"{self.cls.__module__}.{self.cls.__qualname__}"

    def input_error(self, given: dict[str, Any] | None) -> str | None:
        """Check input against the parameters.

        Args:
            given: Parameter names to values.

        Returns:
            None when the input fits, else a Mistral-style message such as ``Invalid input
            [name=std.echo, class=levante.actions.std.basic.EchoAction, missing=['output'],
            unexpected=['x']]`` (a part is left out when its list is empty).
        """
        given = given or {}
        missing = [p for p in self.required if p not in given]
        unexpected: list[str] = []
        if self.optional is not None:
            known = set(self.required) | set(self.optional)
            unexpected = [str(k) for k in given if k not in known]
        if not missing and not unexpected:
            return None
        parts = [f"name={self.name}", f"class={self.class_path}"]
        if missing:
            parts.append(f"missing={missing}")
        if unexpected:
            parts.append(f"unexpected={unexpected}")
        return f"Invalid input [{', '.join(parts)}]"

    def input_text(self) -> str:
        """The parameters as Mistral shows them in ``GET /v2/actions``: ``output, delay=0``."""
        words: list[str] = []
        for param in _init_params(self.cls):
            if param.kind is param.VAR_POSITIONAL:
                words.append(f"*{param.name}")
            elif param.kind is param.VAR_KEYWORD:
                words.append(f"**{param.name}")
            elif param.default is param.empty:
                words.append(param.name)
            else:
                words.append(f"{param.name}={json.dumps(param.default, default=repr)}")
        return ", ".join(words)


def _init_params(cls: type) -> list[inspect.Parameter]:
    """Parameters of ``cls.__init__`` without ``self``."""
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())  # type: ignore[misc]
    except (TypeError, ValueError):  # no readable signature: accept anything
        return [inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)]
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return params[1:] if params and params[0].kind in positional else params


def _class_is_sync(cls: type) -> bool:
    """Ask ``is_sync()`` of an instance built without ``__init__`` (it should not need input)."""
    try:
        factory: Any = cls
        return bool(factory.is_sync(factory.__new__(factory)))
    except Exception:  # noqa: BLE001 - an is_sync() that needs input: assume the default
        LOG.debug("is_sync() of %s needs an initialised instance; assuming sync", cls, exc_info=True)
        return True


def describe(name: str, cls: type[Action]) -> ActionInfo:
    """Build the :class:`ActionInfo` of a class.

    Raises:
        ActionError: ``cls`` is not a class with a ``run`` method.
    """
    if not isinstance(cls, type) or not callable(getattr(cls, "run", None)):
        raise ActionError(f'Action "{name}" is not an action class: {cls!r}')
    required: list[str] = []
    named: list[str] = []
    optional: list[str] | None = named
    for param in _init_params(cls):
        if param.kind is param.VAR_KEYWORD:
            optional = None
            break
        if param.kind is param.VAR_POSITIONAL:
            continue
        if param.default is param.empty:
            required.append(param.name)
        else:
            named.append(param.name)
    doc = cls.__dict__.get("__doc__") or ""
    lines = inspect.cleandoc(doc).splitlines()
    return ActionInfo(
        name=name,
        cls=cls,
        is_sync=_class_is_sync(cls),
        required=tuple(required),
        optional=None if optional is None else tuple(optional),
        description=lines[0].strip() if lines else "",
    )


class Registry:
    """Actions by name, loaded lazily from entry points; safe to share between threads."""

    def __init__(self, group: str = DEFAULT_GROUP) -> None:
        """Prepare a registry of the entry point group ``group`` (read on first use).

        Args:
            group: Entry point group to load, ``levante.actions`` by default.
        """
        self.group = group
        self._lock = threading.RLock()
        self._entry_points: dict[str, metadata.EntryPoint] | None = None
        self._infos: dict[str, ActionInfo] = {}
        self._explicit: set[str] = set()

    def _discover(self) -> dict[str, metadata.EntryPoint]:
        """Entry points of the group by name (read once; the first of duplicate names wins)."""
        with self._lock:
            if self._entry_points is None:
                found: dict[str, metadata.EntryPoint] = {}
                for ep in metadata.entry_points(group=self.group):
                    if ep.name in found:
                        if found[ep.name].value != ep.value:
                            LOG.warning(
                                "Entry point %s = %s of group %s is shadowed by %s",
                                ep.name, ep.value, self.group, found[ep.name].value,
                            )
                        continue
                    found[ep.name] = ep
                self._entry_points = found
            return self._entry_points

    def register(self, name: str, cls: type[Action]) -> None:
        """Register ``cls`` under ``name``, replacing an entry point or earlier registration.

        Raises:
            ActionError: ``cls`` is not a class with a ``run`` method.
        """
        info = describe(name, cls)
        with self._lock:
            self._infos[name] = info
            self._explicit.add(name)

    def _load(self, ep: metadata.EntryPoint) -> ActionInfo:
        try:
            cls = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import failure of a plug-in
            raise ActionError(
                f'Failed to load action "{ep.name}" from entry point "{ep.name} = {ep.value}" '
                f"(group {self.group}): {type(exc).__name__}: {exc}"
            ) from exc
        return describe(ep.name, cls)

    def find(self, name: str) -> ActionInfo | None:
        """The action registered under ``name``, or None.

        Raises:
            ActionError: ``name`` is declared by an entry point that cannot be loaded.
        """
        info = self._infos.get(name)  # known: no lock (every executor thread asks, for every action)
        if info is not None:
            return info
        with self._lock:
            info = self._infos.get(name)
            if info is not None:
                return info
            ep = self._discover().get(name)
            if ep is None:
                return None
            info = self._load(ep)
            self._infos[name] = info
            return info

    def get(self, name: str) -> ActionInfo:
        """The action registered under ``name``.

        Raises:
            ActionNotFoundError: Nothing is registered under ``name``.
            ActionError: Its entry point cannot be loaded.
        """
        info = self.find(name)
        if info is None:
            raise ActionNotFoundError(name)
        return info

    def names(self) -> list[str]:
        """Every registered name, sorted (entry points are listed without being imported)."""
        with self._lock:
            return sorted(set(self._discover()) | self._explicit)

    def create(self, name: str, params: dict[str, Any] | None = None) -> Action:
        """Instantiate the action ``name`` with ``params``.

        The instance remembers ``name`` so that :func:`~levante.actions.base.run_action` names it
        in error messages.

        Raises:
            ActionNotFoundError: Nothing is registered under ``name``.
            ActionError: The input does not fit the parameters (``Invalid input [...]``), or
                ``__init__`` refused it.
        """
        info = self.get(name)
        params = dict(params or {})
        problem = info.input_error(params)
        if problem:
            raise ActionError(problem)
        try:
            action = info.cls(**params)
        except ActionError:
            raise
        except TypeError as exc:
            raise ActionError(
                f"Invalid input [name={name}, class={info.class_path}]: {exc}"
            ) from exc
        except Exception as exc:  # noqa: BLE001 - a constructor refusing its input
            raise ActionError(
                f'Failed to create action "{name}" [class={info.class_path}]: {exc}'
            ) from exc
        try:
            setattr(action, NAME_ATTR, name)
        except AttributeError:  # __slots__ without room for the name: messages use the class
            pass
        return action
