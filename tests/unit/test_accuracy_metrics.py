"""Accuracy metrics against the fp32 reference (pure numpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.analysis.accuracy import metrics
from harness.errors import StoreError


def test_identical_outputs():
    r = np.random.default_rng(0).random((8, 1, 10))
    m = metrics(r, r)
    assert m == {"max_abs_err": 0.0, "sqnr_db": None, "top1_agreement": 1.0}


def test_known_noise_gives_known_sqnr_and_max_error():
    r = np.ones((4, 10))
    c = r + 0.1  # noise power 0.01 per element, signal 1: SQNR 20 dB
    m = metrics(c, r)
    assert m["max_abs_err"] == pytest.approx(0.1)
    assert m["sqnr_db"] == pytest.approx(20.0)


def test_top1_agreement_counts_samples_whose_argmax_matches():
    r = np.eye(4)[[0, 1, 2, 3]]                 # classes 0..3
    c = np.eye(4)[[0, 1, 3, 3]]                 # one sample disagrees
    assert metrics(c, r)["top1_agreement"] == 0.75
    assert metrics(np.zeros((4, 1)), np.zeros((4, 1)))["top1_agreement"] is None  # not class scores


def test_shape_mismatch_is_an_error():
    with pytest.raises(StoreError, match="cannot be compared"):
        metrics(np.zeros((2, 3)), np.zeros((2, 4)))
    assert math.isinf(metrics(np.ones(3), np.zeros(3))["sqnr_db"])
