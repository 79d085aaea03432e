"""The HDI of sorted draws (used by every summary) against ArviZ's."""

import numpy as np
import pytest

from carbon_mc.results.statistics import arviz_hdi, hdi, hdi_of_sorted


@pytest.mark.parametrize("n", [2, 10, 1001, 100_000])
@pytest.mark.parametrize("family", ["lognormal", "normal", "gamma"])
def test_hdi_of_sorted_draws_is_arvizs(n, family):
    rng = np.random.default_rng(n)
    x = (getattr(rng, family)(size=n) if family != "gamma" else rng.gamma(2.0, size=n)).astype(np.float32)
    expected = tuple(float(v) for v in arviz_hdi(x, 0.9))  # arviz.hdi (0.x) or arviz_stats (1.x)
    assert hdi_of_sorted(np.sort(x.astype(np.float64)), 0.9) == expected
    assert hdi(x, 0.9) == expected
