"""A deployment's precision runs at the device's own dense FP8/INT8/FP32 peak; CPUs as classes built from
CodeCarbon's CPU power table, and CPU names as tools write them mapped to them."""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import statistics
import tomllib
from pathlib import Path

import pytest

from carbon_mc import load_priors
from carbon_mc.calibration.serving import HARDWARE as CALIBRATION_HARDWARE
from carbon_mc.calibration.serving import WEIGHT_FORMATS
from carbon_mc.cli import main
from carbon_mc.errors import InputError
from carbon_mc.ingest.gpus import match_hardware
from carbon_mc.priors.cpu_names import looks_like_cpu, normalize_cpu, resolve_cpu
from carbon_mc.scenarios import parse_serving_scenario
from carbon_mc.scenarios.deployment import PRECISION_PEAK_FIELDS, precision_peak_factor, supported_precisions
from carbon_mc.scenarios.where import resolve_hardware

ROOT = Path(__file__).resolve().parents[1]
TABLE = load_priors(use_env=False)
CPU_CLASSES = sorted(tomllib.loads((ROOT / "priors" / "accelerators_cpu.toml").read_text())["hardware"])


def deployment(hardware: str, precision):
    return parse_serving_scenario({"serving": {
        "name": f"{precision} on {hardware}", "hardware": hardware, "parameters": 1e9, "devices_per_replica": 1, "batch": 8,
        "days": 1, "replicas": 1, "region": "france", "datacenter": "hyperscale", "precision": precision}}, table=TABLE)


# --- precision -> peak ------------------------------------------------------------------------------

@pytest.mark.parametrize(("hardware", "precision", "peak"), [
    ("h100_sxm", "fp8", 1978.9e12), ("h100_sxm", "int8", 1978.9e12), ("l4", "fp8", 242.5e12), ("l40s", "int8", 733e12),
    ("a100_80gb", "int8", 624e12), ("t4", "int8", 130e12), ("gaudi2", "fp8", 865e12), ("trainium1", "fp8", 190e12),
    ("mi300x", "fp8", 2614.9e12), ("tpu_v6e", "int8", 1836e12), ("a100_80gb", "fp32", 19.5e12),
    ("amd_epyc_7763", "fp32", 5.0e12),
])
def test_precision_runs_at_the_devices_own_peak(hardware, precision, peak):
    s = deployment(hardware, precision)
    assert s.compute_speedup * TABLE.hardware[hardware]["peak_flop_per_s"] == pytest.approx(peak, rel=1e-9)
    assert not s.notes or all("matrix units" not in n for n in s.notes)


@pytest.mark.parametrize(("hardware", "precision", "native"), [
    ("a100_80gb", "fp8", "bf16, fp16, int8"), ("t4", "fp8", "bf16, fp16, int8"), ("gaudi2", "int8", "bf16, fp16, fp8"),
    ("v100", "int8", "bf16, fp16"), ("b300", "int8", "bf16, fp16, fp8"),
])
def test_a_precision_the_device_lacks_runs_weight_only_at_bf16_with_a_note(hardware, precision, native):
    s = deployment(hardware, precision)
    assert s.compute_speedup == 1.0 and s.bytes_per_parameter == 1.0
    assert any(f"no {precision.upper()} matrix units (its native precisions: {native})" in n for n in s.notes), s.notes


def test_fp32_without_a_rate_is_one_sixteenth_of_bf16_with_a_note():
    s = deployment("tpu_v5e", "fp32")
    assert s.compute_speedup == 1.0 / 16.0 and any("no FP32 rate" in n for n in s.notes)


def test_precision_choices_take_each_choices_own_peak():
    s = deployment("a100_80gb", {"choices": ["bf16", "fp8", "int8"], "weights": [1, 1, 2], "source": "test"})
    assert [round(f, 9) for _, _, f in s.precision_choices] == [1.0, 1.0, 2.0]  # fp8 weight-only, INT8 624/312
    assert any("no FP8 matrix units" in n for n in s.notes)


def test_peaks_are_dense_and_in_order():
    """No sparse figure slipped in: FP8 at most ~2x and INT8 at most ~4x the dense BF16 peak (4x: GeForce and CPU
    INT8 against an FP32-accumulate or vector BF16 rate), each at least the BF16 peak; FP32 below it."""
    for key, spec in TABLE.hardware.items():
        bf16 = spec["peak_flop_per_s"]
        if "peak_fp8_flop_per_s" in spec:
            assert bf16 <= spec["peak_fp8_flop_per_s"] <= 2.05 * bf16, key  # L40S: 733 vs 362.05 on its datasheet
        if "peak_int8_op_per_s" in spec:
            assert bf16 <= spec["peak_int8_op_per_s"] <= 4.05 * bf16, key
        if "peak_fp32_flop_per_s" in spec:
            assert spec["peak_fp32_flop_per_s"] <= bf16 * (1 + 1e-9), key
    assert "peak_fp8_flop_per_s" not in TABLE.hardware["a100_80gb"] and "peak_int8_op_per_s" not in TABLE.hardware["v100"]


