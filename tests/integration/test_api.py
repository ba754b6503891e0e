"""The Python API as a user calls it (a notebook, a pytest fixture, a CI script): real runs of the
tiny_cnn example on this host through harness.run, then compare, summary, report and reopening the
campaign, and the errors it raises instead of exiting."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import harness
from harness.errors import HarnessError, UserError

FAST = dict(min_runs=5, min_seconds=0.05, warmup_runs=1, profile_runs=5)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory, cache_home):
    """fp32 and int8, 5 repeats, XNNPACK profile runs: one real campaign for the module."""
    root = tmp_path_factory.mktemp("api")
    events = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(cache_home))
        c = harness.run(example="tiny_cnn", variants=["fp32", "int8"], repeats=5, profile_kernels=["xnnpack"],
                        results=root / "results", campaign="api", on_event=events.append, **FAST)
        yield c, events


def test_run_returns_the_campaign_with_its_frames(campaign):
    c, events = campaign
    assert isinstance(c, harness.Campaign) and c.name == "api" and c.ok
    assert c.path.is_dir() and (c.path / "campaign.json").is_file()
    runs = c.results().runs
    assert len(runs) == 12 and (runs["status"] == "ok").all()  # 2 variants x 5 repeats + 2 profile runs
    assert {e.kind for e in events} >= {"start", "landed"} and sum(e.kind == "landed" for e in events) == 12
    assert c.meta()["args"]["variants"] == "fp32,int8"  # what resume needs, written as the CLI writes it
    assert c.outcome is not None and len(c.outcome.landed) == 12


def test_summary_is_the_table_harness_run_prints(campaign):
    c, _ = campaign
    table = c.summary()
    assert list(table["variant"]) == ["fp32", "int8"] and set(table["runs"]) == {5}
    assert table.loc[table["variant"] == "fp32", "vs_fp32"].item() == 1.0


def test_compare_gives_the_rows_of_compare_format_json(campaign, cache_home):
    c, _ = campaign
    frame = harness.compare(c, baseline="fp32", candidate="int8")
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    cli = subprocess.run([sys.executable, "-m", "harness", "compare", "api", "--baseline", "fp32", "--candidate",
                          "int8", "--format", "json", "--results", str(c.store.root)],
                         capture_output=True, text=True, env=env, check=True)
    rows = json.loads(cli.stdout)
    assert list(frame.columns) == list(rows[0])  # the same columns, in the same order
    assert frame.to_dict("records")[0]["ratio"] == rows[0]["ratio"]
    assert frame["ratio"].item() == pytest.approx(c.summary().set_index("variant").loc["int8", "vs_fp32"], rel=0,
                                                  abs=0)  # one median: the summary's ratio is compare's
    # by name in the store, by folder path, and the newest by default: the same campaign
    assert harness.compare("api", baseline="fp32", candidate="int8", results=c.store.root)["ratio"].item() == \
        frame["ratio"].item()
    assert harness.open_campaign(c.path).name == "api"
    assert harness.open_campaign(results=c.store.root).name == "api"


def test_report_writes_one_file(campaign, tmp_path):
    c, _ = campaign
    written = harness.report(c, out=tmp_path / "r.html")
    assert written.path.is_file() and written.bytes == written.path.stat().st_size
    assert written.campaign == "api" and written.answer and "<html" in written.path.read_text()


def test_a_second_call_resumes_without_running_anything_again(campaign):
    c, _ = campaign
    again = harness.run(example="tiny_cnn", variants=["fp32", "int8"], repeats=5, profile_kernels=["xnnpack"],
                        results=c.store.root, campaign="api", **FAST)
    assert again.outcome is not None and again.outcome.landed == [] and len(again.outcome.skipped) == 12
    assert "resuming campaign api" in again.notes
    resumed = harness.run(resume="api", results=c.store.root)  # the recorded call, by name
    assert resumed.outcome is not None and resumed.outcome.landed == [] and len(resumed.outcome.skipped) == 12


@pytest.mark.parametrize("kwargs, says", [
    (dict(device="nowhere"), "Unknown device 'nowhere'"),
    (dict(variants="fp64"), "Unknown variant 'fp64'"),
    (dict(repeats=0), "--repeats must be at least 1"),
    (dict(threads="two"), "--threads takes whole numbers"),
    (dict(min_runs=0), "--min-runs"),
    (dict(busy="maybe"), "--busy must be wait or skip"),
    (dict(cooldown="soon"), "--cooldown takes seconds or 'auto'"),
    (dict(example="resnet"), "resnet"),
])
def test_bad_input_raises_user_error_and_writes_nothing(tmp_path, kwargs, says):
    with pytest.raises(UserError, match=says.replace("(", r"\(").replace("'", ".")) as err:
        harness.run(results=tmp_path / "results", **{"example": "tiny_cnn", **kwargs})
    assert err.value.exit_code == 2
    assert not (tmp_path / "results").exists()


def test_a_device_set_up_error_is_raised_after_the_runs_with_the_campaign(tmp_path, cache_home, monkeypatch):
    """benchmark_model on this host with no binary in the tool cache: a UserError for the device, raised
    as itself (not a string) with the campaign attached."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))  # no tools
    with pytest.raises(UserError, match="No benchmark_model binary") as err:
        harness.run(example="tiny_cnn", variants="fp32", repeats=1, profile=False, runner="benchmark_model",
                    results=tmp_path / "results", campaign="c", **FAST)
    ran = err.value.campaign  # type: ignore[attr-defined]
    assert isinstance(ran, harness.Campaign) and ran.name == "c" and not ran.ok
    assert set(ran.outcome.user_errors) == {"local"}


def test_errors_cross_process_boundaries_as_themselves():
    import pickle

    from harness.errors import AmbiguousDeviceError, DeviceBusy, UnknownDeviceError

    for error in (UnknownDeviceError("x", ["local"], attached="none"), AmbiguousDeviceError("pixel", ["a", "b"]),
                  DeviceBusy("pixel", None, 3.0), HarnessError("plain")):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and str(back) == str(error) and back.__dict__ == error.__dict__
