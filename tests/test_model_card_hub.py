"""Model cards that say what was computed: a card's own co2_eq_emissions is kept unless --force (a measured
one is named as such), hardware_used with the device count, the card body's Environmental Impact fields
filled from the same numbers, significant figures at every scale, and both verdicts of a claim that
states its method in the card and in the HTML report."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from carbon_mc.claims import ModelCardFields, check_scenario
from carbon_mc.claims.front_matter import existing_entry, fill_environmental_section, split_front_matter
from carbon_mc.claims.model_card import hardware_used, sig_text
from carbon_mc.cli import main
from carbon_mc.scenarios import load_any_scenario

DRAWS = "2048"

# The Hub's model-card template renders an unset field as "[More Information Needed]"
# (huggingface_hub/templates/modelcard_template.md, "Environmental Impact").
BODY = """
# Model

## Environmental Impact

Carbon emissions can be estimated using the Machine Learning Impact calculator.

- **Hardware Type:** [More Information Needed]
- **Hours used:** 40 (our own count)
- **Cloud Provider:** [More Information Needed]
- **Compute Region:** [More Information Needed]
- **Carbon Emitted:** [More Information Needed]
"""

MEASURED = """---
license: mit
co2_eq_emissions:
  emissions: 2560.5
  source: "code carbon"
  training_type: "fine-tuning"
