"""Saltelli designs: two independent point sets A and B in the unit cube, and their cross matrices.

A design has D columns (one per drawn scalar input; a joint prior with k components takes k
columns) gathered into G groups. Each of the N base rows gives the model evaluations

    A,  AB_1 ... AB_G,  [BA_1 ... BA_G],  B

where AB_g is row A with the columns of group g taken from B, and BA_g the reverse (only needed for
second-order indices). N base rows cost N·(G+2) evaluations, or N·(2G+2) with second order
(Saltelli 2002, doi:10.1016/S0010-4655(02)00280-1; Saltelli et al. 2010,
doi:10.1016/j.cpc.2009.09.018).

The base points are the first N points of a 2D-dimensional scrambled Sobol' sequence
(``scipy.stats.qmc.Sobol(d=2D, scramble=True, seed=seed)``, LMS + digital shift), A its first D
columns and B its last D, or plain uniforms from ``numpy.random.default_rng(seed)``. Both match
SALib: `saltelli_matrix` of `base_points(seed, N, D)` is, row for row, SALib's
``sobol.sample(problem, N, seed=seed)`` with unit bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from ..errors import CarbonMCError, close_matches
from ..options import SOBOL_SAMPLERS

SAMPLERS = SOBOL_SAMPLERS
_TINY = float(np.finfo(np.float32).tiny)
_BELOW_ONE = float(np.nextafter(np.float32(1.0), np.float32(0.0)))  # 1 - 2**-24


def is_power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def next_power_of_two(n: int) -> int:
    return 1 << max(0, math.ceil(math.log2(n)))


def evaluations_per_base_row(num_groups: int, second_order: bool) -> int:
    """Model evaluations per base row: G + 2, or 2G + 2 with second order."""
    return 2 * num_groups + 2 if second_order else num_groups + 2


def base_sampler(seed: int, num_columns: int, sampler: str = "sobol") -> Callable[[int], np.ndarray]:
    """A function ``n -> the next n base rows``, each of shape (n, 2·num_columns), float64 in [0, 1).

    Rows come out in sequence order, so drawing N rows in chunks gives the same points as drawing
    them at once. Columns ``[:D]`` are A, ``[D:]`` are B.
    """
    if sampler == "sobol":
        from scipy.stats import qmc

        return qmc.Sobol(d=2 * num_columns, scramble=True, seed=seed).random
    if sampler == "random":
        rng = np.random.default_rng(seed)
        return lambda n: rng.random((n, 2 * num_columns))
    raise CarbonMCError(f"unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")


def base_points(seed: int, num_base: int, num_columns: int, sampler: str = "sobol") -> np.ndarray:
    """All `num_base` base rows at once, shape (num_base, 2·num_columns)."""
    return base_sampler(seed, num_columns, sampler)(num_base)


def cross_stack(a, b, group_of_column, num_groups: int, second_order: bool = False, *, xp=jnp):
    """The evaluation points of a chunk of base rows, stacked by kind: shape (K, n, D).

    Order along the first axis: A, AB_1..AB_G, [BA_1..BA_G], B (K = G + 2, or 2G + 2).

    Args:
      a, b: arrays (n, D), rows of the two base matrices.
      group_of_column: int array (D,), the group index of each design column.
      num_groups: G.
      second_order: also build the BA_g matrices.
      xp: the array module, `jax.numpy` (default, traceable) or `numpy` (keeps float64).
    """
    masks = xp.asarray(group_of_column)[None, :] == xp.arange(num_groups)[:, None]  # (G, D)
    parts = [a[None], xp.where(masks[:, None, :], b[None], a[None])]
    if second_order:
        parts.append(xp.where(masks[:, None, :], a[None], b[None]))
    parts.append(b[None])
    return xp.concatenate(parts, axis=0)


def saltelli_matrix(base: np.ndarray, group_of_column: Sequence[int], num_groups: int, second_order: bool = False) -> np.ndarray:
    """The whole design in SALib's row order (per base row: A, AB_1..AB_G, [BA_1..BA_G], B).

    Shape (N·K, D). Useful to evaluate a model outside carbon-mc, or to hand the same points to
    SALib; `split_evaluations` undoes the ordering.
    """
    base = np.asarray(base)
    d = base.shape[1] // 2
    stack = cross_stack(base[:, :d], base[:, d:], np.asarray(group_of_column), num_groups, second_order, xp=np)
    return stack.transpose(1, 0, 2).reshape(-1, d)


def split_evaluations(y: np.ndarray, num_groups: int, second_order: bool = False):
    """Model outputs in SALib's row order -> (f_A (N,), f_B (N,), f_AB (N, G), f_BA (N, G) or None)."""
    y = np.asarray(y).ravel()
    step = evaluations_per_base_row(num_groups, second_order)
    if y.size % step:
        raise CarbonMCError(f"{y.size} evaluations is not a multiple of {step} (G = {num_groups}, second_order = {second_order})")
    rows = y.reshape(-1, step)
    f_ba = rows[:, 1 + num_groups : 1 + 2 * num_groups] if second_order else None
    return rows[:, 0], rows[:, -1], rows[:, 1 : 1 + num_groups], f_ba


