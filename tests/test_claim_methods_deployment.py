"""A deployment's published per-request figure that states its method (power per device x device time
per request): de Vries's ChatGPT 2.9 Wh, checked end to end with both verdicts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from carbon_mc.claims import check_claim, scenario_claims
from carbon_mc.cli import main
from carbon_mc.scenarios import load_any_scenario

CHATGPT = "models/serving/chatgpt_de_vries_2023.toml"


def test_the_published_arithmetic_is_reproduced_within_1_percent():
    """3,617 servers x 6.5 kW x 24 h / 195e6 requests = 2.894 Wh (de Vries 2023: 2.9 Wh)."""
    published_chain_wh = 3617 * 6500.0 * 24 / 195e6
    scenario = load_any_scenario(CHATGPT)
    (claim,) = scenario_claims(scenario)
    assert claim.method.device_hours == pytest.approx(28936 * 24 / 195e6, rel=1e-4)  # the fleet's GPU-hours per request
    r = check_claim(scenario, claim, num_draws=2048, seed=0)
    a = r.method.arithmetic
    assert a.status == "consistent" and a.recomputed == pytest.approx(published_chain_wh, rel=1e-4)
    assert abs(a.recomputed / 2.9 - 1) < 0.01 and abs(a.relative_difference) < 0.01


def test_both_verdicts_end_to_end_in_check_json(capsys):
    assert main(["check", CHATGPT, "--draws", "2048", "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)["checks"]
    m = record["method"]
    assert m["arithmetic"]["status"] == "consistent" and m["method"]["power_scope"] == "server"
    d = m["physics"]["decomposition"]
    assert d["estimate_quantity"] == "energy_wh_per_request"  # the full scope: the IT figure x PUE
    assert d["left_out"] == ["pue"]  # the server's rated power counts the host; no data-centre overhead
    assert math.prod(f["geometric_mean"] for f in d["factors"]) == pytest.approx(d["ratio_geometric_mean"], rel=1e-9)
    assert m["physics"]["percentile"] == pytest.approx(record["percentile"])
    assert m["summary"].startswith("the card's arithmetic is consistent; the method leaves out PUE")


def test_the_factors_multiply_to_the_ratio_per_draw():
    scenario = load_any_scenario(CHATGPT)
    r = check_claim(scenario, scenario_claims(scenario)[0], num_draws=2048, seed=2)
    d = r.method.decomposition
    np.testing.assert_allclose(np.prod([d.draws[f.name] for f in d.factors], axis=0), d.draws["ratio"], rtol=1e-12)
    time = next(f for f in d.factors if f.name == "device_time")
    # the fleet is fixed (3,617 x 8 GPUs) and so is the traffic: the device time per request is the card's
    assert time.geometric_mean == pytest.approx(28936 * 24 / 195e6 / 0.0035613, rel=1e-4)


def test_the_decomposition_figure_shows_each_factor_and_the_product(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from carbon_mc.errors import CarbonMCError
    from carbon_mc.plots.claims import plot_decomposition

    scenario = load_any_scenario(CHATGPT)
    r = check_claim(scenario, scenario_claims(scenario)[0], num_draws=1024, seed=0)
    fig = plot_decomposition(r, path=tmp_path / "d.png")
    d = r.method.decomposition
    bars = fig.axes[0].patches
    assert len(bars) == len(d.factors) + 1  # every factor (the card's arithmetic is not exactly 1 here) and the product
    np.testing.assert_allclose([b.get_x() + b.get_width() for b in bars],
                               [f.geometric_mean for f in d.factors] + [d.ratio_geometric_mean], rtol=1e-9)
    assert (tmp_path / "d.png").stat().st_size > 10_000
    plt.close(fig)
    bare = check_claim(scenario, 2.9, "Wh", quantity="it_energy_wh_per_request", num_draws=256)
    with pytest.raises(CarbonMCError, match="states no method"):
        plot_decomposition(bare)
