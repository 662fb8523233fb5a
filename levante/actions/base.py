"""The action model: what an action is, what it knows about where it runs, what it returns.

An action is a class whose ``__init__`` takes the action's input as keyword arguments and whose
``run(context)`` does the work (the model of ``mistral-lib``). ``run`` returns a plain value (the
result), a :class:`Result` (to report an error or a cancellation with data), or raises (failure).
An asynchronous action (``is_sync()`` is false) returns nothing on success: a third party completes
it later through ``PUT /v2/action_executions/<id>``.

:func:`run_action` is the one place where a return value or an exception becomes a :class:`Result`;
the executor and the engine (for ``run_sync`` standalone actions) both go through it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

LOG = logging.getLogger(__name__)

#: Attribute set on an instance by :meth:`Registry.create` so that messages name the action as the
#: user wrote it (``std.echo``) instead of its class.
NAME_ATTR = "_levante_action_name"


@dataclass(frozen=True)
class ActionContext:
    """What an action knows about where it runs.

    Every field is optional: a standalone action (``POST /v2/action_executions``) has no task or
    workflow, and a unit test may pass ``ActionContext()``.
    """

    #: Id of the action execution being run.
    action_execution_id: str | None = None
    #: Id of the task execution that started the action (None for a standalone action).
    task_execution_id: str | None = None
    #: Id of the workflow execution (None for a standalone action).
    workflow_execution_id: str | None = None
    #: Name of the workflow definition (``wb.wf`` for a workbook workflow).
    workflow_name: str | None = None
    #: Full URL a third party PUTs the result of an asynchronous action to.
    callback_url: str | None = None
    #: Per-action secret that authorises that PUT; sent to third parties by ``std.mistral_http``.
    callback_token: str | None = None
    #: Position in the ``with-items`` list (None outside ``with-items``).
    with_items_index: int | None = None
    #: True when the request to run the action was delivered again after an executor died.
    redelivered: bool = False
    #: Largest response body an action that downloads (``std.http``) may read, in bytes (None: no limit).
    max_response_size: int | None = None


@dataclass(frozen=True)
class Result:
    """The outcome of an action.

    ``error`` not None means failure and ``error`` becomes the task result; ``cancel`` means the
    action was cancelled. Otherwise the action succeeded with ``data``.
    """

    data: Any = None
    error: Any = None
    cancel: bool = False

    def is_success(self) -> bool:
        """True when the action succeeded (no error, not cancelled)."""
        return self.error is None and not self.cancel

    def is_error(self) -> bool:
        """True when the action failed (an error and not cancelled)."""
        return self.error is not None and not self.cancel

    def is_cancel(self) -> bool:
        """True when the action was cancelled."""
        return self.cancel


class Action:
    """Base class of actions.

    Subclasses take their input in ``__init__`` as keyword arguments: the registry reads that
    signature to check input (parameters without default are required; ``**kwargs`` disables the
    check) and to describe the action.
    """

    def __init__(self) -> None:
        """An action without parameters."""

    def run(self, context: ActionContext) -> Any:
        """Do the work.

        Args:
            context: Where the action runs.

        Returns:
            The result (any JSON-ready value) or a :class:`Result`. An asynchronous action
            returns None on success.

        Raises:
            Exception: Any exception means failure; its text becomes the error message.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement run()")

    def is_sync(self) -> bool:
        """Whether ``run`` produces the result (True) or a third party delivers it later (False)."""
        return True

    def cancel(self) -> None:
        """Asked (from another thread) to stop: the action execution was cancelled with its
        workflow execution while ``run`` was running. An interruptible action makes ``run``
        return soon; what it returns then is not used. The default does nothing (``run`` goes
        on to its end, and its result is refused)."""


def action_label(action: Any) -> str:
    """Name an action instance for messages: its ``label`` (e.g. Mistral's "Fail action", which
    clients match on), else its registered name, else its class name."""
    label = getattr(type(action), "label", None)
    if isinstance(label, str) and label:
        return label
    name = getattr(action, NAME_ATTR, None)
    return name if isinstance(name, str) and name else type(action).__name__


def run_action(action: Action, context: ActionContext) -> Result:
    """Run an action and always return a :class:`Result`.

    A plain return value becomes ``Result(data=value)``. An exception becomes an error result
    worded like Mistral: ``The action raised an exception [action=<name>, action_ex_id=<id>,
    msg='<exception>']``. ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``,
    ``SystemExit``) is not caught.

    Args:
        action: The instance to run (usually from :meth:`Registry.create`).
        context: Where it runs.

    Returns:
        The outcome.
    """
    try:
        value = action.run(context)
    except Exception as exc:  # noqa: BLE001 - every failure of user code becomes a result
        label = action_label(action)
        LOG.debug("Action %s (%s) failed", label, context.action_execution_id, exc_info=True)
        return Result(
            error=(
                f"The action raised an exception [action={label}, "
                f"action_ex_id={context.action_execution_id}, msg='{exc}']"
            )
        )
    if isinstance(value, Result):
        return value
    return Result(data=value)
