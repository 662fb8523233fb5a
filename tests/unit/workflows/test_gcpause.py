"""The cyclic collector is paused while a large document is read, and comes back as it was."""

import gc
import threading

from levante.workflows import check, gcpause, parser


def _fanout(n: int) -> str:
    lines = ["version: '2.0'", "wf:", "  tasks:", "    start:", "      on-success:"]
    lines += [f"        - b{i}" for i in range(n)]
    lines += [line for i in range(n) for line in (f"    b{i}:", "      action: std.noop")]
    return "\n".join(lines) + "\n"


def test_a_large_document_is_read_without_collections() -> None:
    text = _fanout(3000)
    assert len(text) >= parser.PAUSE_GC_FROM
    runs: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            runs.append(info["generation"])

    gc.callbacks.append(count)
    try:
        validation = check(text)
    finally:
        gc.callbacks.remove(count)
    assert validation.errors == [] and len(validation.document.workflows["wf"].tasks) == 3001
    assert len(runs) <= 1  # the one when the pause ends (without it: one every 700 allocations)
    assert gc.isenabled()


def test_overlapping_pauses_end_with_the_last() -> None:
    assert gc.isenabled()
    inner_entered, outer_may_end = threading.Event(), threading.Event()
    seen: list[bool] = []

    def other() -> None:
        with gcpause.paused():
            inner_entered.set()
            outer_may_end.wait(5)
            seen.append(gc.isenabled())

    with gcpause.paused():
        thread = threading.Thread(target=other)
        thread.start()
        inner_entered.wait(5)
    seen.append(gc.isenabled())  # the other thread still holds its pause
    outer_may_end.set()
    thread.join(5)
    assert seen == [False, False]
    assert gc.isenabled()


def test_a_collector_disabled_by_the_application_stays_disabled() -> None:
    gc.disable()
    try:
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
