"""Property-based tests (hypothesis): generated scenarios, priors files and command lines keep the contract.

The contract: one `CarbonMCError` (exit 2, one line, no traceback), or finite, non-negative results
inside every quantity's physical bounds. Generated inputs range from valid through near-valid to
hostile: wrong types, extreme magnitudes, unicode, missing and extra keys, broken encodings.

In CI the examples are derandomized (a fixed seed, no example database) and bounded: 2,100 cases
in all. For a longer local run, select the ``long`` profile (20 times as many examples, fresh
random seeds)::

    CARBON_MC_FUZZ=long python -m pytest tests/test_fuzz.py -q
"""

from __future__ import annotations

import copy
import functools
import itertools
import os
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hostile import BASE_RUN, HEADLINE, assert_contract, invoke, toml_document
from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st

import carbon_mc
import carbon_mc.claims
from carbon_mc.results.finite import apply_policy
from carbon_mc.sampling import evaluate, uniform_columns

PROFILE = os.environ.get("CARBON_MC_FUZZ", "ci")
SCALE = {"ci": 1, "long": 20}[PROFILE]
COMMON = dict(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
settings.register_profile("ci", derandomize=True, database=None, **COMMON)
settings.register_profile("long", derandomize=False, database=None, **COMMON)
settings.load_profile(PROFILE)
CASES = {"scenario": 600, "priors": 900, "cli": 500}  # >= 2,000 generated cases per run

TABLE = carbon_mc.load_priors(use_env=False)
WORK = Path(tempfile.mkdtemp(prefix="carbon-mc-fuzz-"))
_serial = itertools.count()

# --- values ------------------------------------------------------------------------------------
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 0.0, -0.0, 1, 1e-300, 1e300, 1e39, 1e-45, 3.4e38, 1e30, 1e-30, 0.5, 1.0, 2.0]),
)
texts = st.one_of(st.text(max_size=12), st.sampled_from(["", " ", "ünïcødé ☃", "x" * 5000, "\u202e", "nan", "1e3"]))
hostile = st.recursive(st.one_of(numbers, texts, st.booleans()),
                       lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                       max_leaves=6)
realistic = {
    "devices": st.integers(1, 20_000),
    "days": st.floats(0.01, 400),
    "device_hours": st.floats(1.0, 1e8),
    "parameters": st.floats(1e6, 2e12),
    "tokens": st.floats(1e8, 3e13),
    "year": st.integers(2015, 2030),
    "pue": st.floats(1.0, 2.5),
    "grid_gco2_per_kwh": st.floats(0.0, 1200.0),
}
scalar_quantities = sorted(n for n, q in TABLE.quantities.items() if q.support is not None)


@st.composite
def scenario_docs(draw):
    """A valid scenario, then up to three mutations of it (near-valid and hostile)."""
    run = dict(BASE_RUN)
    run["hardware"] = draw(st.sampled_from(sorted(TABLE.hardware)))
    run["region"] = draw(st.sampled_from(sorted(TABLE.quantity("grid_gco2_per_kwh").variants)))
    run["datacenter"] = draw(st.sampled_from(sorted(TABLE.quantity("pue").variants)))
    run["devices"], run["days"] = draw(realistic["devices"]), draw(realistic["days"])
    doc = {"run": run}
    if draw(st.booleans()):
        doc["reported"] = {"co2e_t": draw(st.floats(0.1, 1e4)), "co2e_scope": draw(st.sampled_from(["operational", "total"]))}
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["drop", "extra", "hostile", "realistic", "prior_number", "prior_table", "section"]))
        if kind == "drop" and run:
            run.pop(draw(st.sampled_from(sorted(run))))
        elif kind == "extra":
            run[draw(st.text(min_size=1, max_size=8))] = draw(hostile)
        elif kind == "hostile":
            run[draw(st.sampled_from(sorted(set(run) | {"pue", "grid_gco2_per_kwh", "parameters", "tokens", "train_flops"})))] = draw(hostile)
        elif kind == "realistic":
            key = draw(st.sampled_from(sorted(realistic)))
            run[key] = draw(realistic[key])
            run.pop({"pue": "datacenter", "grid_gco2_per_kwh": "region"}.get(key, ""), None)
        elif kind in ("prior_number", "prior_table"):
            if not isinstance(doc.get("priors"), dict):  # a hostile [priors] from an earlier mutation is replaced
                doc["priors"] = {}
            value = draw(st.one_of(numbers, st.floats(0, 2))) if kind == "prior_number" else draw(prior_entries())
            doc["priors"][draw(st.sampled_from(scalar_quantities))] = value
        else:
            doc[draw(st.sampled_from(["reported", "accounting", "claims", "priors", "extra"]))] = draw(hostile)
    return doc


