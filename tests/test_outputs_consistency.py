"""One number per quantity, seed and draw count, whichever command shows it.

`run`, `check`, `check --model-card` and `report` draw a scenario with the same sampler (randomized
quasi-Monte Carlo), so the figures they share (the median and 90% interval of a quantity) are the
same numbers, each shown at its own precision. A claim on another accounting basis is drawn from the
same uniforms (common random numbers, input by input).
"""

import html
import json
import re

import numpy as np
import pytest
import yaml

import carbon_mc
from carbon_mc.claims.check import CHECK_METHOD, simulate
from carbon_mc.cli import main
from carbon_mc.sampling import DEFAULT_METHOD

DRAWS = 6000
SCENARIOS = ["gpt3_175b", "bloom_176b", "models/serving/bloom_176b_api.toml"]


def run_json(capsys, scenario: str) -> dict:
    assert main(["run", scenario, "--draws", str(DRAWS), "--seed", "0", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def check_json(capsys, scenario: str, *extra: str) -> dict:
    assert main(["check", scenario, "--draws", str(DRAWS), "--seed", "0", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_checks_draw_with_the_runs_sampler():
    assert CHECK_METHOD == DEFAULT_METHOD == "qmc"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_run_and_check_give_the_same_figures(capsys, scenario):
    ran = run_json(capsys, scenario)
    checked = check_json(capsys, scenario)["checks"]
    own = carbon_mc.load_any_scenario(scenario).accounting
    compared = 0
    for c in checked:
        on_own_basis = c["accounting"] == {"grid_basis": own.grid_basis, "pue_included": own.pue_included}
        if not on_own_basis or c["quantity"] not in ran:
            continue
        r = ran[c["quantity"]]
        assert c["median"] == pytest.approx(r["median"], rel=1e-6), c["quantity"]
        assert c["p5"] == pytest.approx(r["p5"], rel=1e-6) and c["p95"] == pytest.approx(r["p95"], rel=1e-6)
        compared += 1
    assert compared >= 1  # every scenario has at least one claim on its own basis and a quantity run shows


@pytest.mark.parametrize("scenario", ["gpt3_175b", "bloom_176b"])
def test_model_card_shows_the_runs_numbers(capsys, tmp_path, scenario):
    ran = run_json(capsys, scenario)
    card_path = tmp_path / "card.yaml"
    check_json(capsys, scenario, "--model-card", str(card_path))
    card = yaml.safe_load(card_path.read_text())["co2_eq_emissions"]
    op = ran["operational_tco2e"]
    assert card["emissions"] == pytest.approx(op["median"] * 1e6, rel=1e-3)  # grams, 4 significant figures
    assert card["emissions_interval_90"] == pytest.approx([op["p5"] * 1e6, op["p95"] * 1e6], rel=1e-3)
    assert card["total_emissions_with_embodied"] == pytest.approx(ran["total_tco2e"]["median"] * 1e6, rel=1e-3)
    assert "quasi-Monte Carlo" in card["method"] and f"{DRAWS:,} draws, seed 0" in card["method"]


def test_report_shows_the_runs_numbers_in_table_legend_and_card(capsys, tmp_path):
    ran = run_json(capsys, "gpt3_175b")
    page = tmp_path / "r.html"
    assert main(["report", "gpt3_175b", "models/serving/bloom_176b_api.toml", "--html", str(page), "--draws", str(DRAWS),
                 "--base-draws", "256"]) == 0
    text = page.read_text()
    gpt3 = text[text.index('id="GPT-3 175B"'):]
    op = ran["operational_tco2e"]
    fmt = lambda x: f"{x:,.0f}" if 1e3 <= abs(x) < 1e9 else f"{x:.3g}"  # noqa: E731  (the page's own format)
    row = re.search(r"<td class=\"text\">operational emissions \(t CO2e\)</td>.*?</tr>", gpt3, re.S).group(0)
    assert f"<td>{fmt(op['median'])}</td>" in row and f"{fmt(op['p5'])} – {fmt(op['p95'])}" in row
    # the figure's legend, on the operational panel (SVG text), shows the same median
    assert f"median {fmt(op['median'])} t" in html.unescape(gpt3)
    card = re.search(r"<pre>(co2_eq_emissions:.*?)</pre>", gpt3, re.S).group(1)
    card = yaml.safe_load(html.unescape(card))["co2_eq_emissions"]
    assert card["emissions"] == pytest.approx(op["median"] * 1e6, rel=1e-3)
    assert "quasi-Monte Carlo" in gpt3[:gpt3.index("<table")]  # the sampler is stated once, for the whole section


def test_another_accounting_basis_shares_the_uniforms():
    _, own_inputs, _ = simulate("bloom_176b", num_draws=3000, seed=1)
    model, inputs, outputs = simulate("bloom_176b", num_draws=3000, seed=1, pue_included=False)
    assert "pue" not in inputs and set(inputs) < set(own_inputs)
    for name in inputs:  # common random numbers: the same draw of every input both bases draw
        assert np.array_equal(inputs[name], own_inputs[name]), name
    estimate = carbon_mc.estimate("bloom_176b", num_draws=3000, seed=1)
    assert np.array_equal(estimate["pue"].values, own_inputs["pue"])
    assert model.run.pue_included is False and np.all(np.isfinite(outputs["accelerator_operational_tco2e"]))


def test_arviz_says_which_group_and_summarizes_the_same_draws():
    az = pytest.importorskip("arviz")
    from carbon_mc.sampling.inference_data import arviz_major_version

    idata = carbon_mc.estimate("gpt3_175b", num_draws=2000, seed=0, as_inference_data=True)
    if arviz_major_version() == 0:  # ArviZ 0.x: the object says which group to use
        with pytest.raises(carbon_mc.InputError, match='group="prior"'):
            az.hdi(idata)
    stats = az.summary(idata, group="prior", kind="stats", var_names=["total_tco2e"])
    draws = carbon_mc.estimate("gpt3_175b", num_draws=2000, seed=0)["total_tco2e"].values
    assert stats.loc["total_tco2e", "mean"] == pytest.approx(float(np.mean(draws)), rel=1e-3)
    assert float(az.hdi(idata, group="prior")["total_tco2e"].sel(hdi="lower")) > 0
