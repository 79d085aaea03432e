"""The serving stack and the load regime as weighted choices, drawn per draw (issue #26, point 2)."""

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from carbon_mc import CarbonMCError
from carbon_mc.footprint import serving as sv
from carbon_mc.priors.loader import build_prior
from carbon_mc.sampling import build_simulator, draw
from carbon_mc.scenarios.deployment import load_serving_scenario, parse_serving_scenario

SERVING = Path(__file__).resolve().parents[1] / "models" / "serving"
BASE = {"name": "t", "parameters": 8e9, "hardware": "h100_sxm", "devices_per_replica": 1, "batch": 8, "days": 1,
        "requests_per_day": 1e5, "region": "world", "datacenter": "hyperscale", "input_tokens": 200, "output_tokens": 200}
Q = "energy_wh_per_request"
N = 16_384


def _parse(table, **changes):
    block = {k: v for k, v in {**BASE, **changes}.items() if v is not None}
    return parse_serving_scenario({"serving": block}, file="s.toml", table=table)


def _draw(scenario, table, n=N, variables=(Q,)):
    return draw(build_simulator(scenario, priors=table), num_draws=n, seed=0, method="mc", variables=list(variables))


def _choices(names, weights, source="test"):
    return {"choices": names, "weights": weights, "source": source}


def test_picked_by_quantile_is_the_inverse_cdf_of_the_weights():
    u = jnp.asarray([0.1, 0.69, 0.7, 0.99])
    a, b = jnp.asarray([1.0, 2.0, 3.0, 4.0]), jnp.asarray([10.0, 20.0, 30.0, 40.0])
    assert sv.picked_by_quantile(u, [0.7, 1.0], [a, b]).tolist() == [1.0, 2.0, 30.0, 40.0]
    assert sv.picked_by_quantile(u, [1.0, 1.0], [a, b]).tolist() == a.tolist()  # weights [1, 0]
    # scalars (fixed inputs) broadcast against draws; three choices
    assert sv.picked_by_quantile(u, [0.2, 0.7, 1.0], [jnp.float32(5.0), a, b]).tolist() == [5.0, 2.0, 30.0, 40.0]


def test_weights_one_zero_give_the_single_first_choice(table):
    for stack, load in (("plain_pipeline", "fleet"), ("optimised_server", "on_demand")):
        other_stack = "optimised_server" if stack == "plain_pipeline" else "plain_pipeline"
        single = _parse(table, stack=stack, load=load)
        mixed = _parse(table, stack=_choices([stack, other_stack], [1, 0]), load=_choices([load, "benchmark"], [1.0, 0.0]))
        assert "serving_stack_quantile" in mixed.needed_quantities() and "serving_load_quantile" in mixed.needed_quantities()
        _, a = _draw(single, table)
        _, b = _draw(mixed, table)
        np.testing.assert_array_equal(np.asarray(a[Q]), np.asarray(b[Q]))


def test_half_half_picks_each_choice_in_half_the_draws(table):
    """Each component shares its input's random stream, so a mixture draw equals, exactly, the draw of one of
    the single choices: which one says what was picked. The share picked is Binomial(N, 0.5) / N: within 4
    standard errors, sqrt(0.25 / N) = 0.0039 at N = 16,384."""
    tol = 4.0 * np.sqrt(0.25 / N)
    for key, names, fixed in (("stack", ["optimised_server", "plain_pipeline"], {"load": "fleet"}),
                              ("load", ["benchmark", "on_demand"], {"stack": "plain_pipeline"})):
        first, second = (np.asarray(_draw(_parse(table, **{key: n}, **fixed), table)[1][Q]) for n in names)
        mixed = np.asarray(_draw(_parse(table, **{key: _choices(names, [0.5, 0.5])}, **fixed), table)[1][Q])
        is_first, is_second = np.isclose(mixed, first, rtol=1e-6), np.isclose(mixed, second, rtol=1e-6)
        assert np.mean(np.isclose(first, second, rtol=1e-3)) < 0.01  # the two choices differ draw by draw
        # every draw is one choice's whole draw: a load's busy fraction and over-provisioning picked together
        assert np.all(is_first | is_second)
        assert abs(np.mean(is_first) - 0.5) < tol, (key, np.mean(is_first))