PARAM_NAMES = ["value", "low", "high", "mode", "loc", "scale", "median", "sigma", "p5", "p95", "components", "mean", "cov"]


@st.composite
def prior_entries(draw):
    """A prior table: a family (or a hostile value) and params drawn around plausible values."""
    entry = {"distribution": draw(st.one_of(st.sampled_from(sorted(carbon_mc.priors.FAMILIES)), hostile)),
             "source": draw(st.one_of(st.just("a test source"), hostile)),
             "description": draw(st.one_of(st.just("a test prior"), hostile))}
    names = draw(st.lists(st.sampled_from(PARAM_NAMES), max_size=4, unique=True))
    entry["params"] = {n: draw(st.one_of(st.floats(-1.0, 3.0), numbers, hostile)) for n in names}
    if draw(st.integers(0, 9)) == 0:
        entry["year"] = draw(hostile)
    if draw(st.integers(0, 9)) == 0:
        entry.pop(draw(st.sampled_from(sorted(entry))))
    return entry


def _write(text: str | bytes, name: str) -> Path:
    folder = WORK / f"case{next(_serial)}"
    folder.mkdir()
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    return path


def _check_results(scenario: carbon_mc.Scenario) -> None:
    """Every prior inside its quantity's bounds; draws finite and non-negative, or refused as NumericError."""
    sim = carbon_mc.build_simulator(scenario, priors=TABLE)
    for name, prior in sim.priors.items():
        support = TABLE.quantities[name].support if name in TABLE.quantities else None
        if support is not None:
            assert support.problem(prior.family, prior.params, prior.spec) is None, name
    u = uniform_columns(sim, num_draws=32, seed=0)
    values = {k: np.asarray(v) for k, v in evaluate(sim, u, [k for k in HEADLINE]).items()}
    values = {k: np.broadcast_to(v, (32,)) for k, v in values.items()}
    if all(np.all(np.isfinite(v)) for v in values.values()):
        assert all(np.all(v >= 0) for v in values.values()), values
    else:
        try:
            apply_policy({}, values, "refuse")
        except carbon_mc.NumericError as exc:
            assert "\n" not in str(exc)
        else:
            raise AssertionError("non-finite draws were not refused")


@settings(max_examples=CASES["scenario"] * SCALE)
@given(doc=scenario_docs(), encoding=st.sampled_from(["utf-8"] * 8 + ["bom", "latin-1"]))
def test_fuzz_scenario_files(doc, encoding):
    text = toml_document(doc)
    data = text.encode("utf-8", "surrogatepass")
    if encoding == "bom":
        data = b"\xef\xbb\xbf" + data
    elif encoding == "latin-1":
        data = text.encode("latin-1", "replace") + b"\xe9"
    path = _write(data, "scenario.toml")
    try:
        scenario = carbon_mc.load_scenario(path, priors=TABLE)
    except carbon_mc.CarbonMCError as exc:
        assert isinstance(exc, carbon_mc.InputError) and "\n" not in str(exc) and len(str(exc)) < 1500
        return
    _check_results(scenario)


@settings(max_examples=CASES["priors"] * SCALE)
@given(quantity=st.sampled_from(scalar_quantities + ["scaling_law_constants"]), entry=prior_entries(),
       support=st.one_of(st.none(), hostile))
