"""One policy for draws that are not finite (NaN or inf), for every command and the Python API.

Draws stop being finite when an input reaches a point where the chain divides by zero, when a
product leaves float32's range (3.4e38), or when a target loss is out of reach in some draws of the
loss-law constants. Every road a draw takes (`carbon_mc.sampling.draw` and so `estimate`, checks,
comparisons and benchmarks; the streamed summaries; Sobol' designs) counts them and, by default,
refuses with a `NumericError` that says how many, in which outputs, and why. With
``nonfinite="drop"`` (``--drop-nonfinite`` on run, check and compare) they are left out and the
count is reported (``nonfinite_draws_dropped`` in a Dataset's attrs, a note in the command's
output). Sobol' designs and benchmarks always refuse: dropping draws would bias their estimators.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, NumericError, shown

POLICIES = ("refuse", "drop")
WHY = ("an input at a value where the chain divides by zero, a product beyond float32's range (3.4e38), or a "
       "target loss out of reach in some draws")
HOW = ("narrow the priors or the run's numbers; --drop-nonfinite (run, check, compare; nonfinite=\"drop\" in Python) "
       "leaves those draws out and reports how many")


def check_policy(nonfinite: str) -> str:
    """`nonfinite` if it names a policy, else an `InputError` listing them."""
    if not isinstance(nonfinite, str) or (nonfinite not in POLICIES and nonfinite != "keep"):
        raise InputError(f"unknown non-finite policy nonfinite={shown(nonfinite)}; valid: {', '.join(POLICIES)}")
    return nonfinite


def describe(counts: dict[str, int], total: int) -> str:
    """One sentence: how many draws are not finite, in which variables, and why."""
    bad = {k: n for k, n in counts.items() if n}
    worst = max(bad.values())
    names = ", ".join(f"{k} ({n:,})" for k, n in sorted(bad.items(), key=lambda kv: -kv[1])[:4])
    more = f" and {len(bad) - 4} more" if len(bad) > 4 else ""
    return f"{worst:,} of {total:,} draws are not finite (NaN or inf) in {names}{more}: {WHY}"


def finite_rows(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, int]]:
    """(mask of draws finite in every array, count of non-finite draws per array)."""
    n = len(next(iter(arrays.values())))
    mask = np.ones(n, bool)
    counts = {}
    for name, values in arrays.items():
        ok = np.isfinite(values) if values.ndim == 1 else np.isfinite(values).all(axis=tuple(range(1, values.ndim)))
        counts[name] = int(n - np.count_nonzero(ok))
        mask &= ok
    return mask, counts


NEGATIVE_WHY = ("every output of the chain is an energy, a mass of CO2e, a time, a count or a share, none of which can be "
                "negative: an input outside its physical bounds reached the chain")


def check_non_negative(outputs: dict) -> None:
    """Refuse outputs with negative draws (the output gate: physical quantities are >= 0), naming them.

    Raises:
      NumericError: some draw of some output is negative.
    """
    bad = {}
    for name, values in outputs.items():
        arr = np.asarray(values)
        if arr.size and arr.dtype.kind == "f":
            n = int(np.count_nonzero(arr < 0))
            if n:
                bad[name] = (n, float(np.nanmin(arr)))
    if bad:
        names = ", ".join(f"{k} ({n:,} draws, down to {lo:.4g})" for k, (n, lo) in sorted(bad.items(), key=lambda kv: -kv[1][0])[:4])
        raise NumericError(f"negative draws in {names}: {NEGATIVE_WHY}; nothing was written")


def apply_policy(inputs: dict, outputs: dict, nonfinite: str = "refuse") -> tuple[dict, dict, int]:
    """(inputs, outputs, draws dropped): the draws unchanged when all finite, else refused or dropped.
    Outputs with negative draws are refused whatever the policy (`check_non_negative`).

    Raises:
      NumericError: some draws are not finite and the policy is "refuse", or no draw is finite, or
        an output has negative draws.
    """
    check_policy(nonfinite)
    arrays = {**inputs, **outputs}
    if nonfinite == "keep" or not arrays:
        return inputs, outputs, 0
    with np.errstate(invalid="ignore"):
        check_non_negative(outputs)
    mask, counts = finite_rows(arrays)
    dropped = int(mask.size - np.count_nonzero(mask))
    if not dropped:
        return inputs, outputs, 0
    if nonfinite == "refuse":
        raise NumericError(f"{describe(counts, mask.size)}; {HOW}")
    if dropped == mask.size:
        raise NumericError(f"{describe(counts, mask.size)}; no finite draw is left to summarize")
    return ({k: v[mask] for k, v in inputs.items()}, {k: v[mask] for k, v in outputs.items()}, dropped)


def check_stream(histograms: dict, constants: dict, total: int, nonfinite: str = "refuse") -> int:
    """Draws left out of streamed summaries (most in one variable); refuses under "refuse".

    Raises:
      NumericError: a constant output is not finite, or some draws are not and the policy is "refuse".
    """
    check_policy(nonfinite)
    for name, value in constants.items():
        if not np.isfinite(value):
            raise NumericError(f"{name} is {value} in every draw: {WHY}; narrow the run's numbers")
    for name, value in constants.items():
        if value < 0:
            raise NumericError(f"{name} is {value:g} in every draw: {NEGATIVE_WHY}")
    for name, hist in histograms.items():
        if hist.has_negative():
            raise NumericError(f"negative draws in {name}: {NEGATIVE_WHY}")
    counts = {k: int(h.nonfinite) for k, h in histograms.items()}
    worst = max(counts.values(), default=0)
    if worst and nonfinite == "refuse":
        raise NumericError(f"{describe(counts, total)}; {HOW}")
    if worst and worst >= total:
        raise NumericError(f"{describe(counts, total)}; no finite draw is left to summarize")
    return worst


def check_values(values: dict, what: str) -> None:
    """Refuse a summary, file or JSON object holding NaN or inf, naming the output (`what`: where it goes)."""
    for name, value in values.items():
        arr = np.asarray(value, dtype=np.float64)
        if arr.size and not np.all(np.isfinite(arr)):
            raise NumericError(f"{what}: {name} is not finite ({WHY}); nothing was written")
