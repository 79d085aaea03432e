"""Compare two scenarios with common random numbers: the distribution of B / A and B - A.

"What does moving the run from Iowa to Quebec save, and how sure are we?" Much of the uncertainty
of a footprint is shared by the two sides of such a question: the same accelerators draw the same
unknown share of their TDP, sit in data centres of the same class, and wear out over the same
unknown life. Drawing those shared inputs once and using the same draw on both sides (common random
numbers; Glasserman 2004, *Monte Carlo Methods in Financial Engineering*, §4.2) cancels their
uncertainty out of the comparison, which is then much sharper than the difference of two
independent runs.

An input is shared when both scenarios draw it from the same prior (same quantity, same family and
parameters). An input whose prior differs (Quebec's grid against Iowa's) is an independent
uncertainty, drawn independently of A.

One number per quantity, seed and draw count: both sides draw randomized quasi-Monte Carlo, the
sampler of ``carbon-mc run`` and `carbon_mc.estimate` (`paired_draws`). Side A draws exactly as
``run A`` does with the same seed and draw count (the same scrambled Sobol' points, so the same
numbers to the last digit). Side B takes, for each shared input, A's very uniforms (common random
numbers, input by input), and for each input of its own a further dimension of the same Sobol'
sequence (dimensions after A's, scrambled independently): B's figures agree with ``run B`` within
the quasi-Monte Carlo error, and are equal to it when B draws nothing of its own in A's order.

    >>> c = compare("models/llama31_8b.toml", "models/llama31_70b.toml", quantity="total_tco2e")
    >>> c.summary()["ratio"]["median"]   # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import CarbonMCError, close_matches
from ..priors import Prior, PriorTable
from ..results.finite import apply_policy, check_policy
from ..sampling import BLOCK, DEFAULT_CHUNK, DEFAULT_METHOD, Simulator, build_simulator, draw, evaluate, sampler
from ..sampling.args import check_accounting, check_draw_args, check_flag, check_scenario, check_text
from ..sampling.dispatch import kept_in_blocks
from ..sampling.qmc import direction_numbers, scrambled_direction_numbers, sobol_words
from ..sampling.samplers import seed_words
from ..sampling.streams import bits_to_uniform
from ..scenarios import AnyScenario, load_any_scenario
from ..scenarios.deployment import ServingScenario
from ..scenarios.training import Scenario
from ..scenarios.units import CHECKABLE, SERVING_CHECKABLE

__all__ = ["B_SCRAMBLE_WORD", "B_STREAM_SUFFIX", "PAIRED_METHOD", "Comparison", "compare", "paired_draws", "shared_inputs"]

B_STREAM_SUFFIX = "|compare:b"  # appended to the stream name of every input B draws on its own (Monte Carlo only)
PAIRED_METHOD = DEFAULT_METHOD  # the sampler of `carbon-mc run`: the same draws for the same seed
B_SCRAMBLE_WORD = 0x62  # appended to the seed's words to scramble the Sobol' dimensions of B's own inputs


@dataclass(frozen=True)
class Comparison:
    """Paired draws of one quantity for scenarios A and B.

    Attributes:
      quantity, units: the model output compared.
      a_name, b_name: the scenarios' names.
      a, b: the paired draws (draw i of A and draw i of B share the draws of every shared input).
      shared: inputs drawn once and used by both sides (empty without common random numbers).
      separate: inputs that B draws independently of A.
      common_random_numbers, num_draws, seed, accounting, method, sampler: how the draws were made
        (A's draws are those of ``carbon-mc run A`` with the same seed and draw count).
    """

    quantity: str
    units: str
    a_name: str
    b_name: str
    a: np.ndarray = field(repr=False)
    b: np.ndarray = field(repr=False)
    shared: tuple[str, ...]
    separate: tuple[str, ...]
    common_random_numbers: bool
    num_draws: int
    seed: int
    accounting: dict
    nonfinite_draws_dropped: int = 0  # paired draws left out (nonfinite="drop"): not finite on either side
    method: str = PAIRED_METHOD
    sampler: str = ""  # how the pair was drawn, in words (`sampler_description`)

    @property
    def ratio(self) -> np.ndarray:
        """B / A, draw by draw (inf or nan where A is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.b / self.a

    @property
    def difference(self) -> np.ndarray:
        """B - A, draw by draw, in `units`."""
        return self.b - self.a

    @property
    def prob_b_less(self) -> float:
        """Share of paired draws with B < A: an estimate of P(B < A)."""
        return float(np.mean(self.b < self.a))

    def summary(self, ci_prob: float = 0.9) -> dict:
        """Median, mean and central `ci_prob` interval of A, B, B/A and B-A; P(B < A) with its MC error."""
        lo, hi = (1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2

        def stats(x: np.ndarray) -> dict | None:
            if not np.all(np.isfinite(x)):
                return None  # B/A where A is 0
            q = np.quantile(x, [lo, 0.5, hi])
            return {"median": float(q[1]), "mean": float(np.mean(x)), "lower": float(q[0]), "upper": float(q[2])}

        p = self.prob_b_less
        return {
            "a": stats(self.a),
            "b": stats(self.b),
            "ratio": stats(self.ratio),
            "difference": stats(self.difference),
            "prob_b_less": p,
            "prob_b_less_se": math.sqrt(p * (1 - p) / self.a.size),
            "ci_prob": ci_prob,
        }

    def to_dict(self) -> dict:
        """JSON-ready record (no arrays)."""
        return {
            "a": self.a_name,
            "b": self.b_name,
            "quantity": self.quantity,
            "units": self.units,
            "num_draws": self.num_draws,
            "seed": self.seed,
            "method": self.method,
            "sampler": self.sampler,
            "common_random_numbers": self.common_random_numbers,
            "accounting": self.accounting,
            "shared_inputs": list(self.shared),
            "separate_inputs": list(self.separate),
            "summary": self.summary(),
            **({"nonfinite_draws_dropped": self.nonfinite_draws_dropped} if self.nonfinite_draws_dropped else {}),
        }


def _same_prior(p: Prior, q: Prior) -> bool:
    return p.family == q.family and p.params == q.params and p.num_columns == q.num_columns


def shared_inputs(a: Simulator, b: Simulator) -> list[str]:
    """Drawn inputs that `a` and `b` take from the same prior (same family and parameters)."""
    return [n for n in a.stochastic if n in b.stochastic and _same_prior(a.priors[n], b.priors[n])]


def _own_dimensions(num_dims_a: int, width: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """Scrambled Sobol' tables for dimensions ``num_dims_a ... num_dims_a + width - 1``: (v (width, 32), shift (width,)).

    The dimensions after A's own, each with its own linear matrix scramble and digital shift
    (Matoušek 1998) drawn from ``[*seed, B_SCRAMBLE_WORD]``: independent of A's scrambling, so the
    union of A's dimensions and these is one randomized Sobol' sequence (Owen 2003: the
    dimensions of a scrambled net are scrambled independently).
    """
    if width == 0:
        return np.zeros((0, 32), np.uint32), np.zeros((0,), np.uint32)
    direction_numbers(num_dims_a + width)  # the Joe & Kuo table has enough dimensions (raises if not)
    v, shift = scrambled_direction_numbers(num_dims_a + width, [*seed_words(seed), B_SCRAMBLE_WORD])
    return v[num_dims_a:], shift[num_dims_a:]


def paired_draws(
    ma: Simulator,
    mb: Simulator,
    shared: list[str],
    *,
    num_draws: int,
    seed=0,
    chunk_size: int = DEFAULT_CHUNK,
    variables_a: list[str] | None = None,
    variables_b: list[str] | None = None,
) -> tuple[dict, dict]:
    """Paired draws of two models by randomized quasi-Monte Carlo: (outputs of A, outputs of B), NumPy arrays.

    A is drawn exactly as `carbon_mc.estimate` and ``carbon-mc run`` draw it (`PAIRED_METHOD`, same
    seed: the same numbers). Each input of `shared` takes, in B, A's uniforms for that input (common
    random numbers); every other input of B takes its own dimensions of the same Sobol' sequence,
    after A's (`_own_dimensions`). When B shares every input with A, in A's order, B is drawn exactly
    as ``run B`` (the same uniforms, through the same compiled program as A). Draw ``i`` of B depends only on the seed, the two models and
    ``i``: never on the chunk size. Nonfinite draws are kept (the caller applies its policy).

    Args:
      ma, mb: the two simulators; `shared`: inputs both draw from the same prior (`shared_inputs`).
      variables_a, variables_b: outputs to keep on each side (default: every output).
    """
    _, out_a = draw(ma, num_draws=num_draws, seed=seed, chunk_size=chunk_size, method=PAIRED_METHOD, nonfinite="keep",
                    variables=variables_a)
    if variables_a is None:
        out_a = {k: v for k, v in out_a.items() if k not in ma.stochastic}
    if mb.columns == ma.columns and set(shared) == set(mb.stochastic):  # B draws A's uniforms in A's order: run B exactly
        _, out_b = draw(mb, num_draws=num_draws, seed=seed, chunk_size=chunk_size, method=PAIRED_METHOD, nonfinite="keep",
                        variables=variables_b)
        return out_a, {k: v for k, v in out_b.items() if k not in mb.stochastic}
    rows, row = {}, 0
    for name, k in ma.columns:
        rows[name] = (row, k)
        row += k
    own = [(name, k) for name, k in mb.columns if name not in shared]
    v_own, s_own = _own_dimensions(row, sum(k for _, k in own), seed)
    smp_a = sampler(ma, seed, PAIRED_METHOD, last_index=num_draws - 1)
    consts_a = tuple(jnp.asarray(c) for c in smp_a.consts)
    direction_own, shift_own = jnp.asarray(v_own), jnp.asarray(s_own)
    keep = variables_b

    @jax.jit
    def chunk(first_block, num_blocks_marker):
        num_blocks = num_blocks_marker.shape[0]
        n = num_blocks * BLOCK
        u_a = smp_a.uniforms(consts_a, first_block, num_blocks) if shared else None
        index = first_block * np.uint32(BLOCK) + jnp.arange(n, dtype=jnp.uint32)
        u_own = bits_to_uniform(sobol_words(direction_own, shift_own, index)) if own else None
        parts, at = [], 0
        for name, k in mb.columns:
            if name in shared:
                start, _ = rows[name]
                parts.append(u_a[start:start + k])
            else:
                parts.append(u_own[at:at + k])
                at += k
        u = jnp.concatenate(parts, axis=0) if parts else jnp.zeros((0, n), jnp.float32)
        values = evaluate(mb, u)
        values = {key: v for key, v in values.items() if key not in mb.stochastic and (keep is None or key in keep)}
        return {key: jnp.broadcast_to(v, (n, *jnp.shape(v)[1:])) for key, v in values.items()}

    out_b = kept_in_blocks(chunk, num_draws, chunk_size)
    return out_a, out_b


def sampler_description(num_shared: int, num_own: int, a: str = "A", b: str = "B") -> str:
    """How a pair was drawn, in words (for outputs that show paired figures); `a`, `b` name the two sides."""
    return (f"randomized quasi-Monte Carlo (scrambled Sobol' points): {a} exactly as 'carbon-mc run' "
            f"draws it at this seed and draw count; {b} on {a}'s uniforms for its {num_shared} shared input(s) and on "
            f"further Sobol' dimensions, scrambled independently, for its {num_own} own input(s)"
            + (f" ({b}'s figures agree with 'carbon-mc run' on it within the quasi-Monte Carlo error)" if num_own else ""))


def compare(
    a: AnyScenario | str | Path,
    b: AnyScenario | str | Path,
    *,
    quantity: str = "total_tco2e",
    num_draws: int = 100_000,
    seed: int = 0,
    common_random_numbers: bool = True,
    grid_basis: str | None = None,
    pue_included: bool | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    priors: PriorTable | None = None,
    nonfinite: str = "refuse",
) -> Comparison:
    """The distribution of B / A and B - A for one quantity, with common random numbers.

    Args:
      a, b: scenarios (objects, paths, or names of bundled ones): two training runs, or two
        deployments (serving scenarios, e.g. one model on A100 and on H100).
      quantity: the model output compared (``total_tco2e``, ``operational_tco2e``, ``energy_mwh``, ...).
      num_draws, seed, chunk_size: as for `carbon_mc.estimate`; both sides use the same seed.
      common_random_numbers: True (default) draws the shared inputs once for both sides; False
        draws every input of B independently of A (what two separate runs would give).
      grid_basis, pue_included: accounting switches applied to both sides (None: each scenario's own).
      nonfinite: "refuse" (default) draws that are not finite, or "drop" the pairs where either side
        is not (`carbon_mc.finite`); the count is ``nonfinite_draws_dropped``.

    Returns:
      a `Comparison`.

    Raises:
      InputError: an invalid scenario, draw count, seed or accounting switch.
      NumericError: draws of either scenario that are not finite (`carbon_mc.finite`).
    """
    check_scenario(a, "scenario a"), check_scenario(b, "scenario b"), check_text(quantity, "quantity")
    check_draw_args(num_draws=num_draws, seed=seed, chunk_size=chunk_size, priors=priors, nonfinite=nonfinite)
    check_flag(common_random_numbers, "common_random_numbers"), check_accounting(grid_basis, pue_included)
    sa, sb = (s if isinstance(s, (Scenario, ServingScenario)) else load_any_scenario(s, priors=priors) for s in (a, b))
    if isinstance(sa, ServingScenario) != isinstance(sb, ServingScenario):
        raise CarbonMCError(f"cannot compare a training run with a deployment ({sa.name!r}, {sb.name!r}); "
                            "for training plus serving use carbon_mc.lifecycle")
    valid = SERVING_CHECKABLE if isinstance(sa, ServingScenario) else CHECKABLE
    if quantity not in valid:
        raise CarbonMCError(f"cannot compare quantity {quantity!r}; {close_matches(quantity, valid)}")
    sa = sa.with_accounting(grid_basis=grid_basis, pue_included=pue_included)
    sb = sb.with_accounting(grid_basis=grid_basis, pue_included=pue_included)
    ma, mb = build_simulator(sa, priors=priors), build_simulator(sb, priors=priors)
    shared = shared_inputs(ma, mb) if common_random_numbers else []
    separate = [n for n in mb.stochastic if n not in shared]
    check_policy(nonfinite)
    out_a, out_b = paired_draws(ma, mb, shared, num_draws=num_draws, seed=seed, chunk_size=chunk_size,
                                variables_a=[quantity], variables_b=[quantity])
    _, pairs, dropped = apply_policy({}, {**{f"A {k}": v for k, v in out_a.items()}, **{f"B {k}": v for k, v in out_b.items()}},
                                     nonfinite)  # pairs stay paired: a draw is dropped on both sides or neither
    out_a, out_b = ({k: pairs[f"{side} {k}"] for k in out} for side, out in (("A", out_a), ("B", out_b)))
    return Comparison(
        quantity=quantity,
        units=ma.output_table[quantity].units,
        a_name=sa.name,
        b_name=sb.name,
        a=np.asarray(out_a[quantity], dtype=np.float64),
        b=np.asarray(out_b[quantity], dtype=np.float64),
        shared=tuple(shared),
        separate=tuple(separate),
        common_random_numbers=common_random_numbers,
        num_draws=num_draws,
        seed=int(seed),
        accounting={
            "a": {"grid_basis": ma.run.grid_basis, "pue_included": ma.run.pue_included},
            "b": {"grid_basis": mb.run.grid_basis, "pue_included": mb.run.pue_included},
        },
        nonfinite_draws_dropped=dropped,
        sampler=sampler_description(len(shared), len(separate)),
    )
