"""The inventory's HTML report: its numbers are the JSON report's, both accounting bases side by side,
embodied apart, tables in scroll wrappers; the given-data first-order share against known answers."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from carbon_mc.cli import main
from carbon_mc.inventory import add_entries
from carbon_mc.inventory.html import BINS, first_order_share
from carbon_mc.report.html import number_text

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "inventory"


def test_first_order_share_known_answers():
    rng = np.random.default_rng(0)
    n = 200_000
    x, z = rng.normal(size=n), rng.normal(size=n)
    # y = x + z: Var(E[y|x]) / Var(y) = 1/2; y = x: 1; y = z: 0. Monte Carlo error ~ sqrt(2 bins) / n.
    assert first_order_share(x, x + z) == pytest.approx(0.5, abs=0.01)  # 64 bins of a normal: within-bin spread of x ~0.3%
    assert first_order_share(x, x) == pytest.approx(1.0, abs=0.01)
    assert first_order_share(x, z) == pytest.approx(0.0, abs=5 * np.sqrt(2 * BINS) / n)
    assert first_order_share(x, np.ones(n)) == 0.0  # no spread to explain


@pytest.fixture(scope="module")
def page_and_json(tmp_path_factory):
    folder = tmp_path_factory.mktemp("html")
    lines = (EXAMPLE / "runs_2024.csv").read_text().splitlines()
    (folder / "runs.csv").write_text("\n".join(lines[:1] + lines[1::8]) + "\n")
    db = folder / "lab.sqlite"
    add_entries([folder / "runs.csv"], db)
    out = folder / "lab.html"
    return db, out


def test_html_report_shows_the_json_numbers(page_and_json, capsys):
    db, out = page_and_json
    assert main(["inventory", "report", "--db", str(db), "--by", "team", "--draws", "8192", "--seed", "3", "--html", str(out),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    page = out.read_text()
    # the same report read back: the page and --json come from one stored report
    assert main(["inventory", "report", "--db", str(db), "--by", "team", "--draws", "8192", "--seed", "3", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["reused"] and again["groups"] == report["groups"]
    text = re.sub(r"<svg.*?</svg>", "", page, flags=re.S)
    total = {g["metric"]: g for g in report["groups"] if g["group"] == []}
    for metric in ("scope2_location_tco2e", "scope2_market_tco2e", "scope3_embodied_tco2e", "total_location_tco2e",
                   "total_market_tco2e", "energy_mwh"):
        g = total[metric]
        assert f"<td>{number_text(g['median'])}</td><td>{number_text(g['lower'])} – {number_text(g['upper'])}</td>" in text, metric
    for label in ("Scope 2, location-based", "Scope 2, market-based", "Scope 3, embodied"):
        assert label in text
    teams = [g for g in report["groups"] if g["group"] and g["metric"] == "total_location_tco2e"]
    assert len(teams) >= 3
    for g in teams:
        share = f"{100 * g['share_of_total']:.1f}%</td><td>{100 * g['share_of_variance']:.1f}%"
        assert f'<td class="text">{g["group"][0]}</td>' in text and share in text, g["group"]
    assert "Over time" in text and "2024-" in text
    assert "grid_gco2_per_kwh" in text and "first-order share of the variance" in text
    # narrow screens: the viewport is set and every table scrolls inside its wrapper
    assert 'name="viewport" content="width=device-width' in page
    assert page.count("<table>") == page.count('<div class="table-scroll"><table>') >= 4
    assert page.count("<svg") == 2 and page.count("<title id=") == 2