---
""" + BODY


def refused(capsys, argv, *needles):
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


# --- an existing co2_eq_emissions entry -----------------------------------------------------------
def test_a_measured_block_is_kept_and_the_check_is_offered(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(MEASURED)
    refused(capsys, ["check", "llama2_7b", "--draws", DRAWS, "--model-card", readme], "README.md",
            "measured co2_eq_emissions figure", "emissions 2560.5 g", "'code carbon'", "it is kept",
            "--claim 2560.5 --unit g --quantity operational_tco2e", "carbon-mc import codecarbon", "--force")
    assert readme.read_text() == MEASURED and sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_a_foreign_block_is_kept_unless_forced_and_carbon_mcs_own_is_updated(tmp_path, capsys):
    readme = tmp_path / "README.md"
    card = MEASURED.replace('"code carbon"', '"Touvron et al. 2023"')
    readme.write_text(card)
    refused(capsys, ["check", "llama2_7b", "--draws", DRAWS, "--model-card", readme], "did not write", "--force")
    assert readme.read_text() == card
    assert main(["check", "llama2_7b", "--draws", DRAWS, "--model-card", str(readme), "--force", "--json"]) == 0
    capsys.readouterr()
    first = readme.read_text()
    assert existing_entry(first)["source"].startswith("carbon-mc ")
    # carbon-mc's own block is replaced without --force: the same command twice gives the same card
    assert main(["check", "llama2_7b", "--draws", DRAWS, "--model-card", str(readme), "--json"]) == 0
    assert readme.read_text() == first


def test_a_yaml_file_with_a_foreign_block_is_kept(tmp_path, capsys):
    path = tmp_path / "card.yaml"
    text = "co2_eq_emissions: 1234\n"
    path.write_text(text)
    refused(capsys, ["check", "gpt3_175b", "--draws", DRAWS, "--model-card", path], "card.yaml", "emissions 1234 g")
    assert path.read_text() == text


def test_existing_entry_reads_both_forms_and_only_the_front_matter():
    assert existing_entry("---\nco2_eq_emissions: 1234  # g\n---\n") == {"emissions": "1234", "source": ""}
    assert existing_entry(MEASURED) == {"emissions": "2560.5", "source": "code carbon"}
    assert existing_entry("# no front matter\nco2_eq_emissions: 5\n") is None  # a README body is not metadata
    assert existing_entry("---\nlicense: mit\n---\nco2_eq_emissions: 5\n") is None


def test_card_only_options_need_a_card(tmp_path, capsys):
    refused(capsys, ["check", "gpt3_175b", "--draws", DRAWS, "--force"], "--force only apply with --model-card")
    refused(capsys, ["check", "gpt3_175b", "--draws", DRAWS, "--model-card", tmp_path / "c.yaml", "--fill-card-body"],
            "a .md file")
    assert list(tmp_path.iterdir()) == []


# --- hardware_used and significant figures ----------------------------------------------------------
def test_hardware_used_names_the_device_count():
    from carbon_mc.priors import load_priors

    v100 = load_priors().hardware[load_any_scenario("gpt3_175b").hardware]["name"]
    assert hardware_used(load_any_scenario("gpt3_175b")) == f"10,000 x {v100} (3,552,000 device-hours)"  # 10,000 x 14.8 days
    bloom = load_any_scenario("bloom_176b")
    assert hardware_used(bloom).startswith("1,082,990 device-hours of NVIDIA A100")
    assert "device count not stated" in hardware_used(bloom)
    # BLOOM: 384 GPUs for ~117.5 days (Luccioni et al. 2022): 1,082,990 / (117.5 x 24) = 384.0
    derived = hardware_used(bloom, days=117.5)
    assert derived.startswith("384 x NVIDIA A100") and "derived: 1,082,990 device-hours / (117.5 days x 24 h)" in derived


@pytest.mark.parametrize("x, text", [(0.0, "0"), (1082990.0, "1,080,000"), (0.000412345, "0.000412"), (3.2e-9, "3.20e-09"),
                                     (45.1234, "45.1"), (999.96, "1,000"), (-2.5, "-2.5")])
def test_significant_figures_at_every_scale(x, text):
    assert sig_text(x) == text


# --- the card body ------------------------------------------------------------------------------------
def test_fill_only_the_unset_fields_and_keep_crlf():
    values = {"Hardware Type": "8 x H100", "Hours used": "12 device-hours", "Carbon Emitted": "1.2 kg CO2e"}
    text, filled = fill_environmental_section(BODY.replace("\n", "\r\n"), values)
    assert filled == ["Hardware Type", "Carbon Emitted"]  # Hours used was filled in by the card's author
    assert "- **Hardware Type:** 8 x H100\r\n" in text and "- **Hours used:** 40 (our own count)\r\n" in text
    assert "- **Cloud Provider:** [More Information Needed]\r\n" in text  # no value: left unset
    assert "\n" not in text.replace("\r\n", "")


def test_cli_fills_the_card_body_from_the_card_numbers(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: mit\n---\n" + BODY)
    assert main(["check", "gpt3_175b", "--draws", DRAWS, "--model-card", str(readme), "--fill-card-body", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["card_body_filled"] == ["Hardware Type", "Cloud Provider", "Compute Region",
                                                                      "Carbon Emitted"]
    front, body = split_front_matter(readme.read_text())
    block = yaml.safe_load("\n".join(front))["co2_eq_emissions"]
    assert f"- **Hardware Type:** {block['hardware_used']}\n" in body
    assert f"- **Compute Region:** {block['geographical_location']}\n" in body
    assert "- **Cloud Provider:** Microsoft Azure\n" in body and "- **Hours used:** 40 (our own count)\n" in body
    emitted = next(line for line in body.splitlines() if "Carbon Emitted" in line)
    assert f"{sig_text(block['emissions'] / 1e6)} t CO2e operational" in emitted  # the block's median, in tonnes


# --- both verdicts in the card and in the report ----------------------------------------------------
@pytest.fixture(scope="module")
def llama2_card():
    return check_scenario("llama2_7b", num_draws=2048, seed=1, model_card=ModelCardFields())


def test_the_card_carries_both_verdicts_of_a_claim_with_a_method(llama2_card):
    block = yaml.safe_load(llama2_card.model_card)["co2_eq_emissions"]
    check = next(c for c in llama2_card.checks if c.method is not None and c.quantity == "operational_tco2e")
    entry = block["carbon_mc_claim_checks"][check.claim.label]
    d = check.method.decomposition
    assert entry["case"] == "consistent" and entry["arithmetic"].startswith("consistent")
    assert entry["percentile"] == float(f"{check.percentile:.3g}")  # three significant figures of the same draws
    assert entry["estimate_over_claim"] == float(f"{d.ratio_geometric_mean:.3g}")
    assert entry["left_out"] == ["host_power", "pue"]
    assert math.prod(entry["factors"].values()) == pytest.approx(entry["estimate_over_claim"], rel=0.01)  # 3-figure rounding
    assert entry["verdict"] == check.method.summary


def test_the_report_shows_both_verdicts_and_the_factors(llama2_card):
    from types import SimpleNamespace

    from carbon_mc.report.html import _checks

    page = _checks(SimpleNamespace(checks=llama2_card.checks))
    check = next(c for c in llama2_card.checks if c.method is not None)
    assert "<b>Arithmetic:</b> the card&#x27;s arithmetic is consistent" in page
    assert "the method leaves out host power and PUE" in page
    for f in check.method.decomposition.factors:
        assert f"<td>{f.geometric_mean:.3g}</td>" in page
    assert f"<b>{check.method.decomposition.ratio_geometric_mean:.3g}</b>" in page


# --- hostile cards: one clear error or a correct result, nothing half-written ------------------------
@pytest.mark.parametrize("content, needle", [
    (b"---\r\nlicense: mit\r\nco2_eq_emissions:\r\n  emissions: 1", "never closed"),  # truncated front matter
    (b"---\nco2_eq_emissions:\n  emissions: 12\n  source: \"AutoTrain\"\n---\n# M\n", "measured co2_eq_emissions"),
])
def test_hostile_cards_are_refused_untouched(tmp_path, capsys, content, needle):
    readme = tmp_path / "README.md"
    readme.write_bytes(content)
    refused(capsys, ["check", "gpt3_175b", "--draws", DRAWS, "--model-card", readme, "--fill-card-body"], "README.md", needle)
    assert readme.read_bytes() == content and sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_a_crlf_card_with_carbon_mcs_own_block_is_updated_and_its_body_filled(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_bytes(("---\nlicense: mit\n---\n" + BODY).replace("\n", "\r\n").encode())
    for _ in range(2):  # the second run replaces the block it wrote, without --force; the body is filled once
        assert main(["check", "gpt3_175b", "--draws", DRAWS, "--model-card", str(readme), "--fill-card-body"]) == 0
    out = capsys.readouterr().out
    assert "filled Hardware Type, Cloud Provider, Compute Region, Carbon Emitted" in out
    assert "no '[More Information Needed]' field" in out  # the second run: nothing left to fill
    text = readme.read_bytes().decode()
    assert "\n" not in text.replace("\r\n", "") and text.count("co2_eq_emissions:") == 1
    assert "[More Information Needed]" not in text
