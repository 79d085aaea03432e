"""Model cards: operational emissions in grams, readable fields, and the block written into a README's front matter."""

import json

import numpy as np
import pytest
import yaml

import carbon_mc
from carbon_mc import CarbonMCError
from carbon_mc.claims import check_scenario, model_card_block, simulate
from carbon_mc.claims.front_matter import merge_front_matter, split_front_matter
from carbon_mc.cli import main

SAMPLE_CARD = """---
language:
  - en
license: apache-2.0
# the training run's emissions, as the Hub reads them
co2_eq_emissions: 1234
tags:
  - text-generation
model-index:
  - name: demo
    results: []
---

# Demo model

A model card body with a `---` rule below, which must survive untouched.

---

## Training
Trained on 384 A100s.
"""


def test_card_reports_operational_grams_and_total_as_extra_keys():
    result = check_scenario("gpt3_175b", num_draws=8192, seed=0, model_card=carbon_mc.claims.ModelCardFields())
    block = yaml.safe_load(result.model_card)["co2_eq_emissions"]
    _, _, out = simulate(carbon_mc.load_scenario("gpt3_175b"), num_draws=8192, seed=0)
    assert block["emissions"] == pytest.approx(np.median(out["operational_tco2e"].astype(np.float64) * 1e6), rel=1e-3)
    assert block["total_emissions_with_embodied"] > block["emissions"]  # embodied carbon added, never in `emissions`
    lo, hi = block["total_emissions_with_embodied_interval_90"]
    assert lo < block["total_emissions_with_embodied"] < hi
    assert block["source"].startswith(f"carbon-mc {carbon_mc.__version__} ")
    assert block["geographical_location"] == "US average, 2020"  # the grid prior's place and year, not its key
    assert block["emissions_quantity"].startswith("operational_tco2e")
    assert len(result.model_card) < 2000 and "priors_sources" not in block  # a short reference, not every source


def test_card_refuses_a_non_operational_quantity():
    scenario = carbon_mc.load_scenario("bloom_176b")
    with pytest.raises(CarbonMCError, match="operational"):
        model_card_block(scenario, np.ones(10), quantity="total_tco2e")


def test_merge_keeps_the_rest_of_the_card():
    block = "co2_eq_emissions:\n  emissions: 5\n  source: \"carbon-mc\"\n"
    merged = merge_front_matter(SAMPLE_CARD, block)
    front, body = split_front_matter(merged)
    meta = yaml.safe_load("\n".join(front))
    assert meta["co2_eq_emissions"] == {"emissions": 5, "source": "carbon-mc"}
    assert meta["license"] == "apache-2.0" and meta["tags"] == ["text-generation"] and meta["model-index"][0]["name"] == "demo"
    assert "# the training run's emissions, as the Hub reads them" in front  # comments kept
    assert body == SAMPLE_CARD.split("---\n", 2)[2]  # the Markdown body, byte for byte
    assert merge_front_matter(merged, block) == merged  # idempotent


def test_merge_into_a_card_without_front_matter():
    merged = merge_front_matter("# Title\n\ntext\n", "co2_eq_emissions:\n  emissions: 5\n")
    assert merged == "---\nco2_eq_emissions:\n  emissions: 5\n---\n# Title\n\ntext\n"


def test_unclosed_front_matter_is_one_clear_error():
    with pytest.raises(CarbonMCError, match="never closed"):
        split_front_matter("---\nlicense: mit\n# Title\n", file="README.md")


def test_cli_writes_into_a_model_card_readme(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(SAMPLE_CARD)
    # the sample card's own co2_eq_emissions (1234, no source) is replaced only with --force
    assert main(["check", "bloom_176b", "--draws", "4096", "--model-card", str(readme), "--json", "--force",
                 "--location", "Jean Zay (IDRIS), Orsay, France"]) == 0
    assert json.loads(capsys.readouterr().out)["written"] == [str(readme)]
    front, body = split_front_matter(readme.read_text())
    meta = yaml.safe_load("\n".join(front))
    card = meta["co2_eq_emissions"]
    assert card["geographical_location"] == "Jean Zay (IDRIS), Orsay, France" and isinstance(card["emissions"], int)
    assert meta["license"] == "apache-2.0" and body == SAMPLE_CARD.split("---\n", 2)[2]


def test_cli_broken_card_fails_before_drawing(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: mit\n")
    assert main(["check", "bloom_176b", "--draws", "4096", "--model-card", str(readme)]) == 2
    err = capsys.readouterr().err
    assert "never closed" in err and len(err.strip().splitlines()) == 1
    assert readme.read_text() == "---\nlicense: mit\n"