def test_fuzz_priors_overlays(quantity, entry, support):
    q = TABLE.quantities[quantity]
    variant = next(iter(q.variants)) if q.selected_by else "default"
    doc = {quantity: {"variants": {variant: entry}}}
    if support is not None:
        doc[quantity]["support"] = support
    path = _write(toml_document(doc), "overlay.toml")
    try:
        table = carbon_mc.load_priors(overlays=path.parent, use_env=False)
    except carbon_mc.CarbonMCError as exc:
        assert isinstance(exc, carbon_mc.InputError) and "\n" not in str(exc) and "overlay.toml" in str(exc)
        return
    prior = table.quantities[quantity].variants[variant]
    bounds = table.quantities[quantity].support
    u = np.array([2.0**-24, 0.25, 0.5, 0.75, 1 - 2.0**-24], np.float32)
    x = np.asarray(prior.icdf32(u if not prior.components else np.tile(u[:, None], (1, prior.num_columns))))
    assert np.all(np.isfinite(x)) and np.all(np.abs(x) <= 1e30 * 1.01)
    if bounds is not None:
        assert all(bounds.contains(float(v)) or (bounds.above is not None and float(v) == bounds.above and prior.family == "lognormal")
                   for v in x.ravel()), (entry, x)


FLAG_VALUES = st.one_of(st.sampled_from(["1.5e0", "-1", "0", "nan", "inf", "1e400", str(2**64), "", "ünï", "64", "1e3",
                                         "3", "0.5", "2", "/proc/x.nc", "{tmp}", "{tmp}/o.nc", "{tmp}/o.png", "{tmp}/o.txt",
                                         "mc", "qmc", "total_tco2e", "kg", "x" * 300]), st.text(max_size=8))
FLAGS = {
    "run": ["--draws", "--seed", "--method", "--rel-error", "--out", "--stream", "--json", "--drop-nonfinite", "--calibrated"],
    "check": ["--draws", "--seed", "--claim", "--unit", "--quantity", "--basis", "--pue", "--plot", "--model-card", "--json",
              "--drop-nonfinite"],
    "compare": ["--draws", "--seed", "--plot", "--independent", "--json", "--drop-nonfinite"],
    "sensitivity": ["--seed", "--output", "--group", "--conf-level", "--plot", "--out", "--json"],
    "list": ["--priors"],
}
SWITCHES = {"--stream", "--json", "--drop-nonfinite", "--independent"}


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(FLAGS)))
    argv = [command]
    if command == "list":
        argv.append(draw(st.sampled_from(["regions", "hardware", "datacenters", "models", "nothing"])))
    else:
        argv += draw(st.lists(st.sampled_from(["gpt3_175b", "llama_65b", "{tmp}/none.toml", "{tmp}", "bloom_176b"]),
                              min_size=2 if command == "compare" else 1, max_size=2 if command == "compare" else 1))
    for flag in draw(st.lists(st.sampled_from(FLAGS[command]), max_size=4, unique=True)):
        argv += [flag] if flag in SWITCHES else [flag, draw(FLAG_VALUES)]
    if command == "sensitivity":
        argv += ["--base-draws", draw(st.sampled_from(["64", "1.5", "-2"]))]
    elif command != "list" and "--draws" not in argv:
        argv += ["--draws", "64"]
    return argv


@settings(max_examples=CASES["cli"] * SCALE)
@given(argv=command_lines())
def test_fuzz_command_lines(argv):
    folder = WORK / f"cli{next(_serial)}"
    folder.mkdir()
    argv = [a.replace("{tmp}", str(folder)) for a in argv]
    result = assert_contract(invoke(argv), argv)
    if result == "error":
        assert not list(folder.iterdir()), f"{argv}: an error left files behind"


def test_fuzz_budget_is_at_least_2000_cases():
    assert sum(CASES.values()) * SCALE >= 2000


# =================================================================================================
# Serving scenarios, priors overlay directories, import files, model cards and the Python API.
# Each surface keeps the same contract; ``NEW_CASES`` cases per CI run (times 20 in the long profile).
# =================================================================================================
NEW_CASES = {"serving": 450, "overlay_dir": 350, "import": 600, "model_card": 300, "api": 400}  # >= 2,000 more
ROOT = Path(__file__).resolve().parents[1]
SERVING_DOCS = {p.stem: tomllib.loads(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "models" / "serving").glob("*.toml"))}
SERVING_QUANTITIES = sorted(tomllib.loads((ROOT / "priors" / "serving.toml").read_text(encoding="utf-8")))
SERVING_NUMBERS = {
    "parameters": st.floats(1e6, 2e12), "batch": st.integers(1, 512), "replicas": st.integers(1, 1000),
    "requests": st.floats(1.0, 1e12), "days": st.floats(0.01, 3650), "devices_per_replica": st.integers(1, 64),
    "input_tokens": st.floats(1.0, 1e6), "output_tokens": st.floats(1.0, 1e5), "year": st.integers(2015, 2030),
    "grid_gco2_per_kwh": st.floats(0.0, 1200.0), "provisioned_device_hours": st.floats(1.0, 1e9),
}


