"""The accelerator catalogue: every device resolves from the names tools print, and can be used.

Covers priors/accelerators_more.toml, priors/hardware_aliases.toml and
carbon_mc.priors.hardware_names: the strings of nvidia-smi / DCGM / CodeCarbon / rocm-smi /
torch and cloud instance types resolve to the right key (and device count); unknown and
ambiguous strings are errors that name candidates; every accelerator has the classes and the
priors a training run and a deployment need.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import carbon_mc
from carbon_mc.errors import InputError
from carbon_mc.priors import hardware_names as hn

try:  # the scenario parsers moved from carbon_mc.scenario / serving_scenario to carbon_mc.scenarios
    from carbon_mc.scenarios import parse_scenario, parse_serving_scenario
except ImportError:  # pragma: no cover - older layout
    from carbon_mc.scenario import parse_scenario
    from carbon_mc.serving_scenario import parse_serving_scenario

ROOT = Path(__file__).resolve().parents[1]
NEW_DEVICES = [
    "l4", "l40s", "a10g", "a10", "t4", "a100_40gb_pcie", "a100_80gb_pcie", "h100_pcie", "h100_nvl", "rtx_4090",
    "rtx_3090", "rtx_a6000", "gb200", "b300", "h20", "mi250", "mi325x", "mi355x", "gaudi2", "gaudi3", "trainium1",
    "trainium2", "inferentia2", "tpu_v6e", "a40", "l40", "v100_pcie", "rtx_6000_ada", "xeon_8480",
    "amd_epyc_7763",
]
HARDWARE_SELECTORS = ("hardware", "power_class", "mfu_class", "server_class")


@pytest.fixture(scope="module")
def table():
    return carbon_mc.load_priors(use_env=False)


# --- names ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,key", [
    ("NVIDIA A100-PCIE-40GB", "a100_40gb_pcie"), ("NVIDIA A100 80GB PCIe", "a100_80gb_pcie"),
    ("NVIDIA A100-SXM4-40GB", "a100_40gb"), ("NVIDIA A100-SXM4-80GB", "a100_80gb"),
    ("NVIDIA H100 80GB HBM3", "h100_sxm"), ("NVIDIA H100 PCIe", "h100_pcie"), ("NVIDIA H100 NVL", "h100_nvl"),
    ("NVIDIA H200", "h200"), ("NVIDIA H800", "h800"), ("NVIDIA H20", "h20"), ("NVIDIA GH200 480GB", "gh200"),
    ("NVIDIA B200", "b200"), ("NVIDIA GB200", "gb200"), ("NVIDIA B300", "b300"),
    ("Tesla T4", "t4"), ("NVIDIA L4", "l4"), ("NVIDIA L40S", "l40s"), ("NVIDIA L40", "l40"), ("NVIDIA A10G", "a10g"),
    ("NVIDIA A10", "a10"), ("NVIDIA A40", "a40"), ("Tesla V100-PCIE-32GB", "v100_pcie"), ("Tesla V100-SXM2-32GB", "v100"),
    ("NVIDIA GeForce RTX 4090", "rtx_4090"), ("NVIDIA GeForce RTX 3090", "rtx_3090"), ("NVIDIA RTX A6000", "rtx_a6000"),
    ("NVIDIA RTX 6000 Ada Generation", "rtx_6000_ada"),
    ("AMD Instinct MI250X", "mi250x"), ("AMD Instinct MI250", "mi250"), ("AMD Instinct MI300X", "mi300x"),
    ("AMD Instinct MI325X", "mi325x"), ("AMD Instinct MI355X", "mi355x"),
    ("GAUDI2", "gaudi2"), ("HL-325L", "gaudi3"), ("Trainium2", "trainium2"), ("Inferentia2", "inferentia2"),
    ("TPU v5 lite", "tpu_v5e"), ("TPU v6 lite", "tpu_v6e"), ("TPU v4", "tpu_v4"),
    ("Intel(R) Xeon(R) Platinum 8480+", "xeon_8480"),
    # normalised forms: case, dashes, vendor words
    ("nvidia l40s", "l40s"), ("RTX 4090", "rtx_4090"), ("Intel Gaudi 3", "gaudi3"), ("nvidia-a100-pcie-40gb", "a100_40gb_pcie"),
])
def test_tool_names_resolve(table, text, key):
    assert hn.resolve_hardware(text, table.hardware) == key


def test_every_catalogue_key_and_name_resolves_to_itself(table):
    for key, spec in table.hardware.items():
        assert hn.resolve_hardware(key, table.hardware) == key
        try:
            assert hn.resolve_hardware(spec["name"], table.hardware) == key
        except InputError as exc:  # a display name may only be refused as ambiguous, naming the key
            assert "several accelerators" in str(exc) and key in str(exc)


def test_codecarbon_count_prefix():
    assert hn.resolve("8 x NVIDIA A100-SXM4-80GB") == hn.Resolution("a100_80gb", 8, "alias")


@pytest.mark.parametrize("text,key,devices", [
    ("p4d.24xlarge", "a100_40gb", 8), ("p4de.24xlarge", "a100_80gb", 8), ("p5.48xlarge", "h100_sxm", 8),
    ("p5e.48xlarge", "h200", 8), ("g5.xlarge", "a10g", 1), ("g5.48xlarge", "a10g", 8), ("g6.12xlarge", "l4", 4),
    ("g6e.48xlarge", "l40s", 8), ("inf2.48xlarge", "inferentia2", 12), ("trn1.32xlarge", "trainium1", 16),
    ("trn2.48xlarge", "trainium2", 16), ("a2-highgpu-8g", "a100_40gb", 8), ("a2-ultragpu-8g", "a100_80gb", 8),
    ("a3-highgpu-8g", "h100_sxm", 8), ("g2-standard-96", "l4", 8), ("Standard_ND96isr_H100_v5", "h100_sxm", 8),
    ("nd96amsr_a100_v4", "a100_80gb", 8), ("Standard_NC24ads_A100_v4", "a100_80gb_pcie", 1),
    ("Standard_NC80adis_H100_v5", "h100_nvl", 2), ("Standard_NC4as_T4_v3", "t4", 1),
])
def test_instance_types(table, text, key, devices):
    assert hn.resolve_instance(text, table.hardware) == (key, devices)
    assert hn.resolve(text, table.hardware) == hn.Resolution(key, devices, "instance")


@pytest.mark.parametrize("text,candidates", [
    ("NVIDIA A100", ["a100_40gb", "a100_40gb_pcie", "a100_80gb", "a100_80gb_pcie"]),
    ("A100 80GB", ["a100_80gb", "a100_80gb_pcie"]),
    ("NVIDIA H100", ["h100_nvl", "h100_pcie", "h100_sxm"]),
    ("Tesla V100", ["v100", "v100_pcie"]),
    ("AMD Instinct MI250X / MI250", ["mi250", "mi250x"]),
])
def test_ambiguous_names_are_refused_naming_the_candidates(table, text, candidates):
    with pytest.raises(InputError, match="several accelerators") as info:
        hn.resolve(text, table.hardware)
    assert all(c in str(info.value) for c in candidates)


@pytest.mark.parametrize("text,needle", [
    ("Tesla K80", "unknown hardware"), ("NVIDIA H200 NVL", "unknown hardware"), ("p4d.48xlarge", "did you mean"),
    ("NVIDIA L4O", "did you mean"),
])
def test_unknown_names_are_errors_with_close_matches(table, text, needle):
    with pytest.raises(InputError, match="unknown") as info:
        hn.resolve(text, table.hardware)
    assert needle in str(info.value)


def test_unknown_instance_type():
    with pytest.raises(InputError, match="unknown instance type 'p5.96xlarge'; did you mean"):
        hn.resolve_instance("p5.96xlarge")


def test_alias_to_a_key_the_table_lacks_is_an_error():
    with pytest.raises(InputError, match="alias of 'l4'"):
        hn.resolve("NVIDIA L4", ["h100_sxm"])


def test_alias_table_points_only_at_catalogue_keys(table):
    aliases = hn.load_aliases()
    targets = {*aliases.names.values(), *(k for ks in aliases.ambiguous.values() for k in ks),
               *(i.hardware for i in aliases.instances.values())}
    assert targets <= set(table.hardware), targets - set(table.hardware)
    assert len(aliases.names) + len(aliases.instances) >= 150


def test_normalised_forms_are_unique_except_where_declared(table):
    aliases = hn.load_aliases()
    declared = {hn.normalize_name(n) for n in aliases.ambiguous}
    clashes = {f: ks for f, ks in hn.normalized_index(hn._catalogue(table.hardware), aliases).items() if len(ks) > 1}
    assert set(clashes) <= declared, clashes


def test_bad_alias_documents_are_refused():
    with pytest.raises(InputError, match="instances.x"):
        hn.parse_aliases({"instances": {"x": {"hardware": "l4", "devices": 0}}})
    with pytest.raises(InputError, match="ambiguous.y"):
        hn.parse_aliases({"ambiguous": {"y": ["l4"]}})


def test_module_imports_without_jax():
    code = ("import importlib.util, sys\n"
            "spec = importlib.util.spec_from_file_location('carbon_mc.priors.hardware_names', "
            f"{str(ROOT / 'carbon_mc' / 'priors' / 'hardware_names.py')!r})\n"
            "mod = importlib.util.module_from_spec(spec); sys.modules[spec.name] = mod; spec.loader.exec_module(mod)\n"
            "assert mod.resolve('Tesla T4').key == 't4'\n"
            "assert 'jax' not in sys.modules, 'jax imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr


# --- the catalogue ------------------------------------------------------------------------------------

def test_new_devices_are_in_the_catalogue_with_a_source(table):
    more = tomllib.loads((ROOT / "priors" / "accelerators_more.toml").read_text())["hardware"]
    assert set(NEW_DEVICES) == set(more)
    for key in NEW_DEVICES:
        spec = table.hardware[key]
        assert spec["source"].strip() and spec["notes"].strip()
        assert 1e12 <= spec["peak_flop_per_s"] <= 1e16 and 50 <= spec["tdp_w"] <= 1500


def test_no_bundled_entry_changed_key_or_file(table):
    base = tomllib.loads((ROOT / "priors" / "accelerators.toml").read_text())["hardware"]
    for key, spec in base.items():
        assert table.hardware[key] == dict(spec, key=key)
    assert "a100_pcie_80gb" not in table.hardware  # the key the overlay tests add themselves


def test_every_device_has_the_classes_and_priors_it_needs(table):
    gaps = set()
    for key, spec in table.hardware.items():
        for quantity in table.quantities.values():
            if quantity.selected_by in HARDWARE_SELECTORS:
                choice = key if quantity.selected_by == "hardware" else spec[quantity.selected_by]
                if choice not in quantity.variants:
                    gaps.add((quantity.name, choice))
    assert not gaps, gaps


def test_new_variants_have_description_source_and_units(table):
    for name in ("accelerator_power_tdp_fraction", "server_power_w_per_device", "mfu_fraction", "embodied_kgco2e_per_device",
                 "embodied_kgco2e_per_server", "memory_bandwidth_gb_per_s"):
        q = table.quantity(name)
        assert q.units
        for prior in q.variants.values():
            assert prior.description.strip() and prior.source.strip()


def _training(key):
    return {"run": {"name": f"catalogue check {key}", "hardware": key, "device_hours": 1000.0, "parameters": 1e9,
                    "tokens": 2e10, "region": "france", "datacenter": "hyperscale"}}


def _serving(key):
    return {"serving": {"name": f"catalogue check {key}", "hardware": key, "parameters": 1e9, "devices_per_replica": 1,
                        "batch": 8, "days": 1, "replicas": 1, "region": "france", "datacenter": "hyperscale"}}


@pytest.mark.parametrize("key", sorted(tomllib.loads((ROOT / "priors" / "accelerators.toml").read_text())["hardware"])
                         + NEW_DEVICES)
def test_every_device_parses_as_training_run_and_deployment(table, key):
    run = parse_scenario(_training(key), table=table)
    assert run.hardware == key and run.resolve_priors(table)
    deployment = parse_serving_scenario(_serving(key), table=table)
    assert deployment.memory_bandwidth_gb_per_s > 0


def test_overlay_example_declares_one_device():
    table = carbon_mc.load_priors(overlays=[ROOT / "examples" / "overlay_l4" / "priors"], use_env=False)
    assert table.hardware["our_l4"]["tdp_w"] == 60
    scenario_file = ROOT / "examples" / "overlay_l4" / "l4_llama31_8b_deployment.toml"
    doc = tomllib.loads(scenario_file.read_text())
    deployment = parse_serving_scenario(doc, file=str(scenario_file), table=table)
    assert deployment.hardware == "our_l4" and deployment.memory_bandwidth_gb_per_s == 300