def test_weights_are_read_and_said_in_the_notes(table):
    s = _parse(table, stack=_choices(["optimised_server", "plain_pipeline"], [7, 3], "why 70/30"), replicas=1,
               requests_per_day=None)
    assert s.stack is None and [c for c, _ in s.stack_choices] == ["optimised_server", "plain_pipeline"]
    assert s.stack_choices[0][1] == pytest.approx(0.7) and s.stack_choices[1][1] == 1.0
    assert any("optimised_server 0.7, plain_pipeline 0.3" in n and "why 70/30" in n for n in s.notes)
    # the load choices are unused when traffic and capacity are both given: said, nothing drawn for them
    both = _parse(table, load=_choices(["fleet", "on_demand"], [1, 1]), replicas=1)
    assert "serving_load_quantile" not in both.needed_quantities() and any("not used" in n for n in both.notes)


@pytest.mark.parametrize("key,value,needle,where", [
    ("stack", _choices(["optimized_server", "plain_pipeline"], [1, 1]), "optimised_server", "serving.stack.choices"),
    ("load", _choices(["fleet", "fleet"], [1, 1]), "more than once", "serving.load.choices"),
    ("load", _choices(["fleet", "on_demand"], [1, -1]), "weights", "serving.load"),
    ("load", _choices(["fleet", "on_demand"], [0, 0]), "weights", "serving.load"),
    ("stack", _choices(["optimised_server", "plain_pipeline"], [1]), "weights", "serving.stack"),
    ("stack", {"choices": ["plain_pipeline"], "weights": [1]}, "source", "serving.stack.source"),
    ("stack", {"choices": ["plain_pipeline"], "weights": [1], "source": " "}, "source", "serving.stack.source"),
    ("load", {"choices": ["fleet"], "weight": [1], "source": "x"}, "choices = [...]", "serving.load"),
])
def test_bad_choice_tables_are_one_input_error(table, key, value, needle, where):
    with pytest.raises(CarbonMCError) as err:
        _parse(table, **{key: value})
    assert needle in err.value.message and err.value.key == where and err.value.file == "s.toml"


def test_an_override_of_the_replaced_input_is_refused(table):
    doc = {"serving": {**BASE, "load": _choices(["fleet", "on_demand"], [1, 1]), "replicas": None},
           "priors": {"serving_busy_fraction": {"value": 0.5, "source": "x"}}}
    doc["serving"] = {k: v for k, v in doc["serving"].items() if v is not None}
    with pytest.raises(CarbonMCError, match="serving_busy_fraction_fleet, serving_busy_fraction_on_demand"):
        parse_serving_scenario(doc, file="s.toml", table=table)


def test_a_posterior_of_the_overhead_reaches_only_the_optimised_server(table):
    posterior = {"serving_step_overhead_s": build_prior("serving_step_overhead_s", "posterior",
                                                        {"distribution": "fixed", "params": {"value": 0.004}, "source": "fit"},
                                                        units="s", long_name="overhead", file="fit")}
    # a single plain-pipeline stack holds the plain pipeline's prior under that name: refused, not replaced
    with pytest.raises(CarbonMCError, match="plain_pipeline") as err:
        build_simulator(_parse(table, stack="plain_pipeline"), priors=table, posterior=posterior)
    assert err.value.key == "serving.stack"
    s = _parse(table, stack=_choices(["optimised_server", "plain_pipeline"], [0.5, 0.5]))
    sim = build_simulator(s, priors=table, posterior=posterior)
    assert sim.priors["serving_step_overhead_s"].is_fixed
    plain = sim.priors["serving_step_overhead_s_plain_pipeline"]
    assert plain == s.resolve_priors(table)["serving_step_overhead_s_plain_pipeline"] and not plain.is_fixed
    drawn, _ = draw(sim, num_draws=4096, seed=0, method="mc", variables=["serving_step_overhead_s_plain_pipeline"])
    assert 0.005 < float(np.median(drawn["serving_step_overhead_s_plain_pipeline"])) < 0.02  # its prior: median ~9.5 ms


