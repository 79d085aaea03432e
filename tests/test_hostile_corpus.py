"""A corpus of hostile inputs, by command: each ends in one error line (exit 2) or in finite,
non-negative results (exit 0); never a traceback, never a NaN, never an impossible number.

`test_corpus_size` prints how many cases each command has (``pytest -s -k corpus_size``).
"""

from __future__ import annotations

import collections
import math

import pytest

import carbon_mc
from hostile import BASE_RUN, assert_contract, invoke, toml_document

HOSTILE_VALUES = [5, -1, 0, 1e300, 1e-300, 1e39, "abc", ["x"], {"a": 1}, True, math.nan, math.inf, "ünïcødé ☃", "x" * 200_000]
RUN_KEYS = ["name", "hardware", "devices", "days", "device_hours", "parameters", "tokens", "train_flops", "region",
            "datacenter", "year", "pue", "grid_gco2_per_kwh", "target_loss", "compute_budget_flop", "scaling_fit", "source"]
PRIOR_TABLES = [
    {"distribution": [1], "params": {}, "source": "s"},
    {"distribution": "normal", "params": {"loc": 1.1, "scale": 0.5}, "source": "s"},
    {"distribution": "normal", "params": {"loc": -3.0, "scale": 0.5}, "source": "s"},
    {"distribution": "triangular", "params": {"low": 0.5, "mode": 1.0, "high": 1.5}, "source": "s"},
    {"distribution": "uniform", "params": {"low": 0.0, "high": 2.0}, "source": "s"},
    {"distribution": "uniform", "params": {"low": 1.0, "high": 1e300}, "source": "s"},
    {"distribution": "lognormal", "params": {"median": 1.2, "sigma": 40.0}, "source": "s"},
    {"distribution": "lognormal", "params": {"p5": 1.1, "p95": 1.3}, "source": "s", "year": "abc"},
    {"distribution": "fixed", "params": {"value": "1.1"}, "source": "s"},
    {"distribution": "fixed", "params": {"value": 1.2}, "source": 5},
    {"distribution": "fixed", "params": [1.2], "source": "s"},
    {"distribution": "truncated_normal", "params": {"loc": 1.1, "scale": 0.1, "low": 0.0}, "source": "s"},
    {"distribution": "multivariate_normal", "params": {"components": ["a", "b"], "mean": [[1], [2]], "cov": [[1, 0], [0, 1]]},
     "source": "s"},
    {"value": 1e300},
    {"value": -2.0, "source": "s"},
    {"source": "s"},
]
PRIOR_QUANTITIES = ["pue", "lifetime_utilization_fraction", "service_life_years", "accelerator_power_tdp_fraction",
                    "grid_gco2_per_kwh", "context_length_tokens", "vocabulary_size"]


def _doc(**changes) -> dict:
    run = dict(BASE_RUN)
    for key, value in changes.pop("run", {}).items():
        if value is None:
            run.pop(key, None)
        else:
            run[key] = value
    return {"run": run, **changes}


def _scenario_cases():
    cases = []
    for key in RUN_KEYS:
        for i, value in enumerate(HOSTILE_VALUES):
            if isinstance(value, str) and len(value) > 1000 and key not in ("name", "region", "hardware"):
                continue
            changes = {key: value}
            if key == "pue":
                changes["datacenter"] = None
            if key == "grid_gco2_per_kwh":
                changes["region"] = None
            if key in ("target_loss", "compute_budget_flop", "tokens"):
                changes.update(parameters=7e9, devices=None, days=None)
            cases.append((f"run.{key}={i}", _doc(run=changes)))
    for quantity in PRIOR_QUANTITIES:
        for value in [-5, 0, 0.5, 1e300, 1e-35, True, "high", [1.1]]:
            cases.append((f"priors.{quantity}={value!r}"[:60], _doc(priors={quantity: value})))
        for i, table in enumerate(PRIOR_TABLES):
            cases.append((f"priors.{quantity}.table{i}", _doc(priors={quantity: table})))
    for i, reported in enumerate([{"co2e_scope": ["total"], "co2e_t": 5}, {"co2e_t": -1}, {"energy_mwh": 1e300},
                                  {"energy_scope": 5}, {"basis": "guess"}, {"source": 5}, {"unknown": 1}, "text"]):
        cases.append((f"reported{i}", _doc(reported=reported)))
    for i, accounting in enumerate([{"grid_basis": "market"}, {"grid_basis": ["market"]}, {"pue_included": "no"},
                                    {"grid_basis": "market", "market_gco2_per_kwh": -1},
                                    {"grid_basis": "market", "market_gco2_per_kwh": 1e300},
                                    {"grid_basis": "market", "market_gco2_per_kwh": {"distribution": "normal",
                                                                                      "params": {"loc": 10, "scale": 50},
                                                                                      "source": "s"}}]):
        cases.append((f"accounting{i}", _doc(accounting=accounting)))
    for i, claim in enumerate([{"value": 1, "unit": "t", "source": "s", "quantity": ["a"]},
                               {"value": "1", "unit": "t", "source": "s"}, {"value": 1e300, "unit": "t", "source": "s"},
                               {"value": 1, "unit": ["t"], "source": "s"}, {"value": 1, "unit": "t", "source": 5},
                               {"value": 1, "unit": "t", "source": "s", "label": 7},
                               {"value": 1, "unit": "t", "source": "s", "pue_included": 1}]):
        cases.append((f"claims{i}", _doc(claims=[claim])))
    cases += [("section", {"run": BASE_RUN, "extra": {"a": 1}}), ("no run", {"reported": {"co2e_t": 1}}),
              ("run is a string", {"run": "x"}), ("priors is a list", _doc(priors=[1]))]
    return cases


