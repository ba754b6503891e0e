"""A plan for a model with an op only XNNPACK implements: builtin-kernel profile runs are left out
with the reason, and builtin-kernel latency runs are refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UserError
from harness.plan import Skip, build_plan, builtin_skips
from harness.prepare import builtin_kernel_gaps, resolve_models

REPO = Path(__file__).resolve().parents[2]
WHY = "custom op Convolution2DTransposeBias has no builtin kernel (XNNPACK only)"


def test_gaps_are_read_from_the_model_files():
    name, files = resolve_models(model=str(REPO / "tests" / "data" / "xnnpack_custom_op.tflite"), example=None,
                                 variants=["fp32"])
    assert builtin_kernel_gaps(files) == {"fp32": WHY}
    _, tiny = resolve_models(model=None, example="tiny_cnn", variants=["fp32", "int8"])
    assert builtin_kernel_gaps(tiny) == {}


def test_builtin_profile_runs_of_such_a_variant_are_left_out_with_the_reason():
    plan = build_plan(["local"], "m", ["fp32", "int8"], [1, 2], 2, no_builtin={"fp32": WHY})
    profile = {(i.variant, i.kernels, i.threads) for i in plan if i.mode == "profile"}
    assert profile == {("fp32", "xnnpack", 1), ("fp32", "xnnpack", 2), ("int8", "xnnpack", 1),
                       ("int8", "xnnpack", 2), ("int8", "builtin", 1), ("int8", "builtin", 2)}
    assert sum(i.mode == "latency" for i in plan) == 2 * 2 * 2
    assert builtin_skips(["fp32", "int8"], no_builtin={"fp32": WHY}) == [Skip("fp32", "profile", "builtin", WHY)]


def test_nothing_is_skipped_when_no_builtin_profile_is_asked_for():
    assert builtin_skips(["fp32"], profile=False, no_builtin={"fp32": WHY}) == []
    assert builtin_skips(["fp32"], profile_kernels=["xnnpack"], no_builtin={"fp32": WHY}) == []
    assert builtin_skips(["fp32"], no_builtin={}) == []


def test_builtin_latency_runs_are_refused_in_one_line():
    with pytest.raises(UserError) as caught:
        build_plan(["local"], "upsampler", ["fp32"], [1], 1, kernels="builtin", no_builtin={"fp32": WHY})
    assert str(caught.value) == f"--kernels builtin cannot run upsampler (fp32): {WHY}; use --kernels xnnpack."