def _check_model(sim) -> None:
    """Draws of any simulator (training or serving) finite and non-negative, or refused as NumericError."""
    u = uniform_columns(sim, num_draws=32, seed=0)
    names = list(sim.headline)
    values = {k: np.broadcast_to(np.asarray(v), (32,)) for k, v in evaluate(sim, u, names).items()}
    if all(np.all(np.isfinite(v)) for v in values.values()):
        assert all(np.all(v >= 0) for v in values.values()), values
    else:
        try:
            apply_policy({}, values, "refuse")
        except carbon_mc.NumericError as exc:
            assert "\n" not in str(exc)
        else:
            raise AssertionError("non-finite draws were not refused")


@st.composite
def serving_docs(draw):
    """A bundled deployment, then up to four mutations: numbers, strings, missing keys, tables."""
    doc = copy.deepcopy(SERVING_DOCS[draw(st.sampled_from(sorted(SERVING_DOCS)))])
    serving = doc["serving"]
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 1, 2, 2, 3, 4]))):
        kind = draw(st.sampled_from(["drop", "extra", "hostile", "number", "number", "string", "prior", "prior_table", "section"]))
        if kind == "drop" and serving:
            serving.pop(draw(st.sampled_from(sorted(serving))))
        elif kind == "extra":
            serving[draw(st.text(min_size=1, max_size=8))] = draw(hostile)
        elif kind == "hostile":
            serving[draw(st.sampled_from(sorted(set(serving) | set(SERVING_NUMBERS))))] = draw(hostile)
        elif kind == "number":
            key = draw(st.sampled_from(sorted(SERVING_NUMBERS)))
            serving[key] = draw(st.one_of(SERVING_NUMBERS[key], numbers))
        elif kind == "string":
            key = draw(st.sampled_from(["name", "model", "hardware", "region", "datacenter", "precision", "source"]))
            serving[key] = draw(st.one_of(texts, st.sampled_from(["h100_sxm", "a100_40gb", "france", "hyperscale", "fp8",
                                                                  "gpt3_175b", "llama31_70b", "NVIDIA L4", "us-east-1"])))
        elif kind in ("prior", "prior_table"):
            if not isinstance(doc.get("priors"), dict):
                doc["priors"] = {}
            value = draw(st.one_of(numbers, st.floats(0, 2))) if kind == "prior" else draw(prior_entries())
            doc["priors"][draw(st.sampled_from(SERVING_QUANTITIES))] = value
        else:
            doc[draw(st.sampled_from(["reported", "accounting", "claims", "priors", "serving", "run"]))] = draw(hostile)
    return doc


# Defects the fuzzer found in modules outside this test's reach: the generated inputs that hit one are
# left out of the fuzz run (hypothesis.reject) and kept, recorded, as strict xfails below, so that each
# fails until it is fixed and then tells (XPASS) that its exclusion can go.
def _serving_block(doc) -> dict:
    return doc.get("serving") if isinstance(doc.get("serving"), dict) else {}


# Inputs the fuzzer found breaking the contract, left out of its runs until fixed: none now (a precision given
# as an array or a table raised TypeError; it is refused with an InputError, tested below).
KNOWN_SERVING_DEFECTS: list = []


@pytest.mark.parametrize("precision", [[], {"a": 1}])
def test_a_serving_precision_that_is_not_a_name_is_refused(precision):
    doc = copy.deepcopy(SERVING_DOCS["bloom_176b_api"])
    doc["serving"]["precision"] = precision
    path = _write(toml_document(doc), "deployment.toml")
    with pytest.raises(carbon_mc.InputError):
        carbon_mc.load_serving_scenario(path, priors=TABLE)


@settings(max_examples=NEW_CASES["serving"] * SCALE)
@given(doc=serving_docs())
def test_fuzz_serving_scenarios(doc):
    if any(hit(doc) for hit, _ in KNOWN_SERVING_DEFECTS):
        reject()
    path = _write(toml_document(doc), "deployment.toml")
    try:
        scenario = carbon_mc.load_serving_scenario(path, priors=TABLE)
    except carbon_mc.CarbonMCError as exc:
        assert isinstance(exc, carbon_mc.InputError) and "\n" not in str(exc) and len(str(exc)) < 1500, exc
        event("refused")
        return
    event("loaded")
    try:
        sim = carbon_mc.build_simulator(scenario, priors=TABLE)
    except carbon_mc.CarbonMCError as exc:  # e.g. a life-cycle link or prior that only binding checks
        assert "\n" not in str(exc)
        return
    _check_model(sim)


