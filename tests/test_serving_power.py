"""Busy accelerator power as a function of decode utilisation: the equations against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carbon_mc.footprint.serving_power import busy_power_tdp_fraction, decode_flop_utilization_fraction


def test_decode_flop_utilization_by_hand():
    # 8e9 active parameters at 1,000 tokens/s on one H100 SXM (989 TFLOP/s dense BF16): 2 x 8e12 / 989e12
    assert float(decode_flop_utilization_fraction(8e9, 1000.0, 1.0, 989e12)) == pytest.approx(16e12 / 989e12, rel=1e-6)
    # four devices share the work
    assert float(decode_flop_utilization_fraction(8e9, 1000.0, 4.0, 989e12)) == pytest.approx(4e12 / 989e12, rel=1e-6)


def test_busy_power_by_hand():
    # u -> 0: the memory-bound level itself
    assert float(busy_power_tdp_fraction(0.5, 5.7, 0.0)) == pytest.approx(0.5, rel=1e-6)
    # p_mem 0.5, beta 5.7, u 0.15: logistic(5.7 x sqrt(0.15))
    expected = 1.0 / (1.0 + math.exp(-5.7 * math.sqrt(0.15)))
    assert float(busy_power_tdp_fraction(0.5, 5.7, 0.15)) == pytest.approx(expected, rel=1e-5)
    assert expected == pytest.approx(0.901, abs=1e-3)
    # p_mem 0.3, beta 4, u 0.04: logit 0.3 + 0.8
    logit = math.log(0.3 / 0.7) + 4.0 * 0.2
    assert float(busy_power_tdp_fraction(0.3, 4.0, 0.04)) == pytest.approx(1 / (1 + math.exp(-logit)), rel=1e-5)


def test_busy_power_rises_with_utilisation_and_stays_below_tdp():
    u = np.linspace(0.0, 1.0, 101)
    p = np.asarray(busy_power_tdp_fraction(0.45, 4.2, u))
    assert np.all(np.diff(p) > 0) and p[0] == pytest.approx(0.45, rel=1e-6) and np.all(p < 1.0)
    # a zero slope keeps the memory-bound level at every utilisation
    assert np.allclose(np.asarray(busy_power_tdp_fraction(0.45, 0.0, u)), 0.45, rtol=1e-6)
