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
from tests.doubles.farm_copy import copy_to_farm

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
    # the page opens with what to ship (harness recommend's answer), and memory sits beside latency
    ship = dom.stdout[dom.stdout.index('<section id="ship">'):]
    assert dom.stdout.index('id="ship"') < dom.stdout.index('id="numbers"')
    assert re.search(r"<td class=\"\">(fp32|fp16|dynamic-range|int8)</td>", ship[:ship.index("</section>")])
    assert "memory (MB)" in dom.stdout
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


# --- a farm: the real campaign copied to many devices ------------------------------------------

# Which variant is fastest on a group of devices, as latency relative to the source's fp32 median:
# seven phones where fp32 wins, three where int8 does, two where dynamic-range does.
FARM_GROUPS = {
    "common": ("Pixel 7", 7, {"fp32": 1.0, "fp16": 1.15, "dynamic": 1.6, "int8": 1.4}),
    "int8": ('<i>Galaxy</i> A54', 3, {"fp32": 1.3, "fp16": 1.4, "dynamic": 1.6, "int8": 0.8}),
    "dynamic": ("Moto G", 2, {"fp32": 1.3, "fp16": 1.4, "dynamic": 0.9, "int8": 1.5}),
}


def farm_devices(groups=FARM_GROUPS) -> list[tuple[str, str, dict[str, float]]]:
    out = []
    for group, (model, n, targets) in groups.items():
        out += [(f"{group}-{k}", model, targets) for k in range(n)]
    return out


@pytest.fixture(scope="module")
def farm(real, tmp_path_factory, cache_home):
    """The real campaign as a farm of 12 devices that disagree on the fastest variant, and its page
    with --detail 2."""
    root, _ = real
    dest = tmp_path_factory.mktemp("farm")
    copy_to_farm(root / "results" / "r1", dest / "results", farm_devices())
    proc = harness("report", "farm", "--detail", "2", "--results", str(dest / "results"), "--out",
                   str(dest / "farm.html"), cwd=dest, cache_home=cache_home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest, proc


def test_a_farm_page_shows_the_farm_and_two_devices_in_the_browser(farm, tmp_path):
    from harness.analysis.report_farm import FARM_SECTIONS

    root, proc = farm
    page = root / "farm.html"
    assert page.stat().st_size < 3_000_000
    dom = chromium("--dump-dom", page.as_uri(), tmp=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_errors(dom.stderr) == []
    text = dom.stdout
    for sid, title in FARM_SECTIONS:
        assert f'id="{sid}"' in text and f"<h2>{title}</h2>" in text, sid
    # it opens with what to ship: every device answered, grouped by answer
    ship = text[text.index('<section id="ship">'):]
    ship = ship[:ship.index("</section>")]
    assert sum(int(n) for n in re.findall(r"\b(\d+) devices?\b", ship.split("</p>")[0])) == 12
    # the answer: every device counted, grouped by its fastest variant
    assert "Across 12 devices, int8 against dynamic-range: detectably faster on 10, slower on 2" in text
    assert "Fastest (lowest median latency): fp32 on 7 devices, int8 on 3 devices, dynamic-range on 2 devices." in text
    # plots: heatmap + spread + (latency + op types) for each of the 2 devices + accuracy of those 2
    images = PNG_RE.findall(text)
    assert len(images) == 2 + 2 * 2 + 1 <= 15
    assert 'alt="heatmap of each variant' in text
    # the heatmap is drawn in both colours: devices disagree
    from PIL import Image

    heat = Image.open(io.BytesIO(base64.b64decode(images[0]))).convert("RGB")
    colours = [c for _, c in heat.getcolors(maxcolors=1 << 20)]
    assert any(g > r + 60 for r, g, _ in colours) and any(r > g + 60 for r, g, _ in colours)
    # the two devices that differ most: one of each minority group, not two alike
    detailed = re.findall(r'<h3 id="device-\d">([^<]*)</h3>', text)
    assert len(detailed) == 2
    assert {re.search(r"\((\w+)-\d\)", t).group(1) for t in detailed} == {"int8", "dynamic"}, detailed
    # every device in one table, sorted by int8's ratio to dynamic-range, fastest first
    table = text[text.index('<section id="table">'):]
    table = table[:table.index("</section>")]
    rows = re.findall(r"<tr><td>([^<]+)</td>.*?</tr>", table)
    assert len(rows) == 12
    ratios = [float(r) for r in re.findall(r'<td class="n (?:faster|slower)?">([\d.]+) \(', table)[::3]]
    assert ratios == sorted(ratios) and len(ratios) == 12
    assert [r.split("-")[0] for r in rows[:3]] == ["int8"] * 3  # the int8 phones lead
    # strings from the data are escaped here too; nothing runs, nothing leaves the file
    assert "<i>Galaxy</i>" not in text and "&lt;i&gt;Galaxy&lt;/i&gt; A54" in text
    assert "<script" not in text.lower()
    assert not re.search(r'(src|href)="(https?:)?//', text)


def test_a_farm_page_reads_no_invoke_and_detail_sets_its_sections(farm, monkeypatch, tmp_path):
    import harness
    import harness.store
    from harness.errors import UserError

    root, _ = farm
    loaded = harness.store.load_results

    class AggregatesOnly:
        def __init__(self, res):
            self.runs, self.ops = res.runs, res.ops

        @property
        def samples(self):
            raise AssertionError("a farm's page read the timed invokes")

    monkeypatch.setattr(harness.store, "load_results", lambda *a, **k: AggregatesOnly(loaded(*a, **k)))
    rep = build_report(root / "results", "farm", detail=0)
    assert rep.plots == 2 and 'id="device-1"' not in rep.html
    assert len(rep.answer) == 2  # the pair across the farm, the fastest variant: not a sentence per device
    written = harness.report(root / "results" / "farm", out=tmp_path / "one.html", detail=1)
    assert written.plots == 2 + 2 + 1 and written.bytes < 3_000_000
    assert (tmp_path / "one.html").read_text().count('<h3 id="device-') == 1
    with pytest.raises(UserError, match="--detail 7: give 0 to 6"):
        build_report(root / "results", "farm", detail=7)


def test_four_devices_keep_the_small_page(real, tmp_path):
    root, _ = real
    groups = {"common": FARM_GROUPS["common"][:1] + (4,) + FARM_GROUPS["common"][2:]}
    copy_to_farm(root / "results" / "r1", tmp_path / "results", farm_devices(groups))
    rep = build_report(tmp_path / "results", "farm")
    for sid, _ in SECTIONS:
        assert f'<section id="{sid}">' in rep.html
    assert 'id="table"' not in rep.html and 'id="detail"' not in rep.html
    # latency per device (4) + op types per device and kernel mode (8) + ratios + accuracy
    assert rep.plots == 4 + 8 + 1 + 1
    assert len(rep.answer) >= 4  # a sentence per device
