"""Every public function checks its arguments' types: a wrong one is an `InputError` that names it.

For each public function of `carbon_mc` (the callables of ``carbon_mc.__all__``) and of
`carbon_mc.claims`, `carbon_mc.scenarios` and `carbon_mc.joint`, and for each of its arguments,
the call is made with that argument replaced by None, a string, a list, a NumPy array and a
negative number (the others valid, draw counts small). The call must either return (where that
value is valid, e.g. None for an optional argument) or raise one `InputError` whose message names
the argument (`OutputError` for a place to write to): never a TypeError, AttributeError or
ValueError from Python, JAX or NumPy.

Functions that fit a calibration (NUTS) are tested on the checks that run before any fitting: a
fit started by a mutated call fails the test.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

import carbon_mc
import carbon_mc.claims
import carbon_mc.joint
import carbon_mc.scenarios

GOOD = "gpt3_175b"
SERVING = "bloom_176b_api"
DRAWS = 256
MUTATIONS = {"None": None, "string": "abc", "list": [1, 2], "array": np.array([1.0, 2.0]), "negative": -1}


@functools.cache
def scenario():
    return carbon_mc.load_scenario(GOOD)


@functools.cache
def simulator():
    return carbon_mc.build_simulator(GOOD)


@functools.cache
def drawn():
    """(inputs, outputs) of a small run of `simulator`."""
    return carbon_mc.draw(simulator(), num_draws=DRAWS, seed=0)


@functools.cache
def dataset():
    return carbon_mc.estimate(GOOD, num_draws=DRAWS)


@functools.cache
def sweep():
    return carbon_mc.scaling_sweep([1e9, 1e10], hardware=("a100_80gb",), num_draws=DRAWS)


def _serving_doc() -> dict:
    import tomllib

    return tomllib.loads(carbon_mc.scenarios.bundled_names()[SERVING].read_text(encoding="utf-8"))


def _values():
    return np.linspace(1.0, 2.0, DRAWS)


def _selected():
    return np.arange(DRAWS) % 4 == 0


@dataclass
class Spec:
    """A public function, a valid call of it (arguments by name; callables are built lazily) and what to mutate."""

    function: Callable
    valid: dict
    args: list[str] | None = None  # the arguments mutated (default: every parameter of the signature but `_private` ones)
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)  # words a message may use for an argument
    skip: dict[str, tuple[str, ...]] = field(default_factory=dict)  # (arg: mutation names) not run: a valid call that fits
    writes: tuple[str, ...] = ()  # arguments that name a place to write: OutputError is the right kind there

    def arguments(self) -> list[str]:
        if self.args is not None:
            return self.args
        params = inspect.signature(self.function).parameters.values()
        return [p.name for p in params if not p.name.startswith("_") and p.kind is not p.VAR_KEYWORD]


def _fail_if_fitting(*args, **kwargs):
    raise AssertionError("a calibration fit started: the argument checks must run before any fitting")


# arguments that name a file, a directory or a bundled scenario: a message naming the value given names the argument
NAMED_BY_VALUE = {"scenario", "path", "a", "b", "training", "serving", "directory", "overlays", "models", "calibration", "out"}
SPECS: dict[str, Spec] = {
    # --- carbon_mc ---
    "build_simulator": Spec(carbon_mc.build_simulator, {"scenario": GOOD}),
    "calibrated_priors": Spec(carbon_mc.calibrated_priors, {"idata": None, "scenario": scenario}, args=["idata"]),
    "carbon_exponents": Spec(carbon_mc.carbon_exponents, {"ds": sweep}, names={"ds": ("ds", "dataset")}),
    "check_claim": Spec(carbon_mc.check_claim, {"scenario": GOOD, "claim": 500.0, "unit": "t", "num_draws": DRAWS}),
    "check_claims": Spec(carbon_mc.check_claims, {"scenario": GOOD, "num_draws": DRAWS}),
    "compare": Spec(carbon_mc.compare, {"a": GOOD, "b": "llama_65b", "num_draws": DRAWS},
                    names={"a": ("scenario a", "scenario"), "b": ("scenario b", "scenario")}),
    "draw": Spec(carbon_mc.draw, {"model": simulator, "num_draws": DRAWS}),
    "estimate": Spec(carbon_mc.estimate, {"scenario": GOOD, "num_draws": DRAWS}),
    "estimate_summary": Spec(carbon_mc.estimate_summary, {"scenario": GOOD, "num_draws": DRAWS}),
    "fit_calibration": Spec(carbon_mc.fit_calibration, {}, args=["runs", "seed", "priors"], skip={"runs": ("None",), "priors": ("None",)}),
    "hdi": Spec(carbon_mc.hdi, {"values": _values}),
    "leave_one_out": Spec(carbon_mc.leave_one_out, {}, skip={"runs": ("None",), "priors": ("None",), "hold_out": ("None",),
                                                             "calibrator": ("None",), "progress": ("None",)}),
    "lifecycle": Spec(carbon_mc.lifecycle, {"training": None, "serving": SERVING, "num_draws": DRAWS}),
    "load_any_scenario": Spec(carbon_mc.load_any_scenario, {"path": GOOD}),
    "load_calibration": Spec(carbon_mc.load_calibration, {"path": "none.nc"}),
    "load_dataset": Spec(carbon_mc.load_dataset, {"path": "none.nc"}),
    "load_priors": Spec(carbon_mc.load_priors, {"use_env": False}),
    "load_scenario": Spec(carbon_mc.load_scenario, {"path": GOOD}),
    "load_serving_scenario": Spec(carbon_mc.load_serving_scenario, {"path": SERVING}),
    "measured_runs": Spec(carbon_mc.measured_runs, {}),
    "megatron_check": Spec(carbon_mc.megatron_check, {"num_draws": DRAWS}),
    "parse_scenario": Spec(carbon_mc.parse_scenario, {"doc": lambda: {"run": {"name": "x", "hardware": "a100_40gb", "devices": 8,
                                                                                "days": 1.0, "region": "france",
                                                                                "datacenter": "hyperscale"}}}),
    "percentile_of": Spec(carbon_mc.percentile_of, {"values": _values, "value": 1.5}),
    "run_scenario": Spec(carbon_mc.run_scenario, {"scenario": GOOD, "num_draws": DRAWS}, writes=("out",)),
    "save_calibration": Spec(carbon_mc.save_calibration, {"idata": None, "path": "c.nc"}, args=["idata"]),
    "save_dataset": Spec(carbon_mc.save_dataset, {"ds": dataset, "path": "d.nc"}, names={"ds": ("ds", "dataset")},
                         writes=("path",)),
    "scaling_sweep": Spec(carbon_mc.scaling_sweep, {"parameters": [1e9], "hardware": ("a100_80gb",), "num_draws": DRAWS}),
    "sensitivity": Spec(carbon_mc.sensitivity, {"scenario": GOOD, "num_base": 64, "num_resamples": 20}),
    "summarize": Spec(carbon_mc.summarize, {"ds": dataset}, names={"ds": ("ds", "dataset")}),
    "to_inference_data": Spec(carbon_mc.to_inference_data, {"ds": dataset}, names={"ds": ("ds", "dataset")}),
    # --- carbon_mc.claims (check_claim, check_claims: above) ---
    "claims.card_quantity": Spec(carbon_mc.claims.card_quantity, {"quantity": "operational_tco2e"}),
    "claims.check_scenario": Spec(carbon_mc.claims.check_scenario, {"scenario": GOOD, "claim": 500.0, "unit": "t",
                                                                     "num_draws": DRAWS}),
    "claims.input_columns": Spec(lambda model, inputs: list(carbon_mc.claims.input_columns(model, inputs)),
                                 {"model": simulator, "inputs": lambda: drawn()[0]}),
    "claims.input_shifts": Spec(carbon_mc.claims.input_shifts, {"model": simulator, "inputs": lambda: drawn()[0],
                                                                 "selected": _selected}),
    "claims.ks_distance": Spec(carbon_mc.claims.ks_distance, {"a": _values, "b": _values}),
    "claims.make_claim": Spec(carbon_mc.claims.make_claim, {"value": 500.0, "unit": "t"}),
    "claims.merge_front_matter": Spec(carbon_mc.claims.merge_front_matter, {"card_text": "# A model\n",
                                                                             "block_yaml": "co2_eq_emissions:\n  emissions: 1\n"}),
    "claims.model_card_block": Spec(carbon_mc.claims.model_card_block, {"scenario": scenario, "values_t": _values}),
    "claims.model_card_from_draws": Spec(carbon_mc.claims.model_card_from_draws,
                                         {"scenario": scenario, "model": simulator, "outputs": lambda: drawn()[1],
                                          "quantity": "operational_tco2e", "num_draws": DRAWS, "seed": 0}),
    "claims.reach_factors": Spec(carbon_mc.claims.reach_factors, {"model": simulator, "inputs": lambda: drawn()[0],
                                                                   "quantity": "operational_tco2e", "claim_value": 1e6}),
    "claims.scenario_claims": Spec(carbon_mc.claims.scenario_claims, {"scenario": scenario}),
    "claims.select_claims": Spec(carbon_mc.claims.select_claims, {"scenario": scenario, "claim": 500.0, "unit": "t"}),
    "claims.simulate": Spec(carbon_mc.claims.simulate, {"scenario": GOOD, "num_draws": DRAWS}),
    # --- carbon_mc.scenarios (load_*: above) ---
    "scenarios.bundled_names": Spec(carbon_mc.scenarios.bundled_names, {}),
    "scenarios.is_serving_file": Spec(carbon_mc.scenarios.is_serving_file, {"path": "none.toml"}),
    "scenarios.parse_serving_scenario": Spec(carbon_mc.scenarios.parse_serving_scenario, {"doc": lambda: _serving_doc()}),
}
assert "carbon_mc.joint" and carbon_mc.joint.compare is carbon_mc.compare and carbon_mc.joint.lifecycle is carbon_mc.lifecycle


# Functions whose argument checks are known to be missing, as strict xfails ({function: {argument: mutations}}):
# none now. An entry here passes once its module checks the argument.
OUTSIDE: dict[str, dict[str, str]] = {}  # every public function checks its arguments now
MODULE_OF = {"claims.card_quantity": "carbon_mc/claims/model_card.py", "claims.model_card_block": "carbon_mc/claims/model_card.py",
             "claims.model_card_from_draws": "carbon_mc/claims/model_card.py",
             "claims.merge_front_matter": "carbon_mc/claims/front_matter.py", "save_dataset": "carbon_mc/io/files.py"}


def _outside_reason(fname: str, arg: str, mutation: str) -> str | None:
    if mutation not in OUTSIDE.get(fname, {}).get(arg, "").split():
        return None
    module = MODULE_OF.get(fname, "carbon_mc/claims/reach.py")
    return f"defect: {module} does not check the type of {arg!r} ({mutation}): an error other than an InputError naming it"


def _cases():
    for fname, spec in SPECS.items():
        for arg in spec.arguments():
            for mutation in MUTATIONS:
                if mutation in spec.skip.get(arg, ()):
                    continue
                reason = _outside_reason(fname, arg, mutation)
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                yield pytest.param(fname, arg, mutation, id=f"{fname}-{arg}-{mutation}", marks=marks)


CASES = list(_cases())
_passed: set = set()  # (function, kwargs that equal the valid call's): calls already made once


def _materialize(valid: dict) -> dict:
    return {k: (v() if callable(v) and not isinstance(v, type) and k not in ("progress",) else v) for k, v in valid.items()}


@pytest.fixture(autouse=True)
def _no_fitting_and_no_stray_files(tmp_path, monkeypatch):
    from carbon_mc.calibration.fit import Calibrator

    monkeypatch.setattr(Calibrator, "fit_many", _fail_if_fitting)
    monkeypatch.setattr(Calibrator, "fit", _fail_if_fitting)
    monkeypatch.chdir(tmp_path)  # a string taken for a file name lands here
    monkeypatch.delenv("CARBON_MC_PRIORS", raising=False)


@pytest.mark.parametrize("fname,arg,mutation", CASES)
def test_argument_types(fname, arg, mutation):
    spec = SPECS[fname]
    kwargs = _materialize(spec.valid)
    value = MUTATIONS[mutation]
    params = inspect.signature(spec.function).parameters
    default = params[arg].default if arg in params else inspect.Parameter.empty
    if value is None and default is None and arg not in spec.valid:
        key = fname
        if key in _passed:  # the same call as the valid one, made already
            return
    kwargs[arg] = value
    try:
        result = spec.function(**kwargs)
        if inspect.isgenerator(result):
            list(result)
    except carbon_mc.CarbonMCError as exc:
        kinds = (carbon_mc.InputError, carbon_mc.OutputError) if arg in spec.writes else (carbon_mc.InputError,)
        assert isinstance(exc, kinds), f"{fname}({arg}={value!r}): {type(exc).__name__}: {exc}"
        message = str(exc)
        assert "\n" not in message
        words = spec.names.get(arg, (arg,))
        if arg in NAMED_BY_VALUE and isinstance(value, str):
            words = (*words, value)  # a file or bundled name: a message that echoes it names it ("abc: no such file")
        assert any(w in message for w in words), f"{fname}({arg}={value!r}): the message does not name {arg!r}: {message}"
        return
    if value is None and default is None and arg not in spec.valid:
        _passed.add(fname)


def test_every_public_function_is_covered():
    public = {n for n in carbon_mc.__all__ if callable(getattr(carbon_mc, n)) and not isinstance(getattr(carbon_mc, n), type)}
    for module in (carbon_mc.claims, carbon_mc.scenarios, carbon_mc.joint):
        for n in module.__all__:
            obj = getattr(module, n)
            if callable(obj) and not isinstance(obj, type) and obj not in {getattr(carbon_mc, m, None) for m in public}:
                public.add(f"{module.__name__.rsplit('.', 1)[1]}.{n}")
    assert public <= set(SPECS), sorted(public - set(SPECS))


def test_valid_calls_unchanged():
    """The checks change no valid call's numbers: a seed as a NumPy integer equals the same int."""
    a = carbon_mc.estimate(GOOD, num_draws=DRAWS, seed=3)
    b = carbon_mc.estimate(GOOD, num_draws=DRAWS, seed=np.int64(3))
    np.testing.assert_array_equal(a["total_tco2e"].values, b["total_tco2e"].values)
    assert math.isfinite(float(a["total_tco2e"].median()))
