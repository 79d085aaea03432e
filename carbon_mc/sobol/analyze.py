"""Which uncertain input drives the spread? Sobol' indices of a scenario's output, with bootstrap intervals.

`sensitivity` draws a Saltelli design from the scenario's own priors (scrambled Sobol' points, or
plain uniforms, through each prior's inverse CDF), pushes it through the same vectorised carbon
model as `carbon_mc.estimate` under `jax.jit` in chunks, and returns first-order (S1) and
total-order (ST) indices with bootstrap confidence intervals as an xarray Dataset.

`sobol_indices` does the same for any jnp function of named uniforms (the analytic test functions
in `carbon_mc.sobol.functions`, say), and `analyze_evaluations` turns model outputs already
computed at a design's points into the Dataset.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.experimental import multihost_utils

from ..errors import CarbonMCError, NumericError, close_matches, shown
from ..options import CI_METHODS, DEFAULT_NUM_BASE, MIN_NUM_BASE
from ..priors import PriorTable
from ..sampling import DEFAULT_CHUNK, Simulator, build_simulator, evaluate, output_shapes, provenance, stream_id
from ..sampling.args import check_callable, check_chunk_size, check_flag, check_priors, check_scenario, check_text
from ..scenarios import AnyScenario
from . import estimators
from .design import (
    SAMPLERS,
    Grouping,
    base_sampler,
    clip_unit,
    cross_stack,
    evaluations_per_base_row,
    is_power_of_two,
    next_power_of_two,
    resolve_groups,
)

MAX_NUM_BASE = 2**30  # scipy's Sobol' engine yields at most 2**30 points (bits=30)
INDICES = ("S1", "ST")
METHOD = (
    "Saltelli design; first order: Saltelli et al. 2010 (Comput. Phys. Commun. 181:259); "
    "total order: Jansen 1999 (Comput. Phys. Commun. 117:35); second order: Saltelli 2002 "
    "(Comput. Phys. Commun. 145:280); outputs standardised by the mean and sd of all evaluations, "
    "variance over A and B pooled (as SALib sobol.analyze)"
)
SAMPLER_DESCRIPTIONS = {
    "sobol": "scrambled Sobol' points (scipy.stats.qmc.Sobol, LMS + digital shift) through each prior's inverse CDF",
    "random": "independent uniforms (numpy.random.default_rng) through each prior's inverse CDF",
}
CI_DESCRIPTIONS = {
    "percentile": "bootstrap percentile interval (base rows resampled with replacement)",
    "normal": "bootstrap normal-approximation interval, estimate ± z·sd of the replicates (as SALib's *_conf)",
}


# ------------------------------------------------------------------------------------------------
# Settings


def check_num_base(num_base, sampler: str = "sobol", *, warn: bool = True) -> int:
    """The number of base rows to use: validated, and rounded up to a power of two for Sobol' points.

    Sobol' points keep their balance properties only in blocks of 2^m; a request that is not a power
    of two is rounded up with a warning (or silently, ``warn=False``, for callers that say so).
    """
    if isinstance(num_base, bool) or not isinstance(num_base, (int, np.integer)):
        raise CarbonMCError(f"the number of base draws (num_base) must be a whole number, got {shown(num_base)}")
    num_base = int(num_base)
    if num_base < MIN_NUM_BASE:
        raise CarbonMCError(f"the number of base draws (num_base) must be at least {MIN_NUM_BASE} (fewer is too few for the estimators and "
                            f"their bootstrap), got {num_base}")
    if num_base > MAX_NUM_BASE:
        raise CarbonMCError(f"the number of base draws (num_base) must be at most 2**30 = {MAX_NUM_BASE:,}, got {num_base:,}")
    if sampler == "sobol" and not is_power_of_two(num_base):
        rounded = next_power_of_two(num_base)
        if warn:
            warnings.warn(f"num_base {num_base} rounded up to {rounded}: Sobol' points need a power of two", UserWarning, stacklevel=3)
        num_base = rounded
    return num_base


def _check_settings(sampler: str, conf_level, num_resamples, ci_method: str, seed) -> None:
    if not isinstance(sampler, str) or sampler not in SAMPLERS:
        raise CarbonMCError(f"unknown sampler {shown(sampler)}; valid: {', '.join(SAMPLERS)}")
    if not isinstance(ci_method, str) or ci_method not in CI_METHODS:
        raise CarbonMCError(f"unknown ci_method {shown(ci_method)}; valid: {', '.join(CI_METHODS)}")
    if isinstance(conf_level, bool) or not isinstance(conf_level, (int, float)) or not 0.0 < conf_level < 1.0:
        raise CarbonMCError(f"conf_level must be strictly between 0 and 1, got {shown(conf_level)}")
    if isinstance(num_resamples, bool) or not isinstance(num_resamples, (int, np.integer)) or num_resamples < 0 or num_resamples == 1:
        raise CarbonMCError(f"the number of bootstrap resamples (num_resamples) must be 0 (no intervals) or at least 2, "
                            f"got {shown(num_resamples)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise CarbonMCError(f"seed must be a whole number >= 0, got {shown(seed)}")


# ------------------------------------------------------------------------------------------------
# Evaluation


def _rows_per_chunk(chunk_size: int, per_row: int, num_base: int) -> int:
    rows = max(1, chunk_size // per_row)
    rows = 1 << (rows.bit_length() - 1)  # a power of two: every Sobol' draw stays balanced
    return min(rows, next_power_of_two(num_base))


def _design_evaluator(fn: Callable, group_of_column: tuple[int, ...], inputs: tuple[tuple[str, int], ...], rows: int, second_order: bool) -> Callable:
    """A jitted ``base chunk (rows, 2D) -> outputs (K, rows)``, cached so repeated designs on the same
    function compile once (an unhashable `fn` gets a fresh one)."""
    try:
        hash(fn)
    except TypeError:
        return _build_design_evaluator(fn, group_of_column, inputs, rows, second_order)
    return _cached_design_evaluator(fn, group_of_column, inputs, rows, second_order)


def _build_design_evaluator(fn, group_of_column, inputs, rows, second_order):
    d, g = len(group_of_column), max(group_of_column) + 1
    per_row = evaluations_per_base_row(g, second_order)
    slices, start = {}, 0
    for name, k in inputs:
        slices[name] = slice(start, start + k) if k > 1 else start
        start += k
    columns = np.asarray(group_of_column, dtype=np.int32)

    def run(base):
        stack = cross_stack(base[:, :d], base[:, d:], columns, g, second_order)
        u = clip_unit(stack.reshape(per_row * rows, d))
        return jnp.broadcast_to(fn({name: u[:, s] for name, s in slices.items()}), (per_row * rows,)).reshape(per_row, rows)

    return jax.jit(run)


_cached_design_evaluator = functools.lru_cache(maxsize=16)(_build_design_evaluator)


def evaluate_design(
    fn: Callable,
    grouping: Grouping,
    *,
    num_base: int,
    seed: int,
    sampler: str = "sobol",
    second_order: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Callable | None = None,
):
    """Evaluate `fn` at every point of the design, chunk by chunk under `jax.jit`.

    Args:
      fn: jnp function of ``{input: uniforms}`` (shape (n,), or (n, k) for a joint input) -> (n,)
        outputs (or a scalar, broadcast).
      grouping: from `resolve_groups`.
      num_base, seed, sampler, second_order: the design.
      chunk_size: model evaluations per chunk (bounds memory); the result does not depend on it.
      progress: optional ``progress(done, total)`` in evaluations.

    Returns:
      float64 arrays f_A (N,), f_B (N,), f_AB (N, G), and f_BA (N, G) or None.
    """
    d, g = grouping.num_columns, grouping.num_groups
    per_row = evaluations_per_base_row(g, second_order)
    rows = _rows_per_chunk(chunk_size, per_row, num_base)
    run = _design_evaluator(fn, tuple(int(i) for i in grouping.group_of_column), grouping.inputs, rows, second_order)

    draw = base_sampler(seed, d, sampler)
    processes, me = jax.process_count(), jax.process_index()
    out = np.zeros((per_row, num_base), dtype=np.float64)
    for chunk, start in enumerate(range(0, num_base, rows)):
        take = min(rows, num_base - start)
        base = draw(take).astype(np.float32)  # every process walks the whole design: the points are sequential
        if chunk % processes != me:  # after jax.distributed.initialize(), each process evaluates its share of the chunks
            continue
        if take < rows:
            base = np.concatenate([base, np.full((rows - take, 2 * d), 0.5, np.float32)])
        out[:, start : start + take] = np.asarray(run(base))[:, :take]
        if progress is not None:
            progress((start + take) * per_row, num_base * per_row)
    if processes > 1:  # every other process left zeros in this one's columns: the sum is exact
        out = np.asarray(multihost_utils.process_allgather(out)).sum(axis=0)
    f_ab = out[1 : 1 + g].T
    f_ba = out[1 + g : 1 + 2 * g].T if second_order else None
    return out[0], out[-1], f_ab, f_ba


# ------------------------------------------------------------------------------------------------
# Estimation

_point_estimates = jax.jit(estimators.sobol_estimates)


def _standardized(f_a, f_b, f_ab, f_ba, output: str):
    """The evaluations standardised by the mean and sd of all of them (as SALib), after checking they vary and are finite."""
    everything = np.concatenate([f_a, f_b, f_ab.ravel()] + ([] if f_ba is None else [f_ba.ravel()]))
    bad = int(np.count_nonzero(~np.isfinite(everything)))
    if bad:
        raise NumericError(f"{bad} of {everything.size} evaluations of {output} are not finite (NaN or inf); check the priors' supports")
    mean, sd = float(everything.mean()), float(everything.std())
    if not sd > 0.0:
        raise CarbonMCError(f"{output} does not vary (every evaluation is {mean:g}): no variance to apportion; is every input it depends on fixed?")
    z = [estimators.standardize(v, mean, sd) for v in (f_a, f_b, f_ab)] + [None if f_ba is None else estimators.standardize(f_ba, mean, sd)]
    return z, mean, sd


def _index_variables(point: dict, interval, names, members, output: str, conf_level: float, ci_method: str, second_order: bool):
    """(data variables, coordinates) of the indices Dataset: estimates and intervals over (input, index[, other_input])."""
    level = f"{100 * conf_level:g}%"
    index_attrs = {"units": "1", "long_name": f"Sobol' sensitivity index of {output}"}
    ci_attrs = {"units": "1", "long_name": f"{level} {CI_DESCRIPTIONS[ci_method]} of the Sobol' index of {output}"}
    estimates = np.stack([point["S1"], point["ST"]], axis=-1)
    bounds = np.stack([np.stack(interval(k), axis=-1) for k in INDICES], axis=1)  # (G, index, ci_bound)
    data_vars = {
        "sobol_index": xr.Variable(("input", "index"), estimates, index_attrs),
        "sobol_index_ci": xr.Variable(("input", "index", "ci_bound"), bounds, ci_attrs),
    }
    coords = {
        "input": names,
        "index": list(INDICES),
        "ci_bound": ["lower", "upper"],
        "members": ("input", [",".join(m) for m in members], {"long_name": "inputs in each group"}),
    }
    if second_order:
        data_vars["second_order_index"] = xr.Variable(
            ("input", "other_input"), point["S2"], {"units": "1", "long_name": f"second-order Sobol' index of {output} (NaN on the diagonal)"}
        )
        data_vars["second_order_index_ci"] = xr.Variable(
            ("input", "other_input", "ci_bound"), np.stack(interval("S2"), axis=-1),
            {**ci_attrs, "long_name": ci_attrs["long_name"].replace("Sobol'", "second-order Sobol'")}
        )
        coords["other_input"] = names
    return data_vars, coords


def analyze_evaluations(
    f_a,
    f_b,
    f_ab,
    f_ba=None,
    *,
    names: Sequence[str] | None = None,
    members: Sequence[Sequence[str]] | None = None,
    seed: int = 0,
    num_resamples: int = 1000,
    conf_level: float = 0.95,
    ci_method: str = "percentile",
    output: str = "y",
    attrs: Mapping | None = None,
) -> xr.Dataset:
    """Sobol' indices and bootstrap intervals from outputs already computed at a design's points.

    Args:
      f_a, f_b: outputs at A and B, shape (N,); f_ab (and f_ba): shape (N, G), column g for the
        matrix whose group-g columns were swapped (see `carbon_mc.sobol.design`).
      names: group labels (default ``x1..xG``); members: the inputs in each group (default: itself).
      seed: seed of the bootstrap resampling.
      num_resamples: bootstrap resamples (0: no intervals, bounds are NaN).
      conf_level: probability mass of the intervals.
      ci_method: "percentile" (default) or "normal" (estimate ± z·sd, as SALib).
      output: name of the output, for labels.
      attrs: extra global attributes.

    Returns:
      Dataset with ``sobol_index`` (input, index) for index S1 and ST, ``sobol_index_ci``
      (input, index, ci_bound), and with `f_ba`, ``second_order_index`` (input, other_input)
      and its interval.
    """
    _check_settings("sobol", conf_level, num_resamples, ci_method, seed)
    f_a, f_b, f_ab = (np.asarray(v, dtype=np.float64) for v in (f_a, f_b, f_ab))
    f_ba = None if f_ba is None else np.asarray(f_ba, dtype=np.float64)
    num_base, num_groups = f_ab.shape
    z, mean, sd = _standardized(f_a, f_b, f_ab, f_ba, output)

    with jax.enable_x64(True):
        point = {k: np.asarray(v) for k, v in _point_estimates(*z).items()}
        if num_resamples:
            key = jax.random.fold_in(jax.random.key(int(seed)), stream_id("sobol_bootstrap"))
            reps = {k: np.asarray(v) for k, v in estimators.bootstrap(key, *z, num_resamples=int(num_resamples)).items()}

    def interval(name):
        if not num_resamples:
            nan = np.full_like(point[name], np.nan)
            return nan, nan
        if ci_method == "percentile":
            return estimators.percentile_interval(reps[name], conf_level)
        return estimators.normal_interval(point[name], reps[name], conf_level)

    names = list(names) if names is not None else [f"x{i + 1}" for i in range(num_groups)]
    members = [list(m) for m in members] if members is not None else [[n] for n in names]
    if len(names) != num_groups or len(members) != num_groups:
        raise CarbonMCError(f"{len(names)} names for {num_groups} groups")
    data_vars, coords = _index_variables(point, interval, names, members, output, conf_level, ci_method, f_ba is not None)
    ds_attrs = {
        "output": output,
        "num_base": int(num_base),
        "num_evaluations": int(num_base * evaluations_per_base_row(num_groups, f_ba is not None)),
        "second_order": int(f_ba is not None),
        "seed": int(seed),
        "num_resamples": int(num_resamples),
        "conf_level": float(conf_level),
        "ci_method": ci_method,
        "method": METHOD,
        "output_mean": mean,
        "output_sd": sd,
        **dict(attrs or {}),
    }
    return xr.Dataset(data_vars, coords=coords, attrs=ds_attrs)


# ------------------------------------------------------------------------------------------------
# Public entry points


def sobol_indices(
    fn: Callable,
    columns: Mapping[str, int] | Sequence[str],
    *,
    num_base: int = 2**14,
    seed: int = 0,
    groups: Mapping[str, Sequence[str]] | None = None,
    second_order: bool = False,
    num_resamples: int = 1000,
    conf_level: float = 0.95,
    ci_method: str = "percentile",
    sampler: str = "sobol",
    chunk_size: int = DEFAULT_CHUNK,
    fixed: Sequence[str] = (),
    output: str = "y",
    attrs: Mapping | None = None,
    progress: Callable | None = None,
) -> xr.Dataset:
    """Sobol' indices of a jnp function of independent uniforms on (0, 1).

    Args:
      fn: ``fn({input: u}) -> (n,)`` with ``u`` of shape (n,) (or (n, k) for an input that takes
        k columns, a joint prior); must be traceable by `jax.jit`.
      columns: the inputs, in order: a list of names, or ``{name: number of columns}``.
      num_base: base rows N (rounded up to a power of two for Sobol' points, with a warning);
        the design costs N·(G+2) evaluations, N·(2G+2) with second order.
      seed: seeds the scrambling (or the uniforms) and the bootstrap.
      groups: ``{group: [inputs]}``; other inputs are their own group.
      second_order: also estimate S_jk (doubles the cross evaluations).
      num_resamples, conf_level, ci_method: the bootstrap intervals (see `analyze_evaluations`).
      sampler: "sobol" (scrambled Sobol' points, default) or "random" (independent uniforms).
      chunk_size: evaluations per jitted chunk (memory bound; results do not depend on it).
      fixed: names a group may mention that are fixed and so left out.
      output: label of the output.
      attrs: extra global attributes.
      progress: optional ``progress(done, total)``.

    Returns:
      The Dataset of `analyze_evaluations`, with the design in its attrs.
    """
    _check_settings(sampler, conf_level, num_resamples, ci_method, seed)
    num_base = check_num_base(num_base, sampler)
    if not isinstance(columns, Mapping):
        columns = dict.fromkeys(columns, 1)
    grouping = resolve_groups(columns, groups, fixed=fixed)
    f_a, f_b, f_ab, f_ba = evaluate_design(
        fn, grouping, num_base=num_base, seed=int(seed), sampler=sampler, second_order=second_order, chunk_size=chunk_size, progress=progress
    )
    design_attrs = {
        "sampler": sampler,
        "design": SAMPLER_DESCRIPTIONS[sampler],
        "num_columns": grouping.num_columns,
        "groups": json.dumps(dict(zip(grouping.names, map(list, grouping.members)))),
        "fixed_inputs": json.dumps(sorted(fixed)),
        **dict(attrs or {}),
    }
    return analyze_evaluations(
        f_a, f_b, f_ab, f_ba, names=grouping.names, members=grouping.members, seed=seed, num_resamples=num_resamples,
        conf_level=conf_level, ci_method=ci_method, output=output, attrs=design_attrs,
    )


def model_outputs(model: Simulator) -> list[str]:
    """The outputs this scenario's model produces (some exist only for some runs)."""
    shapes = output_shapes(model)
    return [name for name in model.output_table if name in shapes]


def _check_groups(groups):
    """`groups` None or a mapping {group name: input name or list of input names}."""
    if groups is None:
        return None
    if not isinstance(groups, Mapping) or not all(
        isinstance(name, str) and (isinstance(members, str) or (isinstance(members, (list, tuple)) and all(isinstance(m, str) for m in members)))
        for name, members in groups.items()
    ):
        raise CarbonMCError(f"groups must be a dict {{group name: [input names]}} or None, got {shown(groups)} ({type(groups).__name__})")
    return groups


def check_output(model: Simulator, output: str) -> None:
    """Fail early, naming close matches, if `output` is not an output of this scenario's model."""
    available = model_outputs(model)
    if output not in available:
        where = "" if output not in model.output_table else " for this scenario"
        raise CarbonMCError(f"unknown output {output!r}{where}; {close_matches(output, available)}", file=model.scenario.file)


def sensitivity(
    scenario: AnyScenario | str | Path,
    *,
    output: str = "total_tco2e",
    num_base: int = DEFAULT_NUM_BASE,
    seed: int = 0,
    groups: Mapping[str, Sequence[str]] | None = None,
    second_order: bool = False,
    num_resamples: int = 1000,
    conf_level: float = 0.95,
    ci_method: str = "percentile",
    sampler: str = "sobol",
    chunk_size: int = DEFAULT_CHUNK,
    priors: PriorTable | None = None,
    progress: Callable | None = None,
) -> xr.Dataset:
    """Sobol' sensitivity indices of a training run's output to each of its uncertain inputs.

    Every drawn input of the scenario (fixed ones are left out) is a factor, or a member of a
    group; a joint prior (several correlated components) is always one factor, since Sobol'
    indices assume independent inputs.

    Args:
      scenario: a `Scenario` or `ServingScenario`, a path to a scenario TOML, or the name of a bundled one.
      output: the output to apportion: ``energy_mwh``, ``operational_tco2e``, ``embodied_tco2e``,
        ``total_tco2e`` (default) or any other output of the model (for a deployment, e.g.
        ``energy_wh_per_request`` or ``total_kgco2e_per_day``).
      num_base: base rows N (a power of two for Sobol' points; others are rounded up with a
        warning). Cost: N·(G+2) model evaluations for G factors, N·(2G+2) with second order.
      seed: seeds the Sobol' scrambling (or the uniforms) and the bootstrap.
      groups: ``{group name: [input names]}``, e.g. ``{"grid": ["grid_gco2_per_kwh", "pue"]}``;
        inputs in no group are their own factor. Unknown names are errors with close matches;
        fixed inputs named in a group are left out.
      second_order: also estimate second-order indices.
      num_resamples: bootstrap resamples of the base rows (0: no intervals).
      conf_level: probability of the intervals.
      ci_method: "percentile" (default) or "normal".
      sampler: "sobol" (scrambled Sobol' points, default) or "random".
      chunk_size: model evaluations per jitted chunk; bounds memory, results do not depend on it.
      priors: a `PriorTable` (default: the bundled priors/).
      progress: optional ``progress(done, total)`` in evaluations.

    Returns:
      xarray Dataset over (input, index) with ``sobol_index`` (index = S1, ST),
      ``sobol_index_ci`` (ci_bound = lower, upper), a ``members`` coordinate naming each group's
      inputs, optionally ``second_order_index``; attrs record the output and its units, the
      design (num_base, num_evaluations, sampler, seed), the interval (conf_level, ci_method,
      num_resamples), the method, and the provenance of `carbon_mc.estimate`.

    Raises:
      InputError: an invalid scenario, output, group, design size, seed or interval option.
      NumericError: evaluations that are not finite (a Sobol' design cannot drop draws).
    """
    check_scenario(scenario), check_priors(priors), check_text(output, "output"), check_chunk_size(chunk_size)
    check_flag(second_order, "second_order"), check_callable(progress), _check_groups(groups)
    _check_settings(sampler, conf_level, num_resamples, ci_method, seed)
    num_base = check_num_base(num_base, sampler)
    model = build_simulator(scenario, priors=priors)
    check_output(model, output)
    columns = {name: model.priors[name].num_columns for name in model.stochastic}
    joint = {component: name for name in model.stochastic for component in model.priors[name].components}
    for gname, members in (groups or {}).items():
        for member in [members] if isinstance(members, str) else members:
            if member in joint:
                raise CarbonMCError(
                    f"{member!r} is a component of the joint prior {joint[member]!r}, which is always one factor "
                    f"(Sobol' indices assume independent inputs): put {joint[member]!r} in group {gname!r} instead"
                )

    def fn(u):
        return evaluate(model, u, [output])[output]

    meta = model.output_table[output]
    attrs = provenance(model, seed=seed, num_draws=0, method="sobol")
    for stale in ("num_draws", "random_streams", "method"):
        attrs.pop(stale, None)
    attrs.update(
        title=f"carbon-mc sensitivity: {model.scenario.name}",
        output_units=meta.units,
        output_long_name=meta.long_name,
    )
    return sobol_indices(
        fn, columns, num_base=num_base, seed=seed, groups=groups, second_order=second_order, num_resamples=num_resamples,
        conf_level=conf_level, ci_method=ci_method, sampler=sampler, chunk_size=chunk_size, fixed=list(model.fixed),
        output=output, attrs=attrs, progress=progress,
    )


def ranking(ds: xr.Dataset) -> list[dict]:
    """The factors ranked by total-order index (largest first), each as a JSON-ready dict."""
    rows = []
    for label in ds["input"].values:
        est = ds["sobol_index"].sel(input=label)
        ci = ds["sobol_index_ci"].sel(input=label)
        row: dict[str, Any] = {"input": str(label), "members": str(ds["members"].sel(input=label).item()).split(",")}
        for k in INDICES:
            row[k] = float(est.sel(index=k))
            row[f"{k}_lower"] = float(ci.sel(index=k, ci_bound="lower"))
            row[f"{k}_upper"] = float(ci.sel(index=k, ci_bound="upper"))
        rows.append(row)
    return sorted(rows, key=lambda r: -r["ST"])
