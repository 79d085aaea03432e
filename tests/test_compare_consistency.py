"""compare and lifecycle draw run's randomized QMC: a scenario's figure is the same number in each.

Side A of `compare A B` (and the training phase of `lifecycle`) is drawn exactly as `run A` draws it
at the same seed and draw count, so their medians and 90% intervals are equal to the last digit.
Side B keeps common random numbers with A (its shared inputs on A's uniforms) and draws its own
inputs on further dimensions of the same scrambled Sobol' sequence: its figures are equal to `run B`'s
when it shares every input in A's order, and within the Monte Carlo error otherwise (tested below
with a tolerance derived from that error).
"""

import json

import numpy as np
import pytest

from carbon_mc import estimate
from carbon_mc.cli import main
from carbon_mc.joint.paired import compare

DRAWS = 4096
IOWA, QUEBEC = "models/relocate_llama31_8b_iowa.toml", "models/relocate_llama31_8b_quebec.toml"


def cli_json(capsys, *args) -> dict:
    assert main([*args, "--draws", str(DRAWS), "--seed", "0", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def same_figures(run: dict, side: dict) -> None:
    assert side["median"] == pytest.approx(run["median"], rel=1e-6)
    assert (side["lower"], side["upper"]) == (pytest.approx(run["p5"], rel=1e-6), pytest.approx(run["p95"], rel=1e-6))


@pytest.mark.parametrize(("a", "b", "quantity"), [(IOWA, QUEBEC, "operational_tco2e"), (QUEBEC, IOWA, "operational_tco2e"),
                                                  ("llama31_8b", "llama31_70b", "total_tco2e")])
def test_side_a_of_compare_is_run_a(capsys, a, b, quantity):
    ran = cli_json(capsys, "run", a)[quantity]
    compared = cli_json(capsys, "compare", a, b, "--quantity", quantity)
    assert compared["method"] == "qmc" and "exactly as 'carbon-mc run'" in compared["sampler"]
    same_figures(ran, compared["summary"]["a"])


def test_side_b_is_run_b_when_it_shares_every_input(capsys):
    ran = cli_json(capsys, "run", "llama31_70b")["total_tco2e"]
    compared = cli_json(capsys, "compare", "llama31_8b", "llama31_70b")
    assert compared["separate_inputs"] == []
    same_figures(ran, compared["summary"]["b"])


def test_side_b_with_inputs_of_its_own_agrees_within_the_monte_carlo_error():
    c = compare(IOWA, QUEBEC, num_draws=DRAWS, seed=0, quantity="operational_tco2e")
    assert c.separate == ("grid_gco2_per_kwh",)
    ran = estimate(QUEBEC, num_draws=DRAWS, seed=0)["operational_tco2e"].values
    for q in (0.05, 0.5, 0.95):  # where run's draws put compare's quantile: q, within 4 binomial standard errors of two samples
        below = np.mean(ran < np.quantile(c.b, q))
        assert abs(below - q) < 4 * np.sqrt(2 * q * (1 - q) / DRAWS), (q, below)


def test_lifecycle_training_phase_is_run_training(capsys):
    ran = cli_json(capsys, "run", "bloom_176b")["total_tco2e"]
    life = cli_json(capsys, "lifecycle", "bloom_176b", "bloom_176b_api", "--days", "365")
    for stat in ("median", "p5", "p95"):
        assert life["training_tco2e"][stat] == pytest.approx(ran[stat], rel=1e-6), stat
    np.testing.assert_allclose(life["training_share_fraction"]["median"] + life["serving_share_fraction"]["median"], 1.0,
                               atol=0.05)
