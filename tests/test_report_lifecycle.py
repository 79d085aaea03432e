"""A report page holding a training run and a deployment of that model shows the model's life cycle.

The life-cycle section's training figures are the very draws of the training run's own section
(run's randomized QMC, same seed and draw count), and its serving per day agrees with the
deployment's section within the Monte Carlo error; its figure is legible on a phone.
"""

import html
import re

import numpy as np
import pytest

from carbon_mc.report import build_report
from carbon_mc.report.content import lifecycle_pairs
from carbon_mc.scenarios import load_any_scenario
from test_report import CHROMIUM, _measured

DRAWS, BASE = 2048, 128
API = "models/serving/bloom_176b_api.toml"


@pytest.fixture(scope="module")
def page():
    return build_report(["bloom_176b", API], num_draws=DRAWS, base_draws=BASE, seed=0)


def rows(section: str) -> dict[str, list[str]]:
    """{quantity: [units, median, interval, ...]} of the tables of a section, as text."""
    out = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", section, re.S):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        if cells:
            out[cells[0]] = cells[1:]
    return out


def test_pairs_are_found_by_the_deployments_model_link():
    bloom, api, gpt3 = (load_any_scenario(s) for s in ("bloom_176b", API, "gpt3_175b"))
    assert [(t.name, s.name) for t, s in lifecycle_pairs([bloom, api])] == [(bloom.name, api.name)]
    assert lifecycle_pairs([gpt3, api]) == [] and lifecycle_pairs([api]) == [] and lifecycle_pairs([bloom]) == []


def test_the_life_cycle_section(page):
    start = page.index('<section class="scenario lifecycle"')
    life, scenarios = page[start:], page[:start]
    assert "<h2>Life cycle of BLOOM 176B and BLOOM 176B API" in life
    table = rows(life)
    for quantity in ("training emissions, total (t CO2e)", "serving emissions over the period, total (t CO2e)",
                     "serving emissions per day of the deployment (kg CO2e)", "training plus serving emissions (t CO2e)",
                     "share of life-cycle emissions from training", "days of serving that emit as much as the training",
                     "requests whose serving emits as much as the training"):
        assert quantity in table, quantity
    # training: the very numbers of the training run's own ranges (same draws)
    bloom = scenarios[scenarios.index('id="BLOOM 176B"'):scenarios.index('id="BLOOM 176B API')]
    total = rows(bloom)["total emissions, operational plus embodied (t CO2e)"]
    assert table["training emissions, total (t CO2e)"][1:3] == total[1:3]  # median, 90% interval as printed
    # the shares add to 100% and the total is training plus serving (medians: approximately)
    share = float(table["share of life-cycle emissions from training"][1])
    assert 90 < share < 100 and float(table["share of life-cycle emissions from serving"][1]) == pytest.approx(100 - share, abs=0.5)
    assert life.count('<figure class="lifecycle wide">') == 1 and life.count('<figure class="lifecycle narrow">') == 1
    assert "<title id=" in life and "break-even after" in life and "18 days" in life


def test_serving_per_day_agrees_with_the_deployments_section(page):
    import carbon_mc

    ds = carbon_mc.lifecycle("bloom_176b", API, num_draws=DRAWS, seed=0)
    per_day = ds["serving_tco2e"].values / ds.attrs["serving_days"] * 1e3
    run = carbon_mc.estimate(API, num_draws=DRAWS, seed=0)["total_kgco2e_per_day"].values
    below = np.mean(run < np.median(per_day))
    assert abs(below - 0.5) < 4 * np.sqrt(2 * 0.25 / DRAWS)  # the same distribution, within the MC error of two samples
    life = page[page.index('<section class="scenario lifecycle"'):]
    assert rows(life)["serving emissions per day of the deployment (kg CO2e)"][1] == f"{np.median(per_day):.3g}"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs Debian's package)")
def test_life_cycle_figure_is_legible_on_a_phone(page, tmp_path):
    m = _measured(page, tmp_path, 390)
    assert m["figures"] == ["distribution narrow", "distribution narrow", "lifecycle narrow"], m
    assert m["page"] <= 390 and m["smallest"] >= 9.0, m