def clip_unit(u):
    """Uniforms as float32 strictly inside (0, 1), so every inverse CDF stays finite.

    Sobol' points include exact zeros (and float32 rounding can produce 1.0).
    """
    return jnp.clip(jnp.asarray(u, jnp.float32), _TINY, _BELOW_ONE)


@dataclass(frozen=True)
class Grouping:
    """How design columns map to the inputs and the groups whose indices are estimated.

    Attributes:
      names: group labels, in design order (the ``input`` coordinate of the result).
      members: for each group, the input names it holds.
      inputs: the drawn inputs, in design order, with the number of columns each takes.
      group_of_column: the group index of each design column, shape (D,).
    """

    names: tuple[str, ...]
    members: tuple[tuple[str, ...], ...]
    inputs: tuple[tuple[str, int], ...]
    group_of_column: np.ndarray

    @property
    def num_groups(self) -> int:
        return len(self.names)

    @property
    def num_columns(self) -> int:
        return int(self.group_of_column.size)


def resolve_groups(
    columns: Mapping[str, int],
    groups: Mapping[str, Sequence[str]] | None = None,
    *,
    fixed: Sequence[str] = (),
) -> Grouping:
    """Check user groups against the drawn inputs and build the column -> group map.

    Args:
      columns: drawn input name -> number of uniform columns it takes (k > 1: a joint prior,
        always kept whole, so its components share one index).
      groups: optional ``{group name: [input names]}``. Inputs named in no group get a group of
        their own, labelled by the input name. Groups appear in the order of their first member.
      fixed: inputs of the model that are fixed, not drawn: a group may name them (they are left
        out, since a fixed input has no variance to apportion); a group left empty is dropped.

    Raises:
      CarbonMCError: an unknown input (with close matches), an input in two groups, an empty or
        clashing group name.
    """
    if not columns:
        raise CarbonMCError("no drawn inputs: every input is fixed, so there is no variance to apportion")
    fixed_names = set(fixed)
    order = list(columns)
    group_of_input: dict[str, str] = {}
    for gname, names in (groups or {}).items():
        if not isinstance(gname, str) or not gname.strip():
            raise CarbonMCError(f"group names must be non-empty strings, got {gname!r}")
        if isinstance(names, str):
            names = [names]
        if not names:
            raise CarbonMCError(f"group {gname!r} has no members")
        if gname in columns and gname not in names:
            raise CarbonMCError(f"group name {gname!r} is also an input outside the group; rename the group")
        for name in names:
            if name in fixed_names:
                continue
            if name not in columns:
                raise CarbonMCError(f"unknown input {name!r} in group {gname!r}; {close_matches(name, list(columns) + list(fixed_names))}")
            if name in group_of_input and group_of_input[name] != gname:
                raise CarbonMCError(f"input {name!r} is in two groups: {group_of_input[name]!r} and {gname!r}")
            group_of_input[name] = gname
    for name in order:
        group_of_input.setdefault(name, name)
    labels: list[str] = []
    for name in order:
        label = group_of_input[name]
        if label not in labels:
            labels.append(label)
    members = tuple(tuple(n for n in order if group_of_input[n] == label) for label in labels)
    index = {label: i for i, label in enumerate(labels)}
    group_of_column = np.concatenate([np.full(int(columns[n]), index[group_of_input[n]], dtype=np.int32) for n in order])
    return Grouping(tuple(labels), members, tuple((n, int(columns[n])) for n in order), group_of_column)