SCENARIOS = _scenario_cases()
OUTCOMES: collections.Counter = collections.Counter()  # (command, "error" | "ok") over the cases this test run executed
RAW_FILES = {
    "bom": b"\xef\xbb\xbf" + toml_document(_doc()).encode(),
    "latin1": toml_document(_doc(run={"name": "caf\xe9"})).encode("latin-1"),
    "binary": bytes(range(256)),
    "empty": b"",
    "malformed": b"[run\nname = ",
}


@pytest.mark.parametrize("case,doc", SCENARIOS, ids=[c for c, _ in SCENARIOS])
def test_run_scenario_corpus(tmp_path, case, doc):
    path = tmp_path / "s.toml"
    path.write_text(toml_document(doc), encoding="utf-8")
    argv = ["run", str(path), "--draws", "256", "--json"]
    OUTCOMES["run", assert_contract(invoke(argv), argv)] += 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


@pytest.mark.parametrize("name", sorted(RAW_FILES))
@pytest.mark.parametrize("command", ["run", "check", "sensitivity"])
def test_raw_file_corpus(tmp_path, name, command):
    path = tmp_path / "s.toml"
    path.write_bytes(RAW_FILES[name])
    argv = [command, str(path)]
    OUTCOMES[command, assert_contract(invoke(argv), argv, expect="error")] += 1


def test_raw_file_in_calibrate_models_dir(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "bad.toml").write_bytes(RAW_FILES["latin1"])
    argv = ["calibrate", "--models", str(tmp_path / "models"), "--out", str(tmp_path / "c.nc")]
    OUTCOMES["calibrate", assert_contract(invoke(argv), argv, expect="error")] += 1


