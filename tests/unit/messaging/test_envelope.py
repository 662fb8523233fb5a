"""The versioned JSON envelope: round trips and every way a body can be malformed."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from levante.engine import events as ev
from levante.exceptions import TransportError
from levante.messaging import envelope as env

from .helpers import run_action


def _body(**changes: object) -> dict[str, object]:
    body = env.encode(env.EVENT, {"kind": "pause_requested", "execution_id": "ex-1"})
    body.update(changes)
    return body


def test_encode_builds_a_version_1_envelope() -> None:
    payload = run_action("ae-1").to_dict()
    body = env.encode(env.RUN_ACTION, payload)
    assert set(body) == {"v", "id", "type", "sent_at", "payload"}
    assert body["v"] == 1
    assert body["type"] == "run_action"
    assert str(uuid.UUID(body["id"])) == body["id"]
    assert datetime.fromisoformat(body["sent_at"]).tzinfo is not None
    assert body["payload"] == payload and body["payload"] is not payload


def test_each_envelope_has_its_own_id() -> None:
    assert env.encode(env.EVENT, {})["id"] != env.encode(env.EVENT, {})["id"]


@pytest.mark.parametrize("form", ["dict", "str", "bytes"])
def test_round_trip(form: str) -> None:
    event = ev.ActionCompleted("ex-1", "ae-1", "SUCCESS", {"out": [1, "two", None]})
    body = env.encode(env.EVENT, event.to_dict())
    raw = {"dict": body, "str": json.dumps(body), "bytes": json.dumps(body).encode()}[form]
    decoded = env.decode(raw)
    assert decoded.to_dict() == body
    assert ev.from_dict(decoded.payload) == event


def test_unknown_keys_are_ignored() -> None:
    assert env.decode(_body(trace="abc")).type == env.EVENT


@pytest.mark.parametrize("kind, payload", [("bogus", {}), ("event", ["not", "an", "object"])])
def test_encode_refuses_bad_arguments(kind: str, payload: object) -> None:
    with pytest.raises(ValueError):
        env.encode(kind, payload)  # type: ignore[arg-type]


MALFORMED = {
    "not utf-8": b"\xff\xfe{",
    "not json": "{'v': 1",
    "empty": "",
    "a list": "[1, 2]",
    "a string": '"hello"',
    "null": "null",
    "missing v": {k: v for k, v in _body().items() if k != "v"},
    "version 2": _body(v=2),
    "version as text": _body(v="1"),
    "version as bool": _body(v=True),
    "version null": _body(v=None),
    "missing id": {k: v for k, v in _body().items() if k != "id"},
    "empty id": _body(id=""),
    "numeric id": _body(id=7),
    "missing type": {k: v for k, v in _body().items() if k != "type"},
    "unknown type": _body(type="rpc"),
    "missing sent_at": {k: v for k, v in _body().items() if k != "sent_at"},
    "sent_at not a date": _body(sent_at="yesterday"),
    "sent_at a number": _body(sent_at=1700000000),
    "missing payload": {k: v for k, v in _body().items() if k != "payload"},
    "payload a list": _body(payload=[1]),
    "payload null": _body(payload=None),
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_bodies_raise_decode_error(body: object) -> None:
    with pytest.raises(env.DecodeError) as raised:
        env.decode(body)  # type: ignore[arg-type]
    error = raised.value
    assert isinstance(error, TransportError)
    assert error.recoverable is False
    assert error.body is body
    assert str(error).startswith("Malformed message envelope: ")


def test_decode_error_names_the_problem() -> None:
    with pytest.raises(env.DecodeError, match="unsupported version 2"):
        env.decode(_body(v=2))
    with pytest.raises(env.DecodeError, match='missing field "payload"'):
        env.decode({k: v for k, v in _body().items() if k != "payload"})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(payload=st.dictionaries(st.text(), JSON, max_size=6), kind=st.sampled_from(sorted(env.TYPES)))
def test_any_json_payload_round_trips_through_json_text(payload: dict[str, object], kind: str) -> None:
    body = env.encode(kind, payload)
    assert env.decode(json.dumps(body).encode()).to_dict() == body
