from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_inventory, parse_variants
from harness.errors import ConfigError, UnknownDeviceError, UserError
from harness.plan import build_plan
from harness.prepare import parse_int_list


def test_plan_interleaves_variants_and_rotates_each_repeat():
    plan = build_plan(["local"], "m", ["fp32", "fp16", "dynamic", "int8"], [1], 2, profile=False)
    assert [i.variant for i in plan] == ["fp32", "fp16", "dynamic", "int8", "fp16", "dynamic", "int8", "fp32"]
    assert [i.repeat for i in plan] == [0] * 4 + [1] * 4


def test_plan_keys_are_unique_and_stable():
    a = build_plan(["local"], "m", ["fp32", "int8"], [1, 2], 3)
    b = build_plan(["local"], "m", ["fp32", "int8"], [1, 2], 3)
    assert [i.key for i in a] == [i.key for i in b]
    assert len({i.key for i in a}) == len(a) == 2 * 2 * 3 + 2 * 2 * 2
    profile = [i for i in a if i.mode == "profile"]
    assert {i.kernels for i in profile} == {"xnnpack", "builtin"}


@pytest.mark.parametrize("bad", [dict(repeats=0), dict(threads=[0]), dict(kernels="gpu")])
def test_plan_rejects_bad_options(bad):
    kwargs = dict(repeats=1, threads=[1], kernels="xnnpack") | bad
    with pytest.raises(UserError):
        build_plan(["local"], "m", ["fp32"], kwargs["threads"], kwargs["repeats"], kernels=kwargs["kernels"])


def test_variant_and_thread_lists():
    assert parse_variants("int8,fp32,int8") == ["int8", "fp32"]
    assert parse_variants(None) == ["fp32", "fp16", "dynamic", "int8"]
    with pytest.raises(UserError, match="Valid variants"):
        parse_variants("fp32,int4")
    assert parse_int_list("1,2,4", "--threads") == [1, 2, 4]
    for bad in ("0", "a", ""):
        with pytest.raises(UserError, match="--threads"):
            parse_int_list(bad, "--threads")


def test_inventory_has_local_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HARNESS_INVENTORY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    inv = load_inventory()
    assert inv.names() == ["local"] and inv.source is None
    assert inv.get("local").default_runner == "litert"


def test_inventory_file_and_close_names(tmp_path: Path, monkeypatch):
    f = tmp_path / "devices.toml"
    f.write_text(
        '[devices.pixel]\ntransport = "adb"\nserial = "1A2B"\ntags = ["android"]\n'
        '[devices.pi5]\ntransport = "ssh"\nhost = "pi5.lan"\nuser = "pi"\nrunner = "litert"\n'
    )
    monkeypatch.setenv("HARNESS_INVENTORY", str(f))
    inv = load_inventory()
    assert inv.get("pixel").default_runner == "benchmark_model"
    assert inv.get("pi5").default_runner == "litert"
    with pytest.raises(UnknownDeviceError, match="Did you mean 'pixel'"):
        inv.get("pixle")


@pytest.mark.parametrize(
    "text, match",
    [
        ('[devices.x]\ntransport = "usb"\n', "transport must be one of"),
        ('[devices.x]\ntransport = "adb"\n', "needs serial"),
        ('[devices.x]\ntransport = "ssh"\n', "needs host"),
        ('[devices.x]\ntransport = "ssh"\nhost="h"\ncolour = 1\n', "unknown keys"),
        ("[devices.x\n", "not valid TOML"),
    ],
)
def test_inventory_errors_say_what_is_wrong(tmp_path, text, match):
    f = tmp_path / "devices.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_inventory(f)


def test_missing_inventory_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_inventory(tmp_path / "nope.toml")
