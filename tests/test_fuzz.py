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

import itertools
import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import carbon_mc
from carbon_mc.results.finite import apply_policy
from carbon_mc.sampling import evaluate, uniform_columns
from hostile import BASE_RUN, HEADLINE, assert_contract, invoke, toml_document

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