@st.composite
def overlay_files(draw):
    """One TOML file of 1-4 mutated entries over serving and training quantities (variants, support, metadata)."""
    doc: dict = {}
    for _ in range(draw(st.integers(1, 4))):
        quantity = draw(st.sampled_from(SERVING_QUANTITIES + scalar_quantities))
        q = TABLE.quantities[quantity]
        variant = draw(st.one_of(st.sampled_from(sorted(q.variants)), st.text(min_size=1, max_size=6)))
        body: dict = {"variants": {variant: draw(prior_entries())}}
        for key in draw(st.lists(st.sampled_from(["units", "long_name", "selected_by", "support", "description"]), max_size=2)):
            body[key] = draw(st.one_of(hostile, st.just(q.units), st.just(getattr(q, "long_name", "x"))))
        doc[quantity] = body
    return doc


@settings(max_examples=NEW_CASES["overlay_dir"] * SCALE)
@given(doc=overlay_files())
def test_fuzz_overlay_directories(doc):
    path = _write(toml_document(doc), "overlay.toml")
    try:
        table = carbon_mc.load_priors(overlays=path.parent, use_env=False)
    except carbon_mc.CarbonMCError as exc:
        assert isinstance(exc, carbon_mc.InputError) and "\n" not in str(exc) and "overlay.toml" in str(exc), exc
        event("refused")
        return
    event("loaded")
    u = np.array([2.0**-24, 0.25, 0.5, 0.75, 1 - 2.0**-24], np.float32)
    for quantity, body in doc.items():
        quant = table.quantities[quantity]
        for name in body["variants"]:
            prior = quant.variants[name]
            x = np.asarray(prior.icdf32(u if not prior.components else np.tile(u[:, None], (1, prior.num_columns))))
            assert np.all(np.isfinite(x)) and np.all(np.abs(x) <= 1e30 * 1.01), (quantity, body)
            if quant.support is not None:
                assert all(quant.support.contains(float(v)) or (quant.support.above is not None and float(v) == quant.support.above
                                                                and prior.family == "lognormal") for v in x.ravel()), (quantity, x)


IMPORT_BASES = {
    "codecarbon": (ROOT / "tests" / "data" / "ingest" / "codecarbon_two_nodes.csv", ["--datacenter", "hyperscale", "--merge"]),
    "codecarbon example": (ROOT / "examples" / "codecarbon" / "emissions.csv", ["--datacenter", "hyperscale", "--merge"]),
    "nvidia-smi": (ROOT / "tests" / "data" / "ingest" / "nvidia_smi_nounits.csv", ["--region", "france", "--pue", "1.1"]),
    "nvidia-smi plain": (ROOT / "tests" / "data" / "ingest" / "nvidia_smi_plain_header.csv", ["--region", "france", "--pue", "1.1"]),
    "nvidia-smi example": (ROOT / "examples" / "power" / "nvidia-smi.csv", ["--region", "france", "--pue", "1.1"]),
    "dcgm-exporter": (ROOT / "tests" / "data" / "ingest" / "dcgm_exporter.csv", ["--region", "france", "--pue", "1.1"]),
    "dcgmi": (ROOT / "tests" / "data" / "ingest" / "dcgmi_dmon.txt", ["--region", "france", "--pue", "1.1", "--hardware",
                                                                      "h100_sxm", "--interval", "1"]),
    "grid electricitymaps": (ROOT / "examples" / "grid" / "electricitymaps_FR_2024-03_hourly.csv", []),
    "grid watttime": (ROOT / "tests" / "data" / "ingest" / "watttime_moer.csv", []),
}
IMPORT_LINES = {name: path.read_text(encoding="utf-8").splitlines()[:60] for name, (path, _) in IMPORT_BASES.items()}
CELLS = st.one_of(st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "-1", "0", "1e400", "1e-400", "3.4e39", "[N/A]",
                                   "[Not Supported]", "ünï", "\u202e", "300.00 W", "300 kW", "1,5", "0x1F", "2024-13-45T99:00:00",
                                   "2024/03/04 09:00:00.000", "\"quoted, cell\"", "x" * 3000, "NVIDIA Z9000", "1e308"]),
                      st.text(max_size=10), st.floats(allow_nan=True, allow_infinity=True).map(repr))