def test_calibration_weight_formats_agree_with_the_catalogue():
    """The serving calibration's fp8 factor (2x BF16) is the catalogue's own FP8 peak on the devices it calibrates."""
    for key in CALIBRATION_HARDWARE.values():
        spec = TABLE.hardware[key]
        for fmt, precision in (("fp8", "fp8"), ("bfloat16", "bf16")):
            factor, note = precision_peak_factor(spec, precision)
            if note is None:
                assert factor == pytest.approx(WEIGHT_FORMATS[fmt][1], rel=1e-3), (key, fmt)
    assert set(PRECISION_PEAK_FIELDS) == {"fp32", "fp8", "int8"}
    assert supported_precisions(TABLE.hardware["h100_sxm"]) == ["bf16", "fp16", "fp8", "int8"]


# --- CPU classes --------------------------------------------------------------------------------------

def _build_module():
    spec = importlib.util.spec_from_file_location("build_cpus", ROOT / "priors" / "build" / "build_cpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_script_reproduces_the_bundled_files(tmp_path):
    _build_module().build(tmp_path)
    for name in ("accelerators_cpu.toml", "socket_classes.toml", "cpu_aliases.toml"):
        assert (tmp_path / name).read_bytes() == (ROOT / "priors" / name).read_bytes(), name


def test_class_tdp_is_the_median_of_its_members_in_codecarbons_table():
    build = _build_module()
    groups = build.members(build.read_table())
    assert statistics.median(t for _, t in groups["cpu_epyc_2023_large"]) == TABLE.hardware["cpu_epyc_2023_large"]["tdp_w"]
    assert ("AMD EPYC 9654", 360.0) in groups["cpu_epyc_2023_large"]
    assert ("Intel Xeon Gold 6248", 150.0) in groups["cpu_server_2016_mid"]
    assert build.classify("Intel Xeon Platinum 8480+", 350.0) == "xeon_8480"  # a model of its own stays itself
    assert build.classify("Intel Core i7-1165G7", 28.0) is None  # laptop parts are in no class
    for key in CPU_CLASSES:
        spec = TABLE.hardware[key]
        assert spec["cores"] >= 8 and spec["source"] and spec["power_class"] == key
        assert TABLE.select("memory_bandwidth_gb_per_s", {"hardware": key}).fixed_value > 50


def test_power_prior_of_a_class_is_widened_by_the_spread_of_its_members():
    build = _build_module()
    tdps = [t for _, t in build.members(build.read_table())["cpu_server_2016_mid"]]
    sd = statistics.stdev(math.log(t) for t in tdps)
    params = TABLE.quantity("accelerator_power_tdp_fraction").variants["cpu_server_2016_mid"].params
    assert params["scale"] == pytest.approx(math.sqrt(0.12**2 + (0.8 * sd) ** 2), abs=6e-4)
    assert params["high"] == pytest.approx(1.05 * math.exp(1.645 * sd), abs=6e-3)


@pytest.mark.parametrize(("text", "key"), [
    ("AMD EPYC 7763 64-Core Processor", "amd_epyc_7763"),
    ("Intel(R) Xeon(R) Platinum 8480+", "xeon_8480"),
    ("Intel(R) Xeon(R) CPU @ 2.20GHz", "cpu_server_2016_mid"),
    ("AMD Ryzen 9 7950X 16-Core Processor", "cpu_desktop_unlocked"),
    ("AMD Ryzen 5 5600G with Radeon Graphics", "cpu_desktop"),
    ("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", "cpu_server_2016_mid"),
    ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "cpu_server_2016_large"),
    ("AMD EPYC 9654 96-Core Processor", "cpu_epyc_2023_large"),
    ("13th Gen Intel(R) Core(TM) i9-13900K", "cpu_desktop_unlocked"),
    ("Intel(R) Xeon(R) Gold 6426Y", "cpu_xeon_amx_mid"),
    ("Intel(R) Xeon(R) Gold 6430", "cpu_xeon_amx_large"),  # 32 cores but 270 W: the TDP band decides
    ("AWS Graviton3", "cpu_arm_server"),
    ("Neoverse-V2", "cpu_arm_server"),
])
def test_cpu_names_as_tools_write_them(text, key):
    assert resolve_hardware(text, TABLE, "f", "serving.hardware") == key
    assert match_hardware(text, TABLE.hardware) == key


def test_a_cpu_outside_the_table_but_naming_its_cores_is_a_class_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="carbon_mc"):
        assert resolve_hardware("AMD EPYC 7B13 64-Core Processor", TABLE, "f", "run.hardware") == "cpu_server_2016_large"
    assert "not in CodeCarbon's table" in caplog.text and "64 cores" in caplog.text
    match = resolve_cpu("AMD EPYC 9B14 96-Core Processor", TABLE.hardware)
    assert match.key == "cpu_epyc_2023_large" and match.tdp_w is None