GOOD = "gpt3_175b"
ARG_CASES = {
    "run": [
        ["--draws", "1.5e0"], ["--draws", "1e400"], ["--draws", "0"], ["--draws", "-5"], ["--draws", "abc"], ["--draws", "nan"],
        ["--seed", "-1"], ["--seed", str(2**64), "--method", "mc"], ["--seed", str(2**64)], ["--seed", "1.5"],
        ["--method", "sobol"], ["--rel-error", "nan"], ["--rel-error", "2"], ["--rel-error", "0"],
        ["--out", "{tmp}"], ["--out", "{tmp}/missing/x.nc"], ["--out", "{tmp}/x.txt"], ["--out", "/proc/x.nc"],
        ["--out", "{tmp}/x.nc", "--stream"], ["--draws", "100000000", "--out", "{tmp}/x.nc"],
        ["--calibrated", "{tmp}/none.nc"], ["--calibrated", "{tmp}"], ["--unknown-flag"],
        ["--draws", "300", "--json"], ["--draws", "300", "--stream", "--json"], ["--draws", "300", "--method", "mc"],
    ],
    "check": [
        ["--claim", "nan"], ["--claim", "-1"], ["--claim", "1e400"], ["--claim", "5", "--unit", "parsec"],
        ["--claim", "5", "--quantity", "height"], ["--plot", "{tmp}"], ["--plot", "{tmp}/p.gif"],
        ["--plot", "{tmp}/p.png", "--model-card", "{tmp}"], ["--plot", "{tmp}/p.png", "--model-card", "/proc/m.yaml"],
        ["--draws", "1.5"], ["--seed", "-3"], ["--basis", "nuclear"], ["--draws", "400", "--json"],
    ],
    "compare": [
        ["models/does_not_exist.toml"], ["--plot", "{tmp}"], ["--plot", "{tmp}/c.jpg"], ["--draws", "0"],
        ["--seed", str(2**40)], ["llama_65b", "--draws", "400", "--json"],
    ],
    "sensitivity": [
        ["--base-draws", "1.5"], ["--output", "nonsense"], ["--group", "=,"], ["--conf-level", "1.5"],
        ["--conf-level", "nan"], ["--out", "{tmp}/a.nc", "--plot", "{tmp}"], ["--out", "{tmp}/a.nc", "--plot", "/proc/s.png"],
        ["--seed", "-1"],
    ],
    "scaling": [
        ["--parameters", "1e30"], ["--parameters", "1e300"], ["--parameters", "nan"], ["--parameters", "-1"],
        ["--compute", "1e400"], ["--target-days", "nan"], ["--target-days", "-1"], ["--tokens-per-parameter", "inf"],
        ["--hardware", "nope"], ["--draws", "1.5e0"], ["--out", "{tmp}/s.nc", "--plot", "{tmp}"],
    ],
    "bench": [["--draws", "0"], ["--repeats", "1.5"], ["--method", "x"], ["--scenario", "{tmp}/none.toml"]],
    "calibrate": [["--out", "{tmp}"], ["--models", "{tmp}/none"], ["--chains", "0"], ["--seed", "-1"]],
    "validate": [["--seed", "-1"], ["--out", "{tmp}"]],
    "list": [["nothing"], ["regions", "--priors", "{tmp}/none"]],
    "import": [["codecarbon", "{tmp}/none.csv", "-o", "{tmp}/x.toml"], ["power-log", "{tmp}/none.log", "-o", "{tmp}",
                                                                         "--interval", "nan"],
               ["grid", "{tmp}/none.csv"], ["codecarbon", "{tmp}/none.csv", "-o", "{tmp}/x.toml", "--pue", "-5"]],
}
TAKES_SCENARIO = {"run", "check", "compare", "sensitivity"}


def _arg_cases():
    for command, cases in ARG_CASES.items():
        for args in cases:
            yield command, args


@pytest.mark.parametrize("command,args", list(_arg_cases()), ids=[f"{c}:{' '.join(a)[:50]}" for c, a in _arg_cases()])
def test_argument_corpus(tmp_path, command, args):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    argv = [command, *([GOOD] if command in TAKES_SCENARIO else []), *args]
    if command == "sensitivity":
        argv += ["--base-draws", "64"]
    before = set(tmp_path.iterdir())
    result = assert_contract(invoke(argv), argv)
    OUTCOMES[command, result] += 1
    if result == "error":
        assert set(tmp_path.iterdir()) == before, f"{argv}: an error left files behind"


def test_overlay_priors_corpus(tmp_path, monkeypatch):
    """Custom priors files whose supports leave the physical bounds are refused, naming file and key."""
    outcomes = []
    for i, table in enumerate(PRIOR_TABLES):
        overlay = tmp_path / f"o{i}"
        overlay.mkdir()
        body = {key: value for key, value in table.items()}
        body.setdefault("description", "d")
        (overlay / "site.toml").write_text(toml_document({"pue": {"variants": {"hyperscale": body}}}), encoding="utf-8")
        monkeypatch.setenv("CARBON_MC_PRIORS", str(overlay))
        argv = ["run", GOOD, "--draws", "256", "--json"]
        outcome = invoke(argv)
        outcomes.append(assert_contract(outcome, argv))
        OUTCOMES["run", outcomes[-1]] += 1
        if outcome.code == 2:
            assert "site.toml" in outcome.err
    assert outcomes.count("error") >= len(PRIOR_TABLES) - 2  # only the valid uniform and truncated tables may run


