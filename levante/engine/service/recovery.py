"""What the engine does with events it can never apply (*poison* events): find the culprit, fail
what it concerns with the error in ``state_info``, and, when even that fails, write the end of the
execution directly. Busy-database errors are never handled here: they are raised for the caller to
apply the events again (:meth:`EngineService.handle <levante.engine.service.core.EngineService.handle>`)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from levante.db import repository as repo
from levante.db.session import is_transient, transaction
from levante.engine import events as ev
from levante.engine.commands import Dispatch
from levante.engine.service.parts import Outcome
from levante.exceptions import NotFoundError

if TYPE_CHECKING:
    from levante.engine.service.core import EngineService

LOG = logging.getLogger(__name__)


def _engine_failure(event: ev.Event, error: BaseException | None) -> str:
    """The ``state_info`` of what a poison event failed."""
    what = f"the result of action execution {event.action_execution_id}" \
        if isinstance(event, ev.ActionCompleted) else f"a {event.kind} event"
    try:
        cause = f": {type(error).__name__}: {error}" if error is not None else ""
    except Exception:  # noqa: BLE001 - an error whose text cannot be made (too deep, a broken __str__)
        cause = f": {type(error).__name__}"
    text = f"The engine could not apply {what}{cause}"
    if len(text) > 2000:
        text = text[:2000] + "..."
    return text.replace("\x00", "\\0")


class Recovery:
    """The poison-event handling of one :class:`EngineService`."""

    def __init__(self, service: "EngineService") -> None:
        self.service = service

    def poisoned(self, execution_id: str, events: list[ev.Event], error: BaseException) -> list[ev.Event]:
        """Events of one execution failed for good: find which (one by one, in order) and fail what
        each concerns. Returns the events to apply again later (the database became busy)."""
        LOG.error("engine: events for execution %s cannot be applied (%s: %s); failing what they concern",
                  execution_id, type(error).__name__, error, exc_info=error)
        if len(events) == 1:
            try:
                self.fail_event(execution_id, events[0], error)
            except Exception as exc:  # noqa: BLE001
                if is_transient(exc):
                    return events
                LOG.critical("engine: cannot even fail execution %s; its event is dropped: %r", execution_id,
                             events[0], exc_info=exc)
            return []
        for index, event in enumerate(events):
            try:
                self.service.apply(execution_id, [event])
            except NotFoundError:
                return []
            except Exception as exc:  # noqa: BLE001 - this one is (one of) the culprit(s)
                if is_transient(exc):
                    return events[index:]
                try:
                    self.fail_event(execution_id, event, exc)
                except Exception as again:  # noqa: BLE001
                    if is_transient(again):
                        return events[index:]
                    LOG.critical("engine: cannot even fail execution %s; its event is dropped: %r",
                                 execution_id, event, exc_info=again)
        return []

    def fail_event(self, execution_id: str, event: ev.Event, error: BaseException) -> None:
        """Fail what a poison event concerns: an action's result becomes an ERROR result (its task
        then follows its retry / ``on-error`` path), a sub-workflow's end becomes an ERROR end; any
        other event, or a substitute that fails too, fails the whole execution."""
        message = _engine_failure(event, error)
        substitute: ev.Event | None = None
        if isinstance(event, ev.ActionCompleted):
            substitute = ev.ActionCompleted(execution_id, event.action_execution_id, "ERROR", message)
        elif isinstance(event, ev.SubworkflowCompleted):
            substitute = replace(event, state="ERROR", output={"result": message}, state_info=message)
        if substitute is not None and self._applied(execution_id, substitute, "refuses the error result too"):
            return
        self.fail_execution(execution_id, message)

    def _applied(self, execution_id: str, event: ev.Event, refusal: str) -> bool:
        """Apply one event alone: True when it was applied (or its execution is gone), False when
        it failed for good (logged with ``refusal``). A busy database is raised."""
        try:
            self.service.apply(execution_id, [event])
            return True
        except NotFoundError:
            return True
        except Exception as exc:  # noqa: BLE001
            if is_transient(exc):
                raise
            LOG.error("engine: execution %s %s (%s)", execution_id, refusal, exc, exc_info=exc)
            return False

    def fail_execution(self, execution_id: str, message: str) -> None:
        """End an execution in ERROR with ``message`` when its events cannot be applied: through the
        engine's decisions if they work (its running tasks end, its parent is told), otherwise by
        writing the end states directly."""
        if self._applied(execution_id, ev.StopRequested(execution_id, "ERROR", message),
                         "cannot even be stopped through its decisions; writing its end directly"):
            return
        try:
            self._write_error_end(execution_id, message)
        except Exception as exc:  # noqa: BLE001
            if is_transient(exc):
                raise
            self._write_error_end(execution_id, "The engine could not apply an event to this execution "
                                                "(and its error could not be stored)")

    def _write_error_end(self, execution_id: str, message: str) -> None:
        """End an execution in ERROR by writing the states directly, and tell its parent, in one
        transaction."""
        outcome = Outcome()
        with transaction(self.service.session_factory) as session:
            parent = repo.force_error(session, execution_id, message, self.service.clock())
            if parent is not None:
                parent_id, task_execution_id = parent
                self.service.steps.carry_out(session, Dispatch(ev.SubworkflowCompleted(
                    parent_id, task_execution_id, execution_id, "ERROR", {"result": message}, message)), outcome)
            outcome.completed.append((execution_id, "ERROR"))
        self.service.after_commit(outcome)

    def standalone_one_by_one(self, results: list[ev.ActionCompleted]) -> list[ev.Event]:
        """Complete actions run on their own one by one after their shared transaction failed: a
        result that fails for good is stored as the action's error instead."""
        again: list[ev.Event] = []
        for result in results:
            for attempt in (result, ev.ActionCompleted("", result.action_execution_id, "ERROR",
                                                       _engine_failure(result, None))):
                try:
                    with transaction(self.service.session_factory) as session:
                        self.service.callbacks.complete_standalone(session, attempt)
                    break
                except Exception as exc:  # noqa: BLE001
                    if is_transient(exc):
                        again.append(result)
                        break
                    LOG.error("engine: result of action execution %s cannot be stored (%s)",
                              result.action_execution_id, exc, exc_info=exc)
        return again
