"""Actions that need nothing outside the process: ``std.noop``, ``std.echo``, ``std.fail`` and co."""

from __future__ import annotations

import threading
import time
from typing import Any

from levante.actions.base import Action, ActionContext, Result
from levante.exceptions import ActionError


def _seconds(value: Any, what: str) -> float:
    """A duration in seconds as a float >= 0 (negative values count as 0).

    Raises:
        ActionError: ``value`` is not a number.
    """
    if isinstance(value, bool):
        raise ActionError(f"{what} must be a number of seconds, not {value!r}")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ActionError(f"{what} must be a number of seconds, not {value!r}") from None
    if seconds != seconds:  # NaN
        raise ActionError(f"{what} must be a number of seconds, not {value!r}")
    return max(seconds, 0.0)


class NoOpAction(Action):
    """Does nothing; the result is null."""

    def run(self, context: ActionContext) -> None:
        """Return None."""
        return None


class AsyncNoOpAction(NoOpAction):
    """Does nothing and stays RUNNING until a third party completes it through the API."""

    def is_sync(self) -> bool:
        """Asynchronous: the result comes through ``PUT /v2/action_executions/<id>``."""
        return False


class EchoAction(Action):
    """Returns its output, optionally after a delay."""

    def __init__(self, output: Any, delay: float = 0) -> None:
        """Keep the input.

        Args:
            output: The value to return.
            delay: Seconds to wait first (a float; negative counts as 0).
        """
        self.output = output
        self.delay = delay

    def run(self, context: ActionContext) -> Any:
        """Wait ``delay`` seconds, then return ``output``.

        Raises:
            ActionError: ``delay`` is not a number.
        """
        seconds = _seconds(self.delay, "delay")
        if seconds:
            time.sleep(seconds)
        return self.output


class FailAction(Action):
    """Fails: with error_data as the task result, or with an exception."""

    #: How error messages name it (Mistral's wording, which its conformance cases check).
    label = "Fail action"

    def __init__(self, error_data: Any = None) -> None:
        """Keep the input.

        Args:
            error_data: The error result; when None the action raises instead.
        """
        self.error_data = error_data

    def run(self, context: ActionContext) -> Result:
        """Return ``Result(error=error_data)``.

        Raises:
            ActionError: ``Fail action expected exception.`` when there is no ``error_data``.
        """
        if self.error_data is None:
            raise ActionError("Fail action expected exception.")
        return Result(error=self.error_data)


class SleepAction(Action):
    """Sleeps for the given number of seconds; the result is null. A cancel wakes it up."""

    def __init__(self, seconds: float = 1) -> None:
        """Keep the input.

        Args:
            seconds: How long to sleep (negative counts as 0; fractions are kept, where Mistral
                truncates to whole seconds).
        """
        self.seconds = seconds
        self._cancelled = threading.Event()

    def run(self, context: ActionContext) -> Result | None:
        """Sleep, then return None; cancelled meanwhile, return a cancelled result at once.

        Raises:
            ActionError: ``seconds`` is not a number.
        """
        seconds = _seconds(self.seconds, "seconds")
        if seconds and self._cancelled.wait(seconds):
            return Result(data="Sleep cancelled", cancel=True)
        return None

    def cancel(self) -> None:
        """Stop sleeping."""
        self._cancelled.set()


class TestDictAction(Action):
    """Builds a dictionary of size entries: key_prefix + index -> val."""

    __test__ = False  # not a pytest test class despite its name

    def __init__(self, size: int = 0, key_prefix: str = "", val: Any = "") -> None:
        """Keep the input.

        Args:
            size: Number of entries.
            key_prefix: Prefix of every key; the key is the prefix followed by the index.
            val: Value of every entry.
        """
        self.size = size
        self.key_prefix = key_prefix
        self.val = val

    def run(self, context: ActionContext) -> dict[str, Any]:
        """Return ``{key_prefix + str(i): val for i in range(size)}``.

        Raises:
            ActionError: ``size`` is not a whole number.
        """
        if isinstance(self.size, bool):
            raise ActionError(f"size must be a whole number, not {self.size!r}")
        try:
            size = int(self.size)
        except (TypeError, ValueError):
            raise ActionError(f"size must be a whole number, not {self.size!r}") from None
        return {f"{self.key_prefix}{i}": self.val for i in range(size)}
