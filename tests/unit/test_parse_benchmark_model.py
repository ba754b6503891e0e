"""benchmark_model outputs -> records, against the real golden files in tests/data/benchmark_model/.

Every number asserted below was read off the file it names (see SOURCES.md there for where each
file comes from). Inputs marked CONSTRUCTED are built in this file from real lines, for cases no
real sample covers; they say so where they are built.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import schema
from harness.errors import ParseError
from harness.parsers.benchmark_model import detect_format, parse, parse_csv, parse_proto, parse_text

DATA = Path(__file__).resolve().parent.parent / "data" / "benchmark_model"
# the golden outputs; folders beside them hold the test double's recordings
GOLDEN = sorted(p.name for p in DATA.iterdir() if p.is_file() and p.name != "SOURCES.md")


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def text(name: str) -> str:
    return load(name).decode("utf-8")


def one(name: str):
    parsed = parse(load(name))
    assert len(parsed.runs) == 1
    return parsed.runs[0]


def ops_of(run, phase: str, subgraph: int | None = 0) -> list[dict]:
    return [o for o in run.ops if o["phase"] == phase and o["subgraph"] == subgraph]


def by_name(run, name: str, phase: str = "invoke") -> dict:
    rows = [o for o in run.ops if o["op_name"] == name and o["phase"] == phase]
    assert len(rows) == 1, (name, rows)
    return rows[0]


def run_order_rows(data: str) -> int:
    """Rows of every Run Order table, counted independently of the parser (banner to blank line)."""
    n, inside = 0, False
    for line in data.splitlines():
        s = line.strip()
        if "== Run Order ==" in s:
            inside = True
            continue
        if inside:
            if not s:
                inside = False
            elif "[node type]" not in s and not s.startswith("node type,"):
                n += 1
    return n


# --- every golden file ----------------------------------------------------------------------
@pytest.mark.parametrize("name", GOLDEN)
def test_every_golden_file_gives_schema_records(name):
    parsed = parse(load(name))
    assert parsed.runs
    for r in parsed.runs:
        schema.check_record("runs", r.run)
        schema.to_frame("runs", [r.run])
        schema.to_frame("ops", [{"run_id": "x", **o} for o in r.ops])
        assert r.run["runner"] == "benchmark_model"
        assert r.run["status"] in ("ok", "failed")
        if r.run["status"] == "failed":
            assert r.run["error_class"] and r.run["error_message"]
            assert r.run["count"] is None and r.run["mean_us"] is None
        for o in r.ops:
            assert o["phase"] in ("init", "invoke")
            assert o["pct"] is None or 0 <= o["pct"] <= 100
    # ops come from the Run Order tables only, one record per row
    assert sum(len(r.ops) for r in parsed.runs) == run_order_rows(load(name).decode())


def test_detect_format_by_content():
    assert detect_format(load("cnn_int8_ops.csv")) == "csv"
    assert detect_format(load("control_flow_ops.csv")) == "csv"
    assert detect_format(load("21_tf2.x-2020-21_csv-mode-profile-with-start-column_FRAGMENT.csv.txt")) == "csv"
    for name in GOLDEN:
        if not name.endswith(".csv") and "FRAGMENT.csv" not in name:
            assert detect_format(load(name)) == "text", name
    assert detect_format(proto_bytes()) == "proto"


# --- text logs ------------------------------------------------------------------------------
def test_01_sci_notation_start_column_init_and_invoke_profiles():
    r = one("01_tf2.8_riscv64-qemu_cpu_mobilenetv1_op-profiling_sci-notation.txt")
    run = r.run
    assert run["status"] == "ok" and run["mode"] == "profile" and run["threads"] == 4
    assert run["init_us"] == 17187 and run["first_us"] == 3512391
    assert run["warmup_avg_us"] == 3512391  # warm-up line is the all-same form: count=1 curr=3512391
    assert run["count"] == 50 and run["mean_us"] == pytest.approx(2.95034e6)
    assert (run["min_us"], run["max_us"], run["std_us"]) == (2727568, 3189954, 109798)
    assert run["p50_us"] is None  # no median= in this build
    assert run["p90_us"] is None and run["p99_us"] is None
    assert run["peak_mem_mb"] is None  # only "Memory footprint delta", which is not a peak
    assert (run["mem_init_mb"], run["mem_overall_mb"]) == (4.21094, 46.0859)
    assert run["profile_invoke_us"] == pytest.approx(2.9499e6)
    assert run["model_name"] == "mobilenet_v1_1.0_224"
    init = ops_of(r, "init")
    assert [(o["op_type"], o["avg_ms"], o["times_called"], o["node_index"]) for o in init] == [
        ("AllocateTensors", 1.356, 1, None)]
    inv = ops_of(r, "invoke")
    assert len(inv) == 31  # "Number of nodes executed: 31"
    assert [o["node_index"] for o in inv] == list(range(31))
    assert [o["position"] for o in inv] == list(range(31))
    conv5 = by_name(r, "[MobilenetV1/MobilenetV1/Conv2d_5_pointwise/Relu6]:10")
    assert conv5["op_type"] == "CONV_2D" and conv5["first_ms"] == 263.724 and conv5["avg_ms"] == 277.374
    assert conv5["pct"] == 9.403 and conv5["cdf_pct"] == 39.853 and conv5["times_called"] == 1
    assert conv5["delegated"] is False and conv5["per_run_ms"] == 277.374
    assert inv[-1]["op_type"] == "SOFTMAX" and inv[-1]["cdf_pct"] == 100.0


def test_02_nnapi_partial_delegation_names_with_commas():
    r = one("02_tf2.4_android-mi11_nnapi-qti-gpu_partial-delegation_op-profiling.txt")
    assert r.run["status"] == "ok" and r.run["delegate"] == "nnapi"
    assert r.run["count"] is None and r.run["init_us"] is None  # the author trimmed the header away
    assert r.run["profile_invoke_us"] == 158715
    init = ops_of(r, "init")
    assert [o["op_type"] for o in init] == ["ModifyGraphWithDelegate", "AllocateTensors"]
    assert init[0]["mem_kb"] == 1748.0 and init[1]["times_called"] == 2 and init[1]["avg_ms"] == 158.023
    inv = ops_of(r, "invoke")
    assert len(inv) == 11
    nn = by_name(r, "[model/tf.nn.silu_16/mul, model/tf.nn.silu_26/mul, model/tf.nn.silu_35/mul]:231")
    assert nn["op_type"] == "TfLiteNnapiDelegate" and nn["delegated"] is True and nn["node_index"] == 231
    assert nn["avg_ms"] == 79.010 and nn["pct"] == 49.781
    assert [o["delegated"] for o in inv].count(True) == 3
    resize = by_name(r, "[model/lambda/resize/ResizeNearestNeighbor]:143")
    assert resize["delegated"] is False and resize["position"] == 7


def test_03_delegate_failure_is_a_failed_run_with_its_reason():
    r = one("03_tf2.4_android-mi11_nnapi-qti-default_delegate-failure.txt")
    run = r.run
    assert run["status"] == "failed" and run["error_class"] == "DelegateError"
    assert "Failed to apply NNAPI delegate." in run["error_message"]
    assert "Node number 248 (TfLiteNnapiDelegate) failed to prepare." in run["error_message"]
    assert "ANEURALNETWORKS_OP_FAILED" in run["error_message"]
    for col in ("init_us", "first_us", "warmup_avg_us", "count", "mean_us", "std_us", "min_us", "max_us"):
        assert run[col] is None, col
    assert run["threads"] == 4 and run["delegate"] == "nnapi" and r.ops == []


def test_07_info_prefix_echoed_command_no_profiling():
    run = one("07_litert-2024_linux-x86_xnnpack_INFO-prefix_no-profiling.txt").run
    assert run["status"] == "ok" and run["mode"] == "latency" and run["delegate"] == "xnnpack"
    assert (run["init_us"], run["first_us"], run["warmup_avg_us"]) == (52687, 19105, 14452.5)
    assert (run["count"], run["mean_us"], run["std_us"], run["min_us"], run["max_us"]) == (
        70, 14290.9, 452, 13728, 16145)
    assert run["p50_us"] is None and run["threads"] is None


def test_08_width40_no_start_xnnpack_per_op_rows():
    r = one("08_litert-2024_linux-x86_xnnpack-per-op-profiling_no-start-column.txt")
    assert r.run["count"] == 64 and r.run["mean_us"] == 15517.6 and r.run["init_us"] == 32163
    assert r.run["profile_invoke_us"] == 15309.2
    init = ops_of(r, "init")
    assert [(o["op_type"], o["mem_kb"]) for o in init] == [("ModifyGraphWithDelegate", 7148.0),
                                                           ("AllocateTensors", 10292.0)]
    inv = ops_of(r, "invoke")
    assert len(inv) == 171  # "Number of nodes executed: 171"
    q = inv[0]
    assert (q["op_type"], q["op_name"], q["node_index"], q["delegated"], q["avg_ms"]) == (
        "QUANTIZE", "[tfl.quantize]:0", 0, False, 0.203)
    dw = inv[2]
    assert dw["op_type"] == "Convolution (NHWC, QC8) DWConv"
    assert dw["op_name"] == "Delegate/Convolution (NHWC, QC8) DWConv:1"
    assert dw["times_called"] == 13 and dw["first_ms"] == 0.428 and dw["avg_ms"] == 0.051  # avg < first
    assert dw["delegated"] is True and dw["node_index"] is None  # the :1 is XNNPACK's op id, not a node
    assert dw["per_run_ms"] == pytest.approx(0.051 * 13)
    post = by_name(r, "[StatefulPartitionedCall:3, StatefulPartitionedCall:2, StatefulPartitionedCall:1, "
                      "StatefulPartitionedCall:0]:266")
    assert post["op_type"] == "TFLite_Detection_PostProcess" and post["node_index"] == 266
    assert post["avg_ms"] == 3.653 and post["pct"] == 23.862 and post["delegated"] is False
    assert inv[-1]["op_name"] == "Delegate/Max Pooling (NHWC, S8):19" and inv[-1]["cdf_pct"] == 100.0
    types = {o["op_type"] for o in inv}
    assert {"Add (ND, QS8)", "Convert (NC, QS8, F32)", "Copy (NC, X8)", "Sigmoid (NC, QS8)"} <= types


def test_10_legacy_average_timings_rst_indented():
    run = one("10_tflite1.12_am57x-linux-armv7_legacy-average-timings-format_rst-indented.txt").run
    assert run["status"] == "ok" and run["threads"] == 1
    assert run["init_us"] == 4452 and run["warmup_avg_us"] == 146161 and run["first_us"] == 146161
    assert (run["count"], run["mean_us"], run["min_us"], run["max_us"], run["std_us"]) == (
        50, 137722, 137079, 143416, 896)
    assert run["model_name"] == "mobilenet_v1_1.0_224_quant"


def test_12_percentiles_and_sci_notation():
    run = one("12_tf2.20_ti-am62x-linux_cpu-only_percentiles_rst-indented.txt").run
    assert run["count"] == 50 and run["mean_us"] == pytest.approx(1.24027e6)
    assert run["p50_us"] == 1239807 and run["min_us"] == 1238588 and run["max_us"] == 1252566
    assert run["first_us"] == 1357602 and run["init_us"] == 5579
    assert run["delegate"] == "none"  # Use xnnpack: [0]


def test_13_litert_compiled_model_tool():
    r = one("13_litert-2025_android-sme2_litert-compiledmodel-benchmark_use_profiler.txt")
    run = r.run
    assert run["runtime"] == "litert_compiled_model" and run["status"] == "ok"
    assert run["count"] == 2112 and run["mean_us"] == 464.545 and run["p50_us"] == 462
    assert run["first_us"] == 1033 and run["warmup_avg_us"] == 465.319
    assert run["init_us"] == pytest.approx(4478)  # "Initialized session in 4.478ms."
    assert run["peak_mem_mb"] is None  # "Peak memory usage not available."
    assert (run["mem_init_mb"], run["mem_overall_mb"]) == (8.94, 11.51)  # "Init footprint:", "Overall footprint:"
    assert run["profile_invoke_us"] == 411.071 and run["delegate"] == "xnnpack"
    inv = ops_of(r, "invoke")
    assert [o["op_type"] for o in inv] == ["LiteRT::Run[buffer registration]", "AllocateTensors",
                                           "Static Reshape (NC)", "Fully Connected (NC, PF32) GEMM",
                                           "LiteRT::Run[Buffer sync]"]
    alloc = inv[1]
    assert alloc["times_called"] == 0 and alloc["mem_kb"] == 452.0 and alloc["per_run_ms"] is None
    fc = inv[3]
    assert fc["avg_ms"] == 0.382 and fc["pct"] == 92.948 and fc["delegated"] is True and fc["node_index"] is None


def test_13_litert_block_alone_gives_ms_values_in_us():
    # CONSTRUCTED: 13 without its count= lines, so only the BENCHMARK RESULTS block (ms) is left
    lines = [x for x in text("13_litert-2025_android-sme2_litert-compiledmodel-benchmark_use_profiler.txt")
             .splitlines() if "count=" not in x and "Initialized session" not in x]
    run = parse_text("\n".join(lines)).runs[0].run
    assert run["init_us"] == pytest.approx(4480) and run["first_us"] == pytest.approx(1030)
    assert run["warmup_avg_us"] == pytest.approx(470) and run["mean_us"] == pytest.approx(460)
    assert run["count"] == 2112 and run["min_us"] == pytest.approx(440) and run["max_us"] == pytest.approx(980)


def test_14_full_verbose_params_old_peak_label_is_a_delta():
    r = one("14_tf2.4dev-nightly-2020-11_android-poco-x3_cpu_full-verbose-params_op-profiling.txt")
    run = r.run
    assert run["threads"] == 2 and run["delegate"] == "none"
    assert (run["init_us"], run["first_us"], run["warmup_avg_us"], run["count"], run["mean_us"]) == (
        746, 49587, 18851.5, 58, 17138)
    assert run["peak_mem_mb"] is None  # the old "Peak memory footprint" label is a delta from the start
    assert (run["mem_init_mb"], run["mem_overall_mb"]) == (2.58594, 15.7461)
    inv = ops_of(r, "invoke")
    assert len(inv) == 77 and len(ops_of(r, "init")) == 1
    assert inv[-1]["op_name"] == "[Identity]:76" and inv[-1]["avg_ms"] == 1.521 and inv[-1]["pct"] == 8.894


def test_stdout_of_csv_mode_run_has_timings_but_no_ops():
    run = one("cnn_dynamic_csv-mode_stdout.txt")
    assert run.ops == [] and run.run["mode"] == "profile"
    assert (run.run["count"], run.run["mean_us"], run.run["p50_us"], run.run["first_us"]) == (26421, 35.8406, 35, 76)


def test_cnn_fp32_and_int8_stdout():
    fp32, int8 = one("cnn_fp32_op-profiling_stdout.txt"), one("cnn_int8_op-profiling_stdout.txt")
    assert (fp32.run["count"], fp32.run["mean_us"], fp32.run["p50_us"], fp32.run["init_us"]) == (
        23992, 39.8274, 38, 1291)
    assert (int8.run["count"], int8.run["mean_us"], int8.run["p50_us"], int8.run["init_us"]) == (
        35158, 26.2584, 26, 1011)
    inv = ops_of(int8, "invoke")
    assert len(inv) == 11
    assert inv[0]["op_type"] == "Convolution (NHWC, QC8) IGEMM" and inv[0]["pct"] == 35.097
    assert inv[-1]["op_type"] == "SOFTMAX" and inv[-1]["op_name"] == "[StatefulPartitionedCall_1:0]:8"
    assert inv[-1]["node_index"] == 8 and inv[-1]["delegated"] is False


def test_multi_subgraph_profile():
    r = one("control_flow_multi-subgraph_op-profiling_stdout.txt")
    assert r.run["profile_invoke_us"] == 288.374  # the primary graph's Timings, not a subgraph's
    assert r.run["count"] == 3163 and r.run["mean_us"] == 308.287 and r.run["p50_us"] == 236
    assert {o["subgraph"] for o in ops_of_phase(r, "init")} == {0, 1, 2, 3, 4}
    assert {o["subgraph"] for o in ops_of_phase(r, "invoke")} == {0, 2, 3, 4}
    body_init = ops_of(r, "init", 4)
    assert [(o["op_name"], o["avg_ms"], o["mem_kb"]) for o in body_init] == [
        ("ModifyGraphWithDelegate/4", 0.028, 0.0), ("AllocateTensors/4", 0.013, 128.0)]
    main = ops_of(r, "invoke", 0)
    assert [o["op_type"] for o in main][:1] == ["WHILE"] and len(main) == 5
    assert [o["position"] for o in ops_of(r, "invoke", 4)] == [0, 1, 2, 3]


def ops_of_phase(run, phase: str) -> list[dict]:
    return [o for o in run.ops if o["phase"] == phase]


def test_help_output_is_a_failed_usage_run():
    run = one("help.txt").run
    assert run["status"] == "failed" and run["error_class"] == "UsageError"
    assert "usage: ./benchmark_model <flags>" in run["error_message"]


# --- CSV profiles ----------------------------------------------------------------------------
def test_csv_current_build_commas_in_types_and_tab_escaped_names():
    r = parse_csv(text("cnn_dynamic_ops.csv")).runs[0]
    assert r.run["status"] == "ok" and r.run["count"] is None and r.run["mean_us"] is None
    assert r.run["profile_invoke_us"] == 28.783
    init = ops_of(r, "init")
    assert [(o["op_type"], o["first_ms"], o["pct"], o["mem_kb"]) for o in init] == [
        ("ModifyGraphWithDelegate", 0.146, 54.2751, 588.0), ("AllocateTensors", 0.123, 45.7249, 728.0)]
    inv = ops_of(r, "invoke")
    assert len(inv) == 12
    fc = inv[5]
    assert fc["op_type"] == "Fully Connected (NC, QDU8, F32, QC8W) GEMM"
    assert fc["op_name"] == "Delegate/Fully Connected (NC, QDU8, F32, QC8W) GEMM:5"  # TABs back to commas
    assert (fc["first_ms"], fc["avg_ms"], fc["pct"], fc["cdf_pct"]) == (0.007, 0.00639911, 22.2323, 99.9074)
    reshape = inv[7]
    assert reshape["avg_ms"] == pytest.approx(1.51395e-07) and reshape["pct"] == pytest.approx(0.000525986)


def test_csv_control_flow_subgraphs():
    r = parse_csv(text("control_flow_ops.csv")).runs[0]
    assert r.run["profile_invoke_us"] == 260.733
    main = ops_of(r, "invoke", 0)
    assert main[0]["op_name"] == "[while, while1]:0" and main[0]["node_index"] == 0 and main[0]["op_type"] == "WHILE"
    body = ops_of(r, "invoke", 4)
    assert [(o["op_type"], o["times_called"]) for o in body] == [
        ("AllocateTensors", 1), ("ADD", 5), ("Static Reshape (NC)", 5), ("Fully Connected (NC, F32) GEMM", 5)]
    assert body[1]["avg_ms"] == 0.000124492 and body[1]["per_run_ms"] == pytest.approx(0.000124492 * 5)
    assert body[2]["avg_ms"] == 0.0 and body[2]["pct"] == 0.0  # a real 0 stays 0
    assert len(r.ops) == 23


def test_csv_old_build_with_start_column_fragment():
    r = parse(load("21_tf2.x-2020-21_csv-mode-profile-with-start-column_FRAGMENT.csv.txt")).runs[0]
    inv = ops_of(r, "invoke")
    assert len(inv) == 12 and r.ops == inv
    assert (inv[0]["op_type"], inv[0]["first_ms"], inv[0]["avg_ms"], inv[0]["pct"]) == ("CONV_2D", 0.11, 0.0930388,
                                                                                      44.8994)
    assert inv[10]["first_ms"] == 0.0 and inv[10]["avg_ms"] == 0.000406285 and inv[10]["op_type"] == "FULLY_CONNECTED"
    assert inv[-1]["op_name"] == "[Identity]:11" and inv[-1]["cdf_pct"] == 100.0
    # the init section's total (count=1 curr=29) is not the invoke total, which the fragment lost
    assert r.run["profile_invoke_us"] is None


def test_csv_names_with_comma_space_in_old_builds():
    # CONSTRUCTED: an old (unescaped) CSV row whose type and name both hold ", "
    data = ("Operator-wise Profiling Info for Regular Benchmark Runs:\n"
            "============================== Run Order ==============================\n"
            "node type, start, first, avg_ms, %, cdf%, mem KB, times called, name\n"
            "Convolution (NHWC, QC8) GEMM, 0.5, 0.11, 0.09, 60%, 60%, 0, 1, [a, b]:7\n"
            "CUSTOM OP (x, y), 0.6, 0.1, 0.06, 40%, 100%, 0, 0, [c]:8\n\n")
    ops = parse_csv(data).runs[0].ops
    assert [(o["op_type"], o["op_name"], o["node_index"]) for o in ops] == [
        ("Convolution (NHWC, QC8) GEMM", "[a, b]:7", 7), ("CUSTOM OP (x, y)", "[c]:8", 8)]
    assert ops[1]["times_called"] == 0 and ops[1]["per_run_ms"] is None


# --- constructed variants --------------------------------------------------------------------
def test_several_invocations_give_several_runs():
    # CONSTRUCTED: three real logs one after the other, as a shell loop would write them
    log = "\n".join(text(n) for n in ("07_litert-2024_linux-x86_xnnpack_INFO-prefix_no-profiling.txt",
                                      "03_tf2.4_android-mi11_nnapi-qti-default_delegate-failure.txt",
                                      "12_tf2.20_ti-am62x-linux_cpu-only_percentiles_rst-indented.txt"))
    runs = parse_text(log).runs
    assert [r.run["status"] for r in runs] == ["ok", "failed", "ok"]
    assert [r.run["count"] for r in runs] == [70, None, 50]
    assert runs[1].run["error_class"] == "DelegateError"
    assert runs[0].raw.startswith("./linux_x86-64_benchmark_model")  # the echoed command stays with its run
    assert "Benchmarking failed." in runs[1].raw and "Benchmarking failed." not in runs[2].raw


def test_logcat_prefixes_and_foreign_records():
    # CONSTRUCTED: 01 as the benchmark APK shows it in logcat (every line a record of tag tflite),
    # with a record of another tag in the middle of the Run Order table
    lines = []
    for i, line in enumerate(text("01_tf2.8_riscv64-qemu_cpu_mobilenetv1_op-profiling_sci-notation.txt").splitlines()):
        lines.append(f"05-30 13:04:39.{i % 1000:03d} 25935 25935 I tflite  : {line}")
        if "Conv2d_3_depthwise" in line and "Run Order" not in line and len(lines) < 60:
            lines.append("05-30 13:04:39.500  1234  1250 W ActivityManager: Slow operation: 52ms")
    r = parse_text("\n".join(lines)).runs[0]
    assert r.run["count"] == 50 and r.run["init_us"] == 17187 and r.run["mean_us"] == pytest.approx(2.95034e6)
    assert len(ops_of(r, "invoke")) == 31
    assert by_name(r, "[MobilenetV1/MobilenetV1/Conv2d_3_depthwise/Relu6]:5")["avg_ms"] == 47.423


def test_command_glued_to_starting_and_dry_run_count_zero():
    # CONSTRUCTED: google/XNNPACK#999 style echo glued to STARTING!, then a --dry_run of a
    # percentile build (count=0 with p5=0 median=0 p95=0, which measure nothing)
    log = ("$ ./benchmark_model --graph=m.tflite --dry_run=true --num_threads=4STARTING!\n"
           "Num threads: [4]\nGraph: [m.tflite]\nLoaded model m.tflite\n"
           "Initialized session in 2.5ms.\n"
           "Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 "
           "seconds.\ncount=0 p5=0 median=0 p95=0\n\n"
           "Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 "
           "seconds.\ncount=0 p5=0 median=0 p95=0\n\n")
    run = parse_text(log).runs[0].run
    assert run["status"] == "ok" and run["count"] == 0 and run["threads"] == 4
    for col in ("mean_us", "p50_us", "min_us", "max_us", "std_us", "first_us", "warmup_avg_us"):
        assert run[col] is None, col
    assert run["init_us"] == pytest.approx(2500)


def test_all_same_regular_line_and_periodic_peak_memory():
    # CONSTRUCTED from the tool's documented forms (BENCHMARK_MODEL_FORMAT.md §2.10, §3)
    log = ("INFO: STARTING!\nINFO: Running benchmark for at least 1 iterations\nINFO: count=1 curr=900\n\n"
           "INFO: Running benchmark for at least 3 iterations\nINFO: count=3 curr=800(all same)\n\n"
           "INFO: Inference timings in us: Init: 100, First inference: 900, Warmup (avg): 900, Inference (avg): 800\n"
           "INFO: Overall peak memory footprint (MB) via periodic monitoring: 12.5\n")
    run = parse_text(log).runs[0].run
    assert (run["count"], run["mean_us"], run["min_us"], run["max_us"], run["std_us"]) == (3, 800, 800, 800, 0)
    assert run["peak_mem_mb"] == 12.5 and run["first_us"] == 900 and run["init_us"] == 100


def test_empty_and_one_row_tables_and_delegate_internal_block():
    # CONSTRUCTED: an empty init Run Order, a one-row invoke table, and a "Delegate internal:"
    # block (DELEGATE_OPERATOR_INVOKE_EVENT rows, BENCHMARK_MODEL_FORMAT.md §4.1/§4.5)
    head = "\t                             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t" \
           "[times called]\t[Name]"
    banner = "============================== Run Order =============================="
    log = "\n".join([
        "INFO: STARTING!", "INFO: Profiling Info for Benchmark Initialization:", banner, head, "",
        "Timings (microseconds): count=0", "", "INFO: Operator-wise Profiling Info for Regular Benchmark Runs:",
        banner, head,
        "\t                   TfLiteXNNPackDelegate\t    0.500\t    0.400\t100.000%\t100.000%\t     0.000\t"
        "        1\t[out]:12",
        "", "Timings (microseconds): count=10 first=500 curr=400 min=390 max=510 avg=420.5 std=30", "",
        "Delegate internal:", banner, head,
        "\t                        DelegateOpInvoke\t    0.200\t    0.150\t 60.000%\t 60.000%\t     0.000\t"
        "        2\tDelegate/TfLiteXNNPackDelegate:0",
        "", "Timings (microseconds): count=10 first=300 curr=250 min=240 max=310 avg=260 std=20", ""])
    r = parse_text(log).runs[0]
    assert ops_of(r, "init") == []
    (xnn,) = ops_of(r, "invoke")
    assert xnn["op_type"] == "TfLiteXNNPackDelegate" and xnn["delegated"] and xnn["node_index"] == 12
    (internal,) = ops_of(r, "invoke", None)
    assert internal["op_type"] == "DelegateOpInvoke" and internal["delegated"] and internal["times_called"] == 2
    assert r.run["profile_invoke_us"] == 420.5  # the subgraph total, not the delegate-internal one
    assert r.run["delegate"] == "xnnpack" and r.run["status"] == "ok"


@pytest.mark.parametrize("tail, cls, reason", [
    ("Failed to load model /sdcard/x.tflite\nBenchmarking failed.", "ModelLoadError", "Failed to load model"),
    ("ERROR: Node number 57 (BATCH_MATMUL) failed to prepare.\nFailed to allocate tensors!\nBenchmarking failed.",
     "AllocationError", "Node number 57 (BATCH_MATMUL) failed to prepare."),
    ("INFO: Loaded model m.tflite\nERROR: Benchmarking failed.", "BenchmarkFailed", "ERROR: Benchmarking failed."),
    ("INFO: Loaded model m.tflite\n", "IncompleteOutput", "ends after 'INFO: Loaded model m.tflite'"),
])
def test_failure_classes(tail, cls, reason):
    # CONSTRUCTED from the failure lines of BENCHMARK_MODEL_FORMAT.md §2
    run = parse_text("INFO: STARTING!\nINFO: Graph: [m.tflite]\n" + tail).runs[0].run
    assert run["status"] == "failed" and run["error_class"] == cls
    assert reason in run["error_message"]
    assert run["count"] is None and run["mean_us"] is None


# --- proto ----------------------------------------------------------------------------------
def proto_bytes() -> bytes:
    """CONSTRUCTED: no real proto profile exists here; built with the wheel's own profiling_info_pb2."""
    from harness.parsers.benchmark_model import profiling_message

    stat = profiling_message("tflite.profiling.OpProfilingStat")
    data = profiling_message()(model_name="tiny.tflite")
    sg = data.init_profile.subgraph_profiles.add(subgraph_index=0, subgraph_name="main")
    op = sg.per_op_profiles.add(node_type="AllocateTensors", name="AllocateTensors/0", run_order=0, times_called=1)
    op.inference_microseconds.CopyFrom(stat(first=120, last=120, avg=120, sum=120, count=1))
    op.mem_kb.CopyFrom(stat(first=444, last=444, count=1))
    sg = data.runtime_profile.subgraph_profiles.add(subgraph_index=0, subgraph_name="main")
    rows = [("CONV_2D", "[a, b]:1", 1, 2, 300, 30_000, 100), ("Fully Connected (NC, F32) GEMM",
            "Delegate/Fully Connected (NC, F32) GEMM:0", 0, 1, 10, 10_000, 100)]
    for node_type, name, order, calls, first, total, runs in rows:
        op = sg.per_op_profiles.add(node_type=node_type, name=name, run_order=order, times_called=calls)
        op.inference_microseconds.CopyFrom(stat(first=first, sum=total, count=calls * runs,
                                                              avg=total // (calls * runs)))
    d = data.runtime_profile.delegate_profiles.add(delegate_name="XNNPACK")
    op = d.per_op_profiles.add(node_type="DelegateOpInvoke", name="Delegate/TfLiteXNNPackDelegate:0",
                               run_order=0, times_called=1)
    op.inference_microseconds.CopyFrom(stat(first=5, sum=500, count=100, avg=5))
    return data.SerializeToString()


def test_proto_profile():
    parsed = parse(proto_bytes())
    assert parsed.format == "proto"
    r = parsed.runs[0]
    assert r.run["model_name"] == "tiny" and r.run["count"] is None and r.run["status"] == "ok"
    (alloc,) = ops_of(r, "init")
    assert alloc["avg_ms"] == 0.12 and alloc["mem_kb"] == 444.0 and alloc["pct"] == 100.0
    inv = ops_of(r, "invoke")
    # sorted by run_order: the XNNPACK row (order 0) comes first
    assert [o["op_type"] for o in inv] == ["Fully Connected (NC, F32) GEMM", "CONV_2D"]
    fc, conv = inv
    assert fc["delegated"] and fc["node_index"] is None and fc["avg_ms"] == pytest.approx(0.1)
    assert conv["node_index"] == 1 and conv["times_called"] == 2 and conv["avg_ms"] == pytest.approx(0.15)
    assert conv["first_ms"] == 0.3 and conv["per_run_ms"] == pytest.approx(0.3)
    assert conv["pct"] == pytest.approx(75.0) and fc["pct"] == pytest.approx(25.0) and conv["cdf_pct"] == 100.0
    (internal,) = ops_of(r, "invoke", None)
    assert internal["op_type"] == "DelegateOpInvoke" and internal["delegated"]
    schema.to_frame("ops", [{"run_id": "x", **o} for o in r.ops])


def test_proto_garbage_is_a_parse_error():
    with pytest.raises(ParseError, match="BenchmarkProfilingData"):
        parse_proto(b"\x00\x01\x02garbage\xff")


# --- errors ---------------------------------------------------------------------------------
def test_unrecognisable_text_says_what_was_expected():
    with pytest.raises(ParseError, match="expected a benchmark_model log"):
        parse(b"hello world\nthis is not a benchmark\n")
    with pytest.raises(ParseError):
        parse(b"")


def test_malformed_run_order_row_is_a_parse_error_not_a_zero():
    data = text("01_tf2.8_riscv64-qemu_cpu_mobilenetv1_op-profiling_sci-notation.txt")
    broken = re.sub(r"\t   60\.957\t", "\t   sixty\t", data, count=1)
    with pytest.raises(ParseError, match="Run Order row"):
        parse_text(broken)


def test_malformed_count_line_is_a_parse_error():
    with pytest.raises(ParseError, match="avg"):
        parse_text("STARTING!\nRunning benchmark for 1 iterations\ncount=5 first=3\n")


@pytest.mark.parametrize("name", [n for n in GOLDEN if re.search(
    r"(Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): init=", text(n))])
def test_every_footprint_line_becomes_mem_columns(name):
    """Every reference output that prints the footprint delta (both labels) fills mem_init_mb and
    mem_overall_mb with its numbers (it used to stay a sentence in notes)."""
    found = re.findall(r"\(MB\): init=([0-9.]+) overall=([0-9.]+)", text(name))
    runs = [r.run for r in parse_text(text(name)).runs]
    with_mem = [(r["mem_init_mb"], r["mem_overall_mb"]) for r in runs if r["mem_init_mb"] is not None]
    assert with_mem == [(float(a), float(b)) for a, b in found]