UNIT_SWAPS = [("[W]", "[kW]"), ("[W]", "[mW]"), ("[W]", ""), (" W", " kW"), ("gCO₂eq/kWh", "kgCO₂eq/kWh"), ("%", "[ratio]"),
              ("power.draw", "power.drawn"), ("energy_consumed", "energy_kwh"), ("value", "moer"), ("W ", "MW ")]


@st.composite
def import_cases(draw):
    """A bundled measurement file mutated in its cells, units, columns, rows and encoding; the import arguments."""
    name = draw(st.sampled_from(sorted(IMPORT_BASES)))
    lines = list(IMPORT_LINES[name])
    sep = "," if "," in lines[0] else None
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["cell", "cell", "unit", "drop_column", "rows", "blank", "header"]))
        i = draw(st.integers(0, max(len(lines) - 1, 0))) if lines else 0
        if kind == "cell" and lines:
            cells = lines[i].split(sep) if sep else lines[i].split()
            cells[draw(st.integers(0, len(cells) - 1))] = draw(CELLS)
            lines[i] = (sep or "  ").join(cells)
        elif kind == "unit" and lines:
            old, new = draw(st.sampled_from(UNIT_SWAPS))
            lines = [line.replace(old, new) for line in lines]
        elif kind == "drop_column" and lines and sep:
            col = draw(st.integers(0, len(lines[0].split(sep)) - 1))
            lines = [sep.join(c for j, c in enumerate(line.split(sep)) if j != col) for line in lines]
        elif kind == "rows":
            how = draw(st.sampled_from(["header only", "one row", "duplicate", "reverse", "empty"]))
            lines = {"header only": lines[:1], "one row": lines[:2], "duplicate": lines + lines[1:],
                     "reverse": lines[:1] + lines[1:][::-1], "empty": []}[how]
        elif kind == "blank":
            lines.insert(i, draw(st.sampled_from(["", ",,,,", "#", " "])))
        elif kind == "header" and lines:
            lines[0] = draw(st.one_of(texts, st.just(lines[0].upper()), st.just(lines[0].replace(",", ";"))))
    text = "\n".join(lines) + ("\n" if lines else "")
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["bom", "utf-16", "latin-1", "crlf", "nul"]))
    data = {"utf-8": lambda: text.encode("utf-8", "surrogatepass"), "bom": lambda: b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass"),
            "utf-16": lambda: text.encode("utf-16", "surrogatepass"), "latin-1": lambda: text.encode("latin-1", "replace") + b"\xe9",
            "crlf": lambda: text.replace("\n", "\r\n").encode("utf-8", "surrogatepass"),
            "nul": lambda: text.encode("utf-8", "surrogatepass")[:200] + b"\x00\x00" + text.encode("utf-8", "surrogatepass")[200:]}[encoding]()
    kind = "grid" if name.startswith("grid") else "codecarbon" if name.startswith("codecarbon") else "power-log"
    extra = list(IMPORT_BASES[name][1])
    if kind == "grid" and draw(st.booleans()):
        extra += ["--start", draw(st.sampled_from(["2024-03-02", "2024-03-04T09:00", "2025-01-01", "nonsense"])),
                  "--end", draw(st.sampled_from(["2024-03-03", "2024-03-04T11:00", "2023-01-01", ""]))]
    return kind, name, data, extra


@settings(max_examples=NEW_CASES["import"] * SCALE)
@given(case=import_cases())
def test_fuzz_import_files(case):
    kind, name, data, extra = case
    suffix = ".txt" if name == "dcgmi" else ".csv"
    path = _write(data, "measured" + suffix)
    out = path.parent / "out.toml"
    argv = ["import", kind, str(path), *extra] + ([] if kind == "grid" else ["-o", str(out)])
    result = assert_contract(invoke(argv), argv)
    event(f"{kind}: {result}")
    if result == "error":
        assert sorted(p.name for p in path.parent.iterdir()) == [path.name], f"{argv}: an error left files behind"
    elif kind != "grid":
        carbon_mc.load_scenario(out, priors=TABLE)  # what an import writes is a valid scenario