def _api_cases():
    sim = lambda: carbon_mc.build_simulator(GOOD)  # noqa: E731
    return {
        "estimate num_draws=1.5": lambda: carbon_mc.estimate(GOOD, num_draws=1.5),
        "estimate num_draws='10'": lambda: carbon_mc.estimate(GOOD, num_draws="10"),
        "estimate num_draws=0": lambda: carbon_mc.estimate(GOOD, num_draws=0),
        "estimate num_draws=None": lambda: carbon_mc.estimate(GOOD, num_draws=None),
        "estimate seed=-1": lambda: carbon_mc.estimate(GOOD, num_draws=64, seed=-1),
        "estimate seed=2**64 mc": lambda: carbon_mc.estimate(GOOD, num_draws=64, seed=2**64, method="mc"),
        "estimate seed=1.5": lambda: carbon_mc.estimate(GOOD, num_draws=64, seed=1.5),
        "estimate seed='x'": lambda: carbon_mc.estimate(GOOD, num_draws=64, seed="x"),
        "estimate chunk_size=0": lambda: carbon_mc.estimate(GOOD, num_draws=64, chunk_size=0),
        "estimate chunk_size=2.5": lambda: carbon_mc.estimate(GOOD, num_draws=64, chunk_size=2.5),
        "estimate method=sobol": lambda: carbon_mc.estimate(GOOD, num_draws=64, method="sobol"),
        "estimate dict scenario": lambda: carbon_mc.estimate({"run": {}}, num_draws=64),
        "estimate None scenario": lambda: carbon_mc.estimate(None, num_draws=64),
        "estimate nonfinite=maybe": lambda: carbon_mc.estimate(GOOD, num_draws=64, nonfinite="maybe"),
        "estimate_summary num_draws=-3": lambda: carbon_mc.estimate_summary(GOOD, num_draws=-3),
        "estimate_summary seed=-1": lambda: carbon_mc.estimate_summary(GOOD, num_draws=64, seed=-1),
        "estimate_summary chunk_size=0": lambda: carbon_mc.estimate_summary(GOOD, num_draws=64, chunk_size=0),
        "estimate_summary rel_error=2": lambda: carbon_mc.estimate_summary(GOOD, rel_error=2.0),
        "draw num_draws=1.5": lambda: carbon_mc.draw(sim(), num_draws=1.5),
        "draw seed=-1": lambda: carbon_mc.draw(sim(), num_draws=8, seed=-1),
        "draw variables=[nope]": lambda: carbon_mc.draw(sim(), num_draws=8, variables=["nope"]),
        "load_dataset toml": lambda: carbon_mc.load_dataset(carbon_mc.data.bundled_model(GOOD)),
        "load_dataset missing": lambda: carbon_mc.load_dataset("no/such.nc"),
        "load_dataset dict": lambda: carbon_mc.load_dataset({}),
        "load_scenario 5": lambda: carbon_mc.load_scenario(5),
        "parse_scenario list": lambda: carbon_mc.parse_scenario([1, 2]),
        "run_scenario seed=-1": lambda: carbon_mc.run_scenario(GOOD, seed=-1),
        "run_scenario num_draws=1.5": lambda: carbon_mc.run_scenario(GOOD, num_draws=1.5),
        "run_scenario rel_error=nan": lambda: carbon_mc.run_scenario(GOOD, rel_error=math.nan),
        "save_dataset into a directory": lambda: carbon_mc.save_dataset(carbon_mc.estimate(GOOD, num_draws=64), "."),
    }


API_CASES = _api_cases()


@pytest.mark.parametrize("name", sorted(API_CASES))
def test_api_corpus(name):
    with pytest.raises(carbon_mc.CarbonMCError) as info:
        API_CASES[name]()
    OUTCOMES["python API", "error"] += 1
    assert "\n" not in str(info.value)
    assert isinstance(info.value, (carbon_mc.InputError, carbon_mc.NumericError, carbon_mc.OutputError))


def test_corpus_size(capsys):
    counts = collections.Counter({"run": len(SCENARIOS) + len(PRIOR_TABLES)})
    counts.update({c: len(RAW_FILES) for c in ("run", "check", "sensitivity")})
    counts["calibrate"] += 1
    for command, cases in ARG_CASES.items():
        counts[command] += len(cases)
    counts["python API"] = len(API_CASES)
    with capsys.disabled():
        print("\nhostile corpus:", dict(counts), "total", sum(counts.values()))
        if OUTCOMES:  # when the whole corpus ran in this test run: how each case ended (never a traceback)
            print("outcomes:", {f"{c} {r}": n for (c, r), n in sorted(OUTCOMES.items())})
    assert sum(counts.values()) >= 500
