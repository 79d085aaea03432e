"""`carbon-mc run` places a scenario's [[claims]] in its table, as it places [reported] figures."""

import json

from carbon_mc.cli import main


def test_run_places_a_deployments_claims(capsys):
    assert main(["run", "bloom_176b_api", "--draws", "8192", "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)["reported"]
    # [reported] energy_kwh = 914 (IT scope), and two [[claims]]: 19 kg/day and 340 kg over the deployment (IT scope)
    assert reported["it_energy_mwh"]["value"] == 0.914
    assert reported["it_operational_kgco2e_per_day"]["value"] == 19.0
    assert abs(reported["it_operational_tco2e"]["value"] - 0.340) < 1e-12
    assert all(0 < r["percentile"] < 100 for r in reported.values())


def test_a_claim_on_another_accounting_is_left_to_check(capsys):
    """gpt3_175b's Carbontracker claims are on outputs its [reported] block already places: unchanged."""
    assert main(["run", "gpt3_175b", "--draws", "8192", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["reported"]) == {"energy_mwh", "operational_tco2e"}