CARD_BODY = "# A model\n\nTrained on text.\n"
FRONT_MATTER = st.one_of(
    st.sampled_from(["license: mit\ntags:\n- llm\n", "", "co2_eq_emissions: 5\n", "co2_eq_emissions:\n  emissions: -1\n  source: x\n",
                     "co2_eq_emissions: [1, 2]\n", "a: &x [1, 2]\nb: *x\n", "key: 'unclosed\n", "\tlicense: mit\n", "- a\n- b\n",
                     "license: mit\nlicense: apache-2.0\n", "x: " + "y" * 5000 + "\n", "!!python/object:os.system 'ls'\n",
                     "co2_eq_emissions:\n  emissions: .nan\n", "model-index:\n- name: x\n  results: []\n", ": :\n", "---\n",
                     "a: b\n...\n", "ünï: ☃\n", "null\n", "42\n"]),
    st.text(max_size=40),
)


@st.composite
def model_cards(draw):
    """A README.md whose YAML front matter is mutated (or missing, unclosed, repeated), in several encodings."""
    front = draw(FRONT_MATTER)
    layout = draw(st.sampled_from(["normal", "normal", "none", "unclosed", "twice", "leading blank", "dots"]))
    text = {"normal": f"---\n{front}---\n{CARD_BODY}", "none": CARD_BODY + front, "unclosed": f"---\n{front}{CARD_BODY}",
            "twice": f"---\n{front}---\n---\n{front}---\n{CARD_BODY}", "leading blank": f"\n---\n{front}---\n{CARD_BODY}",
            "dots": f"---\n{front}...\n{CARD_BODY}"}[layout]
    encoding = draw(st.sampled_from(["utf-8"] * 5 + ["bom", "crlf", "latin-1", "utf-16"]))
    data = {"utf-8": lambda: text.encode("utf-8", "surrogatepass"), "bom": lambda: b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass"),
            "crlf": lambda: text.replace("\n", "\r\n").encode("utf-8", "surrogatepass"),
            "latin-1": lambda: text.encode("latin-1", "replace") + b"\xe9", "utf-16": lambda: text.encode("utf-16", "surrogatepass")}[encoding]()
    return data, draw(st.sampled_from(["README.md", "card.md", "card.yaml"]))


@functools.cache
def _card_block() -> str:
    sim = carbon_mc.build_simulator("gpt3_175b", priors=TABLE)
    _, outputs = carbon_mc.draw(sim, num_draws=256, seed=0)
    return carbon_mc.claims.model_card_from_draws(sim.scenario, sim, outputs, "operational_tco2e", num_draws=256, seed=0)


@settings(max_examples=NEW_CASES["model_card"] * SCALE)
@given(card=model_cards(), through_cli=st.integers(0, 9))
def test_fuzz_model_cards(card, through_cli):
    data, name = card
    path = _write(data, name)
    before = path.read_bytes()
    if through_cli == 0:  # one case in ten through `carbon-mc check --model-card` (draws), the rest in-process
        argv = ["check", "gpt3_175b", "--draws", "64", "--model-card", str(path)]
        result = assert_contract(invoke(argv), argv)
        if result == "error":
            assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == [name], argv
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # the in-process merge takes text; undecodable bytes are the CLI cases' concern
    try:
        merged = carbon_mc.claims.merge_front_matter(text, _card_block(), file=name)
        event("merged")
    except carbon_mc.CarbonMCError as exc:
        event("refused")
        assert isinstance(exc, carbon_mc.InputError) and "\n" not in str(exc) and len(str(exc)) < 1500, exc
        return
    assert isinstance(merged, str) and "co2_eq_emissions" in merged and "Trained on text." in merged


API_VALUES = st.one_of(hostile, st.none(), st.sampled_from([-1, 0, 2**64, np.int64(-3), np.float32(np.nan)]),
                       st.lists(st.integers(-5, 5), max_size=3).map(np.array), st.just(np.array([[1.0, 2.0]])),
                       st.just(np.array(["a", "b"])), st.just(object()))


