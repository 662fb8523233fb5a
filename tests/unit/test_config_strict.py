"""Configuration is strict: a value that is not valid is an error naming the variable (or flag) and
what it accepts, never a silent default. ``LEVANTE_AUTH=ture`` used to turn auth off."""

from __future__ import annotations

from dataclasses import fields

import pytest

from levante.config import _ENV, _PARSERS, LOG_LEVELS, ROLES, Config, load, unknown_variables


def test_every_setting_and_every_variable_has_a_parser() -> None:
    assert {f.name for f in fields(Config)} == set(_PARSERS)
    assert set(_ENV.values()) <= set(_PARSERS)


@pytest.mark.parametrize("text", ["ture", "enabled", "2", "y", "oui"])
def test_a_boolean_that_is_neither_on_nor_off_is_an_error(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        load(env={"LEVANTE_AUTH": text, "LEVANTE_HOST": "0.0.0.0"})
    message = str(caught.value)
    assert message.startswith(f"LEVANTE_AUTH={text!r} is not valid")
    assert "true or false" in message and "on or off" in message


@pytest.mark.parametrize(("text", "value"), [("true", True), ("TRUE", True), ("1", True), ("yes", True),
                                             ("On", True), ("false", False), ("0", False), ("no", False),
                                             ("off", False), (" false ", False)])
def test_the_accepted_booleans(text: str, value: bool) -> None:
    config = load(env={"LEVANTE_AUTH": text, "LEVANTE_HOST": "0.0.0.0"})
    assert config.auth is value and config.auth_enabled is value


def test_an_unknown_role_names_the_variable_and_the_roles() -> None:
    with pytest.raises(ValueError, match=r"LEVANTE_ROLE='engien' is not valid: give one of all, api, engine, executor"):
        load(env={"LEVANTE_ROLE": "engien"})
    with pytest.raises(ValueError, match=r"--role='x' is not valid"):
        load(env={}, role="x")
    assert [load(env={"LEVANTE_ROLE": r}).role for r in ROLES] == list(ROLES)


def test_the_log_level() -> None:
    assert load(env={}).log_level == "WARNING"
    assert [load(env={"LEVANTE_LOG_LEVEL": level.lower()}).log_level for level in LOG_LEVELS] == list(LOG_LEVELS)
    assert load(env={"LEVANTE_LOG_LEVEL": "error"}, log_level="debug").log_level == "DEBUG"  # the flag wins
    with pytest.raises(ValueError, match=r"LEVANTE_LOG_LEVEL='verbose' is not valid: give one of DEBUG, INFO, "
                                         r"WARNING, ERROR"):
        load(env={"LEVANTE_LOG_LEVEL": "verbose"})


@pytest.mark.parametrize(("var", "text", "accepted"), [
    ("LEVANTE_PORT", "80a", "from 0 to 65535"),
    ("LEVANTE_PORT", "70000", "from 0 to 65535"),
    ("LEVANTE_PORT", "-1", "from 0 to 65535"),
    ("LEVANTE_PORT", "8989.0", "whole number"),
    ("LEVANTE_EXECUTOR_THREADS", "0", "1 or more"),
    ("LEVANTE_ENGINE_THREADS", "two", "1 or more"),
    ("LEVANTE_MAX_WITH_ITEMS", "-5", "0 or more"),
    ("LEVANTE_MAX_RESULT_SIZE", "1MiB", "whole number"),
    ("LEVANTE_MAX_HTTP_RESPONSE_SIZE", "1e6", "whole number"),
    ("LEVANTE_EXPRESSION_MEMORY", "-1", "0 or more"),
    ("LEVANTE_EXPRESSION_TIMEOUT", "3s", "number of seconds"),
    ("LEVANTE_EXPRESSION_TIMEOUT", "-1", "number of seconds"),
    ("LEVANTE_READ_TIMEOUT", "nan", "number of seconds"),
    ("LEVANTE_READ_TIMEOUT", "inf", "number of seconds"),
    ("LEVANTE_PUBLIC_URL", "levante.example.com", "http:// or https://"),
    ("LEVANTE_PUBLIC_URL", "ftp://levante.example.com", "http:// or https://"),
    ("LEVANTE_NAMESPACE", "   ", "non-empty"),
])
def test_numbers_durations_and_urls_out_of_bounds_name_the_variable(var: str, text: str, accepted: str) -> None:
    with pytest.raises(ValueError) as caught:
        load(env={var: text})
    assert str(caught.value).startswith(f"{var}={text!r} is not valid: give ")
    assert accepted in str(caught.value)


def test_valid_values_are_read() -> None:
    config = load(env={"LEVANTE_PORT": " 0 ", "LEVANTE_EXECUTOR_THREADS": "3", "LEVANTE_READ_TIMEOUT": "0",
                       "LEVANTE_EXPRESSION_TIMEOUT": "2.5", "LEVANTE_MAX_WITH_ITEMS": "0",
                       "LEVANTE_PUBLIC_URL": "https://levante.example.com/", "LEVANTE_DB_URL": ""})
    assert (config.port, config.executor_threads, config.read_timeout, config.expression_timeout) == (0, 3, 0.0, 2.5)
    assert config.max_with_items == 0 and config.public_url == "https://levante.example.com/"
    assert config.db_url == Config().db_url  # an empty variable is unset


def test_flags_are_named_as_the_command_line_spells_them() -> None:
    with pytest.raises(ValueError, match=r"^--port=70000 is not valid"):
        load(env={}, port=70000)
    with pytest.raises(ValueError, match=r"^--db=' ' is not valid"):
        load(env={}, db_url=" ")
    with pytest.raises(ValueError, match=r"^--executor-threads=True is not valid"):
        load(env={}, executor_threads=True)


def test_a_misspelt_variable_is_reported_and_others_are_left_alone() -> None:
    warnings = unknown_variables({"LEVANTE_AUTHH": "true", "LEVANTE_TEST_PG_URL": "x", "LEVANTE_URL": "x",
                                  "LEVANTE_DB_URI": "x", "PATH": "/bin"})
    assert warnings == ["LEVANTE_AUTHH is not a setting and is ignored; did you mean LEVANTE_AUTH?",
                        "LEVANTE_DB_URI is not a setting and is ignored; did you mean LEVANTE_DB_URL?"]