@pytest.mark.parametrize(("text", "needle"), [
    ("Intel(R) Xeon(R) Gold 6248X", "xeon gold 6248"),
    ("Intel(R) Pentium(R) CPU N3700", "unknown CPU"),
])
def test_unknown_cpus_are_errors_with_close_matches(text, needle):
    with pytest.raises(InputError) as err:
        resolve_hardware(text, TABLE, "f.toml", "run.hardware")
    assert needle in err.value.message and err.value.key == "run.hardware"


def test_cpu_words_do_not_catch_accelerators():
    assert looks_like_cpu("AMD EPYC 7763") and looks_like_cpu("Intel(R) Xeon(R) CPU @ 2.20GHz")
    assert not looks_like_cpu("NVIDIA A100 Tensor Core GPU") and not looks_like_cpu("AMD Instinct MI300X")
    assert normalize_cpu("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz") == "xeon gold 6248"


def test_a_codecarbon_cpu_only_file_maps_its_cpu_to_a_class_and_counts_sockets(tmp_path, capsys):
    """CodeCarbon's columns (as its CSV writes them), a two-socket Xeon Gold 6248 job: 80 logical CPUs over
    2 threads x 20 cores per socket of the class = 2 sockets; CPU energy kept as measured, no GPU invented."""
    src = (ROOT / "tests" / "data" / "ingest" / "codecarbon_cpu_only.csv").read_text().splitlines()
    row = src[1].replace("AMD EPYC 7763 64-Core Processor", "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz")
    row = row.replace(",128,Intel", ",80,Intel")
    path = tmp_path / "emissions.csv"
    path.write_text(src[0] + "\n" + row + "\n")
    out = tmp_path / "cpu.toml"
    assert main(["import", "codecarbon", str(path), "--datacenter", "enterprise_on_premises", "-o", str(out)]) == 0
    run = tomllib.loads(out.read_text())["run"]
    assert run["hardware"] == "cpu_server_2016_mid" and run["devices"] == 2 and run["device_hours"] == 4.0
    capsys.readouterr()
    assert main(["run", str(out), "--draws", "1024", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["energy_mwh"]["median"] > 0


def test_cpu_only_instance_types_are_sockets_of_a_class():
    from carbon_mc.priors.hardware_names import resolve_instance

    assert resolve_instance("c7i.48xlarge", TABLE.hardware) == ("cpu_xeon_amx_large", 2)
    assert resolve_instance("c7g.16xlarge", TABLE.hardware) == ("cpu_arm_server", 1)
    assert resolve_hardware("Standard_HB176rs_v4", TABLE, "f", "run.hardware") == "cpu_epyc_2023_large"


def test_a_real_codecarbon_file_of_a_cpu_only_vm(tmp_path, capsys):
    """Written by CodeCarbon 3.3.2's OfflineEmissionsTracker around 12 s of NumPy matrix products on a 2-vCPU VM
    without RAPL (CPU power from its load model). The VM names its CPU 'AMD EPYC' only: no class can be told, so
    the import asks for one; given one, the run keeps the measured energy as its input and invents no GPU."""
    src = ROOT / "tests" / "data" / "ingest" / "codecarbon_3.3.2_cpu_only_vm.csv"
    out = tmp_path / "vm.toml"
    assert main(["import", "codecarbon", str(src), "--datacenter", "hyperscale", "-o", str(out)]) == 2
    assert "names no model" in capsys.readouterr().err and not out.exists()
    assert main(["import", "codecarbon", str(src), "--datacenter", "hyperscale", "--hardware", "cpu_epyc_2023_mid",
                 "-o", str(out)]) == 0
    doc = tomllib.loads(out.read_text())
    assert doc["run"]["hardware"] == "cpu_epyc_2023_mid" and doc["measured"]["energy_kwh"] == pytest.approx(9.35332679e-05)
    assert "gpu" not in out.read_text().split("[run]")[1].lower()
    capsys.readouterr()
    assert main(["run", str(out), "--draws", "512", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["energy_mwh"]["median"] > 0


def test_sockets_count_the_cores_the_cpu_name_states(tmp_path):
    """'AMD EPYC 9354 32-Core Processor' (280 W) is in the large Genoa class (96 cores typical), but its name says
    32 cores: 128 logical CPUs are 2 sockets, not 1."""
    src = (ROOT / "tests" / "data" / "ingest" / "codecarbon_cpu_only.csv").read_text().splitlines()
    path = tmp_path / "emissions.csv"
    path.write_text(src[0] + "\n" + src[1].replace("AMD EPYC 7763 64-Core Processor", "AMD EPYC 9354 32-Core Processor") + "\n")
    out = tmp_path / "cpu.toml"
    assert main(["import", "codecarbon", str(path), "--datacenter", "hyperscale", "-o", str(out)]) == 0
    run = tomllib.loads(out.read_text())["run"]
    assert run["hardware"] == "cpu_epyc_2023_large" and run["devices"] == 2
