"""The names of the outbox topics (the broker's routing keys), in one place and without kombu, so
that the engine service names the topic of an action request the way the broker routes it.

``engine`` carries engine events, ``executor`` the action requests of the default executor group
and ``executor.<target>`` those of one target; ``dead`` collects dead letters.
"""

from __future__ import annotations

__all__ = ["DEAD_TOPIC", "ENGINE_TOPIC", "EXECUTOR_TOPIC", "check_target", "executor_topic", "is_executor_topic"]

#: Routing key of engine events.
ENGINE_TOPIC = "engine"
#: Routing key of RunAction messages for the default executor group.
EXECUTOR_TOPIC = "executor"
#: Routing key of messages the work queues dead-letter.
DEAD_TOPIC = "dead"
#: Longest target name (queue names are limited to 255 bytes; leave room for the namespace).
MAX_TARGET = 200


def executor_topic(target: str | None = None, *, check: bool = True) -> str:
    """The topic of an executor group: ``executor`` for no target, else ``executor.<target>``.

    Raises:
        ValueError: ``target`` cannot name a queue (blank, too long). With ``check=False`` nothing
            is raised and "" means no target: the engine stores a request for any target as it
            is, and the relay refuses one that no queue can be named after, saying why.
    """
    if target is None or (not check and not target):
        return EXECUTOR_TOPIC
    if check:
        check_target(target)
    return f"{EXECUTOR_TOPIC}.{target}"


def is_executor_topic(topic: str) -> bool:
    """Whether ``topic`` is an executor group's (``executor`` or ``executor.<something>``)."""
    return topic == EXECUTOR_TOPIC or topic.startswith(EXECUTOR_TOPIC + ".")


def check_target(target: str) -> None:
    """Raise ValueError unless ``target`` can name a queue."""
    if not isinstance(target, str) or not target.strip() or len(target.encode()) > MAX_TARGET:
        raise ValueError(f'Invalid executor target "{target}": '
                         f"a non-blank name of at most {MAX_TARGET} bytes.")