def _api_calls():
    """{function: (valid keyword arguments, lazily built), the arguments the fuzzer replaces} for cheap public calls."""
    good = "gpt3_175b"
    return {
        "build_simulator": (lambda: {"scenario": good}, ["scenario", "priors", "posterior"]),
        "estimate": (lambda: {"scenario": good, "num_draws": 64}, ["num_draws", "seed", "chunk_size", "method", "priors",
                                                                    "progress", "posterior", "as_inference_data", "nonfinite",
                                                                    "jax_devices"]),
        "estimate_summary": (lambda: {"scenario": good, "num_draws": 64}, ["num_draws", "seed", "method", "variables", "rel_error",
                                                                            "chunk_size", "nonfinite"]),
        "load_scenario": (lambda: {"path": good}, ["path", "priors"]),
        "load_serving_scenario": (lambda: {"path": "bloom_176b_api"}, ["path", "priors"]),
        "load_any_scenario": (lambda: {"path": good}, ["path", "priors"]),
        "parse_scenario": (lambda: {"doc": {"run": dict(BASE_RUN)}}, ["doc", "file", "table", "sha256"]),
        "load_priors": (lambda: {"use_env": False}, ["directory", "overlays", "use_env"]),
        "hdi": (lambda: {"values": np.linspace(0, 1, 50)}, ["values", "prob", "sorted_values"]),
        "percentile_of": (lambda: {"values": np.linspace(0, 1, 50), "value": 0.5}, ["values", "value"]),
        "summarize": (lambda: {"ds": _api_dataset()}, ["ds", "variables"]),
        "to_inference_data": (lambda: {"ds": _api_dataset()}, ["ds"]),
        "check_claim": (lambda: {"scenario": good, "claim": 500.0, "unit": "t", "num_draws": 64},
                        ["claim", "unit", "quantity", "grid_basis", "pue_included", "seed", "tail_fraction", "nonfinite"]),
        "compare": (lambda: {"a": good, "b": "llama_65b", "num_draws": 64}, ["a", "b", "quantity", "seed", "common_random_numbers",
                                                                            "grid_basis", "pue_included"]),
        "lifecycle": (lambda: {"training": None, "serving": "bloom_176b_api", "num_draws": 64}, ["training", "serving", "days", "seed"]),
        "run_scenario": (lambda: {"scenario": good, "num_draws": 64}, ["num_draws", "seed", "method", "rel_error", "stream",
                                                                        "keep_draws", "nonfinite", "progress"]),
        "sensitivity": (lambda: {"scenario": good, "num_base": 64, "num_resamples": 0}, ["output", "num_base", "seed", "groups",
                                                                                         "second_order", "conf_level", "ci_method",
                                                                                         "sampler", "chunk_size"]),
        "megatron_check": (lambda: {"num_draws": 64}, ["num_draws", "seed", "priors"]),
        "carbon_exponents": (lambda: {"ds": _api_dataset(), "dim": "size"}, ["ds", "dim"]),
        "measured_runs": (lambda: {"models": []}, ["models", "priors"]),
    }


@functools.cache
def _api_dataset():
    return carbon_mc.estimate("gpt3_175b", num_draws=64)


API_CALLS = _api_calls()


@settings(max_examples=NEW_CASES["api"] * SCALE)
@given(function=st.sampled_from(sorted(API_CALLS)), data=st.data())
def test_fuzz_python_api(function, data):
    """A public function with one or two arguments replaced by a hostile value: it returns, or raises one
    InputError (NumericError for draws) on one line; never a TypeError, AttributeError or ValueError from below."""
    valid, arguments = API_CALLS[function]
    kwargs = valid()
    for arg in data.draw(st.lists(st.sampled_from(arguments), min_size=1, max_size=2, unique=True)):
        kwargs[arg] = data.draw(API_VALUES)
    folder = WORK / f"api{next(_serial)}"
    folder.mkdir()
    cwd = os.getcwd()
    os.chdir(folder)  # a string taken for a file to write lands here
    try:
        getattr(carbon_mc, function)(**kwargs)
        event("returned")
    except carbon_mc.CarbonMCError as exc:
        event("refused")
        assert isinstance(exc, (carbon_mc.InputError, carbon_mc.NumericError)), (function, kwargs, exc)
        assert "\n" not in str(exc) and str(exc).strip(), (function, kwargs)
    finally:
        os.chdir(cwd)


def test_fuzz_budget_of_the_new_surfaces_is_at_least_2000_cases():
    assert sum(NEW_CASES.values()) * SCALE >= 2000
