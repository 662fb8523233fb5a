"""The registry: entry points of setup.cfg, lookups, input checks, broken plug-ins, laziness."""

import configparser
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from levante.actions import (
    Action,
    ActionError,
    ActionInfo,
    ActionNotFoundError,
    Registry,
    default_registry,
)
from levante.actions.std.basic import EchoAction, NoOpAction

ROOT = Path(__file__).resolve().parents[3]


def declared_entry_points() -> dict[str, str]:
    """The ``levante.actions`` group of setup.cfg as name -> ``module:Class``."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    text = parser["options.entry_points"]["levante.actions"]
    pairs = [line.split("=", 1) for line in text.strip().splitlines() if line.strip()]
    return {name.strip(): target.strip() for name, target in pairs}


class KwargsAction(Action):
    """Takes anything."""

    def __init__(self, first, **kwargs):
        self.first = first
        self.kwargs = kwargs

    def run(self, context):
        return self.kwargs


class PickyKwargsAction(Action):
    def __init__(self, **kwargs):
        if "x" not in kwargs:
            raise TypeError("x is needed")

    def run(self, context):
        return None


class Undocumented(Action):
    def run(self, context):
        return None


class RefusingAction(Action):
    """Refuses every input."""

    def __init__(self, n=0):
        raise ValueError(f"bad n {n}")


class KeywordOnlyAction(Action):
    """Keyword-only parameters.

    More text.
    """

    def __init__(self, *, a, b=2):
        self.a, self.b = a, b

    def run(self, context):
        return self.a + self.b


def test_setup_cfg_declares_every_std_action():
    names = set(declared_entry_points())
    assert names == {
        "std.noop", "std.async_noop", "std.echo", "std.fail", "std.sleep", "std.test_dict",
        "std.http", "std.mistral_http", "std.email",
    }


def test_every_declared_entry_point_loads():
    declared = declared_entry_points()
    reg = Registry()
    assert set(declared) <= set(reg.names())
    assert [n for n in reg.names() if n.startswith("std.")] == sorted(declared)
    for name, target in declared.items():
        info = reg.get(name)
        module, cls = target.split(":")
        assert info.name == name
        assert info.class_path == f"{module}.{cls}"
        assert issubclass(info.cls, Action)
        assert info.description and "\n" not in info.description


def test_sync_flags():
    reg = Registry()
    async_names = {n for n in reg.names() if n.startswith("std.") and not reg.get(n).is_sync}
    assert async_names == {"std.async_noop", "std.mistral_http"}


def test_parameters_of_std_actions():
    reg = Registry()
    echo = reg.get("std.echo")
    assert echo.required == ("output",) and echo.optional == ("delay",)
    assert echo.input_text() == "output, delay=0"
    http = reg.get("std.http")
    assert http.required == ("url",)
    assert http.optional == (
        "method", "params", "body", "json", "headers", "cookies", "auth", "timeout",
        "allow_redirects", "proxies", "verify",
    )
    email = reg.get("std.email")
    assert email.required == ("from_addr", "to_addrs", "smtp_server")
    assert reg.get("std.noop").required == () and reg.get("std.noop").optional == ()


def test_unknown_name():
    reg = Registry()
    assert reg.find("x") is None
    with pytest.raises(ActionNotFoundError) as info:
        reg.get("x")
    assert str(info.value) == 'Action "x" is not registered (group levante.actions).'
    with pytest.raises(ActionNotFoundError):
        reg.create("x", {})


def test_input_error_messages():
    info = Registry().get("std.echo")
    assert info.input_error({"output": 1}) is None
    assert info.input_error({"output": 1, "delay": 2}) is None
    prefix = "Invalid input [name=std.echo, class=levante.actions.std.basic.EchoAction"
    assert info.input_error({"x": 1}) == f"{prefix}, missing=['output'], unexpected=['x']]"
    assert info.input_error({}) == f"{prefix}, missing=['output']]"
    assert info.input_error(None) == f"{prefix}, missing=['output']]"
    assert info.input_error({"output": 1, "b": 2, "a": 3}) == f"{prefix}, unexpected=['b', 'a']]"


def test_create_checks_input():
    reg = Registry()
    with pytest.raises(ActionError, match=r"unexpected=\['oops'\]"):
        reg.create("std.noop", {"oops": 1})
    action = reg.create("std.echo", {"output": "o", "delay": 0})
    assert isinstance(action, EchoAction) and action.output == "o"
    assert isinstance(reg.create("std.noop", None), NoOpAction)


def test_kwargs_action_skips_the_check():
    reg = Registry(group="levante.tests.none")
    reg.register("kw", KwargsAction)
    info = reg.get("kw")
    assert info.required == ("first",) and info.optional is None
    assert info.input_error({"first": 1, "anything": 2}) is None
    # required parameters are still reported
    assert "missing=['first']" in info.input_error({"anything": 2})
    assert info.input_text() == "first, **kwargs"
    assert reg.create("kw", {"first": 1, "z": 3}).kwargs == {"z": 3}


def test_type_error_from_init_becomes_action_error():
    reg = Registry(group="levante.tests.none")
    reg.register("picky", PickyKwargsAction)
    with pytest.raises(ActionError) as info:
        reg.create("picky", {"y": 1})
    assert str(info.value).startswith("Invalid input [name=picky, class=")
    assert "x is needed" in str(info.value)


def test_other_init_failures_become_action_error():
    reg = Registry(group="levante.tests.none")
    reg.register("refuse", RefusingAction)
    with pytest.raises(ActionError, match=r'Failed to create action "refuse" .*bad n 3'):
        reg.create("refuse", {"n": 3})


def test_action_error_from_init_is_kept():
    with pytest.raises(ActionError, match="Only one of the parameters 'json' and 'body'"):
        Registry().create("std.http", {"url": "http://x", "body": "a", "json": {"b": 1}})


def test_keyword_only_parameters():
    reg = Registry(group="levante.tests.none")
    reg.register("ko", KeywordOnlyAction)
    info = reg.get("ko")
    assert info.required == ("a",) and info.optional == ("b",)
    assert info.description == "Keyword-only parameters."
    assert reg.create("ko", {"a": 1}).run(None) == 3


def test_description_is_not_inherited():
    reg = Registry(group="levante.tests.none")
    reg.register("u", Undocumented)
    assert reg.get("u").description == ""


def test_empty_group_and_register():
    reg = Registry(group="levante.tests.none")
    assert reg.names() == []
    reg.register("my.echo", EchoAction)
    assert reg.names() == ["my.echo"]
    info = reg.get("my.echo")
    assert isinstance(info, ActionInfo) and info.cls is EchoAction and info.name == "my.echo"
    assert "name=my.echo" in info.input_error({})


def test_register_overrides_entry_point():
    reg = Registry()
    reg.register("std.echo", KwargsAction)
    assert reg.get("std.echo").cls is KwargsAction
    assert reg.names().count("std.echo") == 1


def test_register_refuses_non_actions():
    reg = Registry(group="levante.tests.none")
    with pytest.raises(ActionError, match="not an action class"):
        reg.register("bad", object())
    with pytest.raises(ActionError, match="not an action class"):
        reg.register("bad", int)


@pytest.fixture()
def plugin_dist(tmp_path, monkeypatch):
    """A real installed distribution (a dist-info on sys.path) with good and broken entry points."""
    dist = tmp_path / "levante_test_plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: levante-test-plugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[levante.tests.plugins]\n"
        "good = levante.actions.std.basic:NoOpAction\n"
        "missing_module = levante_no_such_module_xyz:Action\n"
        "missing_class = levante.actions.std.basic:NoSuchClass\n"
        "not_a_class = levante.actions.std.basic:_seconds\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "levante.tests.plugins"


def test_broken_entry_points_do_not_break_the_registry(plugin_dist):
    reg = Registry(group=plugin_dist)
    assert reg.names() == ["good", "missing_class", "missing_module", "not_a_class"]
    assert reg.get("good").cls is NoOpAction
    with pytest.raises(ActionError) as info:
        reg.get("missing_module")
    assert not isinstance(info.value, ActionNotFoundError)
    assert "missing_module = levante_no_such_module_xyz:Action" in str(info.value)
    assert "group levante.tests.plugins" in str(info.value)
    with pytest.raises(ActionError, match="missing_class = levante.actions.std.basic:NoSuchClass"):
        reg.find("missing_class")
    with pytest.raises(ActionError, match='"not_a_class" is not an action class'):
        reg.get("not_a_class")
    # the good one still works afterwards
    assert isinstance(reg.create("good", {}), NoOpAction)


def test_concurrent_lookups():
    reg = Registry()
    errors, infos = [], []

    def worker():
        try:
            infos.append(reg.get("std.http"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({id(i) for i in infos}) == 1


def test_default_registry_is_shared():
    assert default_registry() is default_registry()
    assert default_registry().group == "levante.actions"


def test_nothing_is_imported_or_registered_at_import():
    code = (
        "import sys, levante.actions as a\n"
        "from levante.actions import default_registry\n"
        "mods = [m for m in sys.modules if m.startswith('levante.actions.std.')]\n"
        "assert not mods, mods\n"
        "reg = default_registry()\n"
        "assert reg._entry_points is None and not reg._infos\n"
        "names = reg.names()\n"
        "assert 'std.http' in names\n"
        "mods = [m for m in sys.modules if m.startswith('levante.actions.std.')]\n"
        "assert not mods, mods\n"
        "reg.get('std.echo')\n"
        "assert 'levante.actions.std.basic' in sys.modules\n"
        "assert 'levante.actions.std.http' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
