"""`harness report`: one self-contained HTML file, checked in a real headless browser (Debian's
Chromium) on a real small campaign, plus escaping, one-variant and unknown-campaign checks on
hand-made stores."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.analysis.report import SECTIONS, build_report
from harness.store import Store

CHROMIUM = Path("/usr/bin/chromium")
FAST = ["--min-runs", "5", "--min-seconds", "0.05", "--warmup-runs", "1", "--profile-runs", "5"]
PNG_RE = re.compile(r'<img[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def harness(*args: str, cwd: Path, cache_home: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home), COLUMNS="200")
    env.pop("HARNESS_INVENTORY", None)
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def real(tmp_path_factory, cache_home):
    """A real tiny campaign (4 variants x 2 latency runs, profile runs, accuracy runs) and its report."""
    root = tmp_path_factory.mktemp("report")
    proc = harness("run", "--example", "tiny_cnn", "--repeats", "2", "--accuracy", "--results", str(root / "results"),
                   "--campaign", "r1", *FAST, cwd=root, cache_home=cache_home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = harness("report", "--results", str(root / "results"), "--out", str(root / "report.html"), cwd=root,
                   cache_home=cache_home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, proc


def chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's Chromium is missing (/usr/bin/chromium): install the apt package `chromium` "
                    "(apt-get install -y chromium; in CI add `chromium` to .ci/run's apt-get line).")
    argv = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp / 'chromium-profile'}", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "Uncaught" in line or "ERROR:CONSOLE" in line
            or ":CONSOLE(" in line]


def test_the_browser_renders_the_answer_sections_and_every_plot(real, tmp_path):
    root, proc = real
    page = root / "report.html"
    dom = chromium("--dump-dom", page.as_uri(), tmp=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_errors(dom.stderr) == []
    # the answer sentence the command printed is the page's first paragraph
    first_line = proc.stderr.strip().splitlines()[0]
    assert first_line.startswith("On "), proc.stderr
    import html as html_mod

    assert html_mod.escape(first_line.strip(), quote=True) in dom.stdout
    for sid, title in SECTIONS:
        assert f'id="{sid}"' in dom.stdout and f"<h2>{title}</h2>" in dom.stdout, sid
    # plots: latency (1 device) + ratios + per-op type in 2 kernel modes + accuracy vs latency = 5
    images = PNG_RE.findall(dom.stdout)
    assert len(images) == 5
    assert dom.stdout.count("<img") == 5
    from PIL import Image

    for b64 in images:
        data = base64.b64decode(b64)
        assert len(data) > 8_000
        img = Image.open(io.BytesIO(data)).convert("RGB")
        assert img.width >= 800 and img.height >= 200
        assert len(img.getcolors(maxcolors=1 << 20) or []) > 20  # drawn, not blank
    # nothing leaves the file: no scripts, no external URLs
    assert "<script" not in dom.stdout.lower()
    assert not re.search(r'(src|href)="(https?:)?//', dom.stdout)


def test_the_screenshot_is_a_drawn_page(real, tmp_path):
    root, _ = real
    shot = tmp_path / "report.png"
    proc = chromium("--window-size=1200,3000", f"--screenshot={shot}", (root / "report.html").as_uri(),
                    tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert console_errors(proc.stderr) == []
    from PIL import Image

    img = Image.open(shot).convert("RGB")
    assert img.size == (1200, 3000)
    # the plots are painted: the boxes' variant colours appear on screen
    colours = {c for _, c in img.getcolors(maxcolors=1 << 22)}
    assert len(colours) > 200


def test_the_accuracy_table_and_ratios_come_from_the_campaign(real):
    root, _ = real
    text = (root / "report.html").read_text()
    assert "top-1 agreement" in text and "SQNR (dB)" in text
    assert "dynamic-range" in text and "int8" in text
    if build_report(root / "results", "r1").notes:  # e.g. the comparison module is absent
        return
    assert "Mann-Whitney" in text and "95 % CI" in text


# --- hand-made stores ------------------------------------------------------------------------

EVIL_MODEL = "<b>bold</b> net"
EVIL_OP = "<script>alert(1)</script>"
EVIL_DEVICE_MODEL = '<img src=x onerror="alert(2)">'


def _land(store: Store, campaign: str, variant: str, repeat: int, mode: str = "latency") -> None:
    run_id = f"{campaign}/{variant}.{mode}.r{repeat}"
    samples = [{"iteration": i, "latency_us": 1000.0 + 37 * ((i * 7 + repeat) % 11) + (200 if variant == "fp32" else 0)}
               for i in range(40)]
    lat = [s["latency_us"] for s in samples]
    mean = sum(lat) / len(lat)
    run = {"run_id": run_id, "campaign": campaign, "device": "phone", "transport": "local",
           "device_model": EVIL_DEVICE_MODEL, "facts_json": json.dumps({"device_model": EVIL_DEVICE_MODEL, "cores": 8}),
           "runner": "litert", "runtime": "ai_edge_litert", "runtime_version": "2.3.0", "model_name": EVIL_MODEL,
           "variant": variant, "mode": mode, "threads": 1, "delegate": "xnnpack", "repeat": repeat, "status": "ok",
           "count": len(lat), "mean_us": mean, "std_us": 20.0, "min_us": min(lat), "p50_us": sorted(lat)[20],
           "max_us": max(lat), "started_at": f"2026-01-01T00:00:{repeat:02d}+00:00"}
    ops = []
    if mode == "profile":
        ops = [{"phase": "invoke", "position": 0, "op_type": EVIL_OP, "avg_ms": 0.6, "per_run_ms": 0.6,
                "times_called": 1, "delegated": True},
               {"phase": "invoke", "position": 1, "op_type": "CONV_2D", "avg_ms": 0.3, "per_run_ms": 0.3,
                "times_called": 1, "delegated": True}]
    store.land_run(campaign, run_id.split("/")[1], {"run": run, "ops": ops, "samples": [] if ops else samples})


def _hand_made(root: Path, campaign: str, variants: list[str]) -> Store:
    store = Store(root)
    store.write_campaign(campaign, {"campaign": campaign, "created_at": "2026-01-01T00:00:00+00:00",
                                    "model_name": EVIL_MODEL, "devices": ["phone"]})
    for r in range(4):
        for v in variants:
            _land(store, campaign, v, r)
    for v in variants:
        _land(store, campaign, v, 0, mode="profile")
    return store


def test_every_string_from_the_data_is_escaped(tmp_path):
    _hand_made(tmp_path / "results", "evil", ["fp32", "int8"])
    rep = build_report(tmp_path / "results", "evil")
    page = rep.html
    assert "<script" not in page.lower()
    assert EVIL_MODEL not in page and EVIL_DEVICE_MODEL not in page
    assert "&lt;b&gt;bold&lt;/b&gt; net" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the op type, in the key numbers
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    for sid, _ in SECTIONS:
        assert f'<section id="{sid}">' in page
    assert rep.baseline == "fp32" and rep.candidate == "int8"


def test_newest_campaign_by_default_and_one_variant_works(tmp_path, cache_home):
    _hand_made(tmp_path / "results", "two", ["fp32", "int8"])
    store = _hand_made(tmp_path / "results", "solo", ["fp16"])
    store.write_campaign("solo", {"campaign": "solo", "created_at": "2026-02-01T00:00:00+00:00",
                                  "model_name": "m", "devices": ["phone"]})
    proc = harness("report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "solo.html"),
                   cwd=tmp_path, cache_home=cache_home)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "solo.html").read_text()
    assert "campaign solo" in page
    assert "one variant: there is nothing to compare it with" in page
    assert len(PNG_RE.findall(page)) == 2  # latency + per-op types; no ratios, no accuracy
    for sid, _ in SECTIONS:
        assert f'<section id="{sid}">' in page


def test_unknown_campaign_or_variant_exits_2_with_a_clear_message(tmp_path, cache_home):
    _hand_made(tmp_path / "results", "c-2026", ["fp32", "int8"])
    proc = harness("report", "c-2025", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "x.html"),
                   cwd=tmp_path, cache_home=cache_home)
    assert proc.returncode == 2
    assert "No campaign 'c-2025'" in proc.stderr and "c-2026" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.html").exists()
    proc = harness("report", "c-2026", "--baseline", "fp64", "--results", str(tmp_path / "results"),
                   "--out", str(tmp_path / "x.html"), cwd=tmp_path, cache_home=cache_home)
    assert proc.returncode == 2 and "--baseline 'fp64' is not a variant" in proc.stderr
    proc = harness("report", "--results", str(tmp_path / "nothing"), cwd=tmp_path, cache_home=cache_home)
    assert proc.returncode == 2 and "No results store" in proc.stderr