def test_bundled_example_lies_between_its_single_choices(table):
    path = SERVING / "example_unknown_stack_8b_a100.toml"
    s = load_serving_scenario(path, priors=table)
    assert s.per_request_only and len(s.stack_choices) == 2 and len(s.load_choices) == 2
    medians = {}
    for label, changes in (("mixture", {}), ("fleet", {"load": "fleet"}), ("on_demand", {"load": "on_demand"})):
        import tomllib

        doc = tomllib.loads(path.read_text())
        doc["serving"].update(changes)
        _, out = _draw(parse_serving_scenario(doc, file=str(path), table=table), table, n=8192)
        medians[label] = float(np.median(out[Q]))
    assert medians["fleet"] < medians["mixture"] < medians["on_demand"]


def test_sensitivity_names_the_choice(table):
    from carbon_mc.plots.sensitivity import input_label
    from carbon_mc.sobol.analyze import sensitivity

    s = _parse(table, stack=_choices(["optimised_server", "plain_pipeline"], [0.5, 0.5]), parameters=1.3e9, batch=1,
               load="benchmark")
    ds = sensitivity(s, output=Q, num_base=256, num_resamples=50, priors=table)
    inputs = [str(v) for v in ds["input"].values]
    assert "serving_stack_quantile" in inputs and "serving_step_overhead_s_plain_pipeline" in inputs
    assert input_label("serving_stack_quantile") == "serving stack picked from the scenario's weighted choices"
    # at batch 1 on a 1.3B model the stack decides the time per step: the choice carries the largest total index
    st = ds["sobol_index"].sel(index="ST").values
    assert inputs[int(np.argmax(st))] in ("serving_stack_quantile", "serving_step_overhead_s_plain_pipeline")


def test_report_of_a_deployment_without_traffic_says_its_choices(table):
    """The bundled example has neither traffic nor capacity: the report apportions its per-request total and
    says the weights of its choices among the facts."""
    from carbon_mc.report.content import scenario_report
    from carbon_mc.report.html import _distribution, _facts

    r = scenario_report(SERVING / "example_unknown_stack_8b_a100.toml", num_draws=4096, base_draws=128, num_resamples=20,
                        priors=table)
    assert r.sensitivity_output == "total_gco2e_per_request"
    facts = _facts(r)
    assert "stack optimised_server 0.7, plain_pipeline 0.3 (drawn per draw)" in facts
    assert "load on_demand 0.6, fleet 0.4 (drawn per draw)" in facts
    assert "total_gco2e_per_request" in _distribution(r) and "total_kgco2e_per_day" not in _distribution(r)


def test_a_bad_choice_table_on_the_command_line_is_one_line_exit_2(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.toml"
    text = (SERVING / "example_unknown_stack_8b_a100.toml").read_text()
    bad.write_text(text.replace('choices = ["on_demand", "fleet"]', 'choices = ["on_demand", "fleets"]'))
    out = tmp_path / "out.nc"
    r = subprocess.run([sys.executable, "-m", "carbon_mc.cli", "run", str(bad), "--draws", "1000", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "bad.toml" in r.stderr and "serving.load.choices" in r.stderr and "fleet" in r.stderr and not out.exists()


def test_an_inventory_draws_each_deployments_choice_on_its_own(table):
    """Which stack and load a deployment runs, and its load choices' priors, are its own (as serving_busy_fraction
    is): two deployments of an inventory do not pick the same choice in every draw. The overhead of a stack is
    shared, as the single serving_step_overhead_s is."""
    from carbon_mc.inventory.sharing import rule_of

    s = _parse(table, stack=_choices(["optimised_server", "plain_pipeline"], [1, 1]),
               load=_choices(["fleet", "on_demand"], [1, 1]), requests_per_day=None, replicas=1)
    resolved = s.resolve_priors(table)
    own = {n for n, p in resolved.items() if rule_of(n, p) is None}
    assert {"serving_stack_quantile", "serving_load_quantile", "serving_busy_fraction_fleet",
            "serving_over_provisioning_factor_on_demand"} <= own
    assert rule_of("serving_step_overhead_s_plain_pipeline", resolved["serving_step_overhead_s_plain_pipeline"]) == "constants"
    # a weighted precision is the deployment's own pick too
    assert rule_of("serving_precision_quantile", table.select("serving_precision_quantile", {})) is None
