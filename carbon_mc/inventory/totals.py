"""Correlated totals: every draw evaluates every entry, streamed over draws and entries.

Each entry is bound to its priors (`build_simulator`, with location-based accounting) and each of
its drawn inputs to a random stream (`carbon_mc.inventory.sharing`): a shared stream is drawn once
per chunk of draws and gathered by every entry on it; a run-specific stream is drawn per entry
(the engine's Threefry streams, the entry's id folded into the key). Entries with the same
structure (same chain, same branches, same inputs drawn the same way) are evaluated together, up
to `MAX_BATCH` at a time, by one jitted kernel that returns the weighted sums of the batch for
each `METRICS` row; the host adds them, in float64, into one (metrics, draws) array per *cell*
(one combination of the report's labels; an entry whose period spans several months is split over
them by its days). Memory: cells x metrics x draws, never entries x draws.

Accounting (GHG Protocol Scope 2 Guidance, dual reporting): ``scope2_location_tco2e`` uses the grid
average factor, ``scope2_market_tco2e`` the entry's market-based factor (its ``[accounting]
market_gco2_per_kwh``: a contract, a residual mix, 0 for fully matched renewable purchases) and,
for an entry with none, the location-based factor (the Guidance's last step of its hierarchy);
operational emissions are linear in the grid factor, so the market figure is the location one
times market / location factor, draw by draw. ``scope3_embodied_tco2e`` (manufacturing carbon of
the hardware, amortised) is reported apart. (A cloud tenant may file the operational figures
under Scope 3, category 1; the two methods are the Scope 2 ones either way.)

Draw ``i`` depends only on the seed, the streams and ``i``, so a cell's draws are the same whatever
the chunking, and in a multi-process run (``jax.distributed``) each process computes every
``process_count``-th chunk and the cells are summed across processes: the numbers of one process.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import CarbonMCError, InputError, NumericError
from ..priors import Prior, PriorTable, load_priors
from ..sampling import BLOCK, Simulator, build_simulator
from ..sampling.streams import key_of, stream_id, stream_key, threefry_uniforms
from ..scenarios.common import MARKET_QUANTITY, market_prior
from .entries import Entry
from .sharing import RULES, entry_words, own_stream, prior_hash, stream_plan

__all__ = ["METRICS", "PERIODS", "Prepared", "cell_pieces", "compute_cells", "gather_sum_float64", "prepare", "prepare_all",
           "shared_draws"]

METRICS = ("energy_mwh", "scope2_location_tco2e", "scope2_market_tco2e", "scope3_embodied_tco2e")
METRIC_UNITS = {"energy_mwh": "MWh", "scope2_location_tco2e": "t", "scope2_market_tco2e": "t", "scope3_embodied_tco2e": "t"}
PERIODS = ("month", "quarter", "year")
MAX_BATCH = 64  # entries per kernel call
BUCKETS = (1, 4, 16, MAX_BATCH)  # batch sizes compiled (a batch is padded to the next one)
CHUNK_BLOCKS = 4  # blocks of draws per chunk (4 x 4096 = 16,384 draws)


@dataclass(frozen=True)
class Prepared:
    """An entry bound to its priors, streams and the kernel structure it belongs to."""

    entry: Entry
    sim: Simulator
    priors: dict[str, Prior]  # every input's prior, the market factor's included
    plan: dict[str, str | None]  # drawn input -> shared stream name, or None (the entry's own)
    market: bool  # the entry has a market-based factor of its own
    signature: tuple


def _constant_kinds(run) -> tuple:
    """(field, kind) of the run's constants: None, a static value (bool, str), or "number" (per entry).

    A run with measured energy (``[measured]``) uses its device-hours and device count in Python
    (the meter's scope and error), so its numbers are static: such an entry has a kernel of its own.
    """
    measured = getattr(run, "measured", None) is not None
    out = []
    for f in dataclasses.fields(run):
        v = getattr(run, f.name)
        number = isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) and not measured
        out.append((f.name, "number" if number else ("static", repr(v))))  # None, flags, tuples: the kernel's branches
    return tuple(out)


def prepare(entry: Entry, table: PriorTable, rules: tuple[str, ...] = tuple(RULES)) -> Prepared:
    """`entry` bound to its priors under the sharing `rules`."""
    scenario = entry.scenario(table).with_accounting(grid_basis="location")
    sim = build_simulator(scenario, priors=table)
    priors = dict(sim.priors)
    market = scenario.accounting.market_gco2_per_kwh is not None or MARKET_QUANTITY in table.quantities
    if market:
        priors[MARKET_QUANTITY] = market_prior(scenario.accounting, table, scenario.context(table), scenario.file)
    plan = stream_plan(priors, rules, entry.independent)
    drawn = tuple((n, priors[n].num_columns, plan[n] is not None, None if plan[n] else prior_hash(priors[n]))
                  for n in sorted(plan))
    fixed = tuple(sorted(n for n, p in priors.items() if p.is_fixed))
    signature = (sim.chain.__name__, _constant_kinds(sim.run), drawn, fixed, market)
    return Prepared(entry, sim, priors, plan, market, signature)


def cell_pieces(entries: list[Entry], by: tuple[str, ...]) -> dict[tuple, list[tuple[Entry, float]]]:
    """{cell (a tuple of label values, in the order of `by`): [(entry, weight)]}, cells and entries sorted.

    A period key (month, quarter, year) splits an entry over the periods its days fall in, weighted
    by days; any other key is a label (team, project, model, phase, kind, id) or a tag.
    """
    cells: dict[tuple, dict[str, tuple[Entry, float]]] = {}
    for entry in entries:
        parts: dict[tuple, float] = {}
        for month, w in entry.month_weights().items():
            year, mm = month[:4], int(month[5:])
            key = tuple(month if k == "month" else f"{year}-Q{(mm - 1) // 3 + 1}" if k == "quarter" else year if k == "year"
                        else entry.label(k) for k in by)
            parts[key] = parts.get(key, 0.0) + w
        for key, w in parts.items():
            cells.setdefault(key, {})[entry.id] = (entry, w)
    return {key: [cells[key][i] for i in sorted(cells[key])] for key in sorted(cells)}


# ---------------------------------------------------------------------------------------------
# Kernels


def _own_keys(seed: int, name: str, ids: list[str], columns: int) -> np.ndarray:
    """Key words (entries, columns, 2) of input `name`'s own stream for each entry id."""
    base = jax.random.fold_in(key_of(seed), stream_id(own_stream(name)))
    words = np.array([entry_words(i) for i in ids], np.uint32).reshape(-1, 2)

    def one(w):
        k = jax.random.fold_in(jax.random.fold_in(base, w[0]), w[1])
        if columns == 1:
            return jax.random.key_data(k)[None, :]
        return jnp.stack([jax.random.key_data(jax.random.fold_in(k, c)) for c in range(columns)])

    return np.asarray(jax.vmap(one)(jnp.asarray(words)), np.uint32).reshape(len(ids), columns, 2)


def _build_kernel(template: Prepared, size: int, nblk: int) -> Callable:
    """Jitted ``(first_block, own_keys, shared_values, shared_index, fixed, constants, weights) -> (metrics, n)``."""
    sim, n = template.sim, nblk * BLOCK
    own = [(name, template.priors[name]) for name, stream in sorted(template.plan.items()) if stream is None]
    market = template.market

    def kernel(first_block, own_keys, shared_values, shared_index, fixed, constants, weights):
        x = {}
        for name, prior in own:
            k = prior.num_columns
            u = threefry_uniforms(own_keys[name].reshape(size * k, 2), first_block, nblk).reshape(size, k, n)
            x[name] = prior.icdf32(u[:, 0, :] if k == 1 else jnp.moveaxis(u, 1, 2))
        for name, index in shared_index.items():
            x[name] = shared_values[name][index]
        x.update(fixed)
        out = sim.chain(x, dataclasses.replace(sim.run, **constants))
        operational = out["operational_tco2e"]
        market_based = operational * x[MARKET_QUANTITY] / x["grid_gco2_per_kwh"] if market else operational
        rows = []
        for m in (out["energy_mwh"], operational, market_based, out["embodied_tco2e"]):
            m = jnp.broadcast_to(m, (size, n))
            rows.append(jnp.sum(jnp.where(weights > 0, m * weights, 0.0), axis=0))
        return jnp.stack(rows)

    return jax.jit(kernel)


@dataclass
class _Batch:
    kernel: Callable
    args: tuple  # everything but first_block and the shared values
    shared_names: tuple[str, ...]


def _batches(pieces: list[tuple[Prepared, float]], seed: int, shared_slots: dict[str, dict[str, int]],
             kernels: dict, nblk: int) -> list[_Batch]:
    """The kernel calls of one cell: its pieces grouped by structure, in batches of at most MAX_BATCH."""
    groups: dict[tuple, list[tuple[Prepared, float]]] = {}
    for prep, w in pieces:
        groups.setdefault(prep.signature, []).append((prep, w))
    out = []
    for signature, members in groups.items():
        for start in range(0, len(members), MAX_BATCH):
            batch = members[start : start + MAX_BATCH]
            size = next(b for b in BUCKETS if b >= len(batch))
            padded = batch + [(batch[0][0], 0.0)] * (size - len(batch))
            template = padded[0][0]
            key = (signature, size, nblk)
            if key not in kernels:
                kernels[key] = _build_kernel(template, size, nblk)
            ids = [p.entry.id for p, _ in padded]
            own_keys = {name: jnp.asarray(_own_keys(seed, name, ids, template.priors[name].num_columns))
                        for name, stream in template.plan.items() if stream is None}
            # plan[name] is a stream key here (not None): the comprehension's filter, which mypy cannot carry in
            shared_index = {name: jnp.asarray([shared_slots[name][p.plan[name]] for p, _ in padded], jnp.int32)  # type: ignore[index]
                            for name, stream in template.plan.items() if stream is not None}
            fixed = {name: jnp.asarray([[p.priors[name].fixed_value] for p, _ in padded], jnp.float32)
                     for name in template.signature[3]}
            constants = {f: jnp.asarray([[float(getattr(p.sim.run, f))] for p, _ in padded], jnp.float32)
                         for f, kind in template.signature[1] if kind == "number"}
            weights = jnp.asarray([[w] for _, w in padded], jnp.float32)
            out.append(_Batch(kernels[key], (own_keys, shared_index, fixed, constants, weights), tuple(shared_index)))
    return out


def _shared_function(streams: dict[str, list[tuple[str, Prior]]], seed: int, nblk: int) -> Callable:
    """Jitted ``first_block -> {input: (streams of that input, n[, k]) values}``: each shared stream drawn once."""
    keys = {name: [jnp.asarray(stream_key(seed, s, p.num_columns)) for s, p in items] for name, items in streams.items()}

    def draw(first_block):
        out = {}
        for name, items in streams.items():
            values = []
            for (_, prior), key in zip(items, keys[name], strict=True):
                u = threefry_uniforms(key, first_block, nblk)
                values.append(prior.icdf32(u[0] if prior.num_columns == 1 else u.T))
            out[name] = jnp.stack(values)
        return out

    return jax.jit(draw)


def compute_cells(cells: dict[tuple, list[tuple[Prepared, float]]], *, num_draws: int, seed: int) -> dict[tuple, np.ndarray]:
    """{cell: (len(METRICS), num_draws) float64 draws of the cell's weighted sum}, streamed over draws and entries.

    In a multi-process run each process computes every ``jax.process_count()``-th chunk of draws and
    the cells are summed across processes, so every process returns the numbers of one process.

    Raises:
      NumericError: draws of a cell that are not finite (an entry whose chain divides by zero, ...).
    """
    if not cells:
        return {}
    streams: dict[str, dict[str, Prior]] = {}
    for pieces in cells.values():
        for prep, _ in pieces:
            for name, stream in prep.plan.items():
                if stream is not None:
                    streams.setdefault(name, {})[stream] = prep.priors[name]
    ordered = {name: sorted(items.items()) for name, items in sorted(streams.items())}
    slots = {name: {s: i for i, (s, _) in enumerate(items)} for name, items in ordered.items()}
    nblk = min(CHUNK_BLOCKS, -(-num_draws // BLOCK))
    n = nblk * BLOCK
    shared = _shared_function(ordered, seed, nblk)
    kernels: dict = {}
    plan = {cell: _batches(pieces, seed, slots, kernels, nblk) for cell, pieces in cells.items()}
    acc = {cell: np.zeros((len(METRICS), num_draws)) for cell in cells}
    chunks = -(-num_draws // n)
    rank, size = jax.process_index(), jax.process_count()
    for c in range(rank, chunks, size):
        first_block = np.uint32(c * nblk)
        values = shared(first_block)
        valid = min(n, num_draws - c * n)
        for cell, batches in plan.items():
            total = acc[cell][:, c * n : c * n + valid]
            for b in batches:
                own_keys, shared_index, fixed, constants, weights = b.args
                sums = b.kernel(first_block, own_keys, {k: values[k] for k in b.shared_names}, shared_index, fixed, constants,
                                weights)
                total += np.asarray(sums, np.float64)[:, :valid]
    if size > 1:
        acc = dict(zip(cells, gather_sum_float64(np.stack([acc[cell] for cell in cells])), strict=True))
    for cell, values in acc.items():
        bad = int(np.sum(~np.isfinite(values)))
        if bad:
            raise NumericError(f"{bad} draws of the cell {', '.join(cell) or 'total'} are not finite; run its entries "
                               "one by one (carbon-mc run) to find which")
    return acc


def shared_draws(prepared: list[Prepared], *, num_draws: int, seed: int) -> dict[str, np.ndarray]:
    """{shared stream: (num_draws,) float64 values}: the draws every entry on that stream saw in `compute_cells`.

    The same streams, keys and chunks as `compute_cells`, so draw ``i`` here is the value behind draw
    ``i`` of every cell (used to say which shared inputs drive the total's spread). A stream of a
    prior with several columns is left out.
    """
    streams: dict[str, dict[str, Prior]] = {}
    for prep in prepared:
        for name, stream in prep.plan.items():
            if stream is not None:
                streams.setdefault(name, {})[stream] = prep.priors[name]
    ordered = {name: sorted(items.items()) for name, items in sorted(streams.items())}
    if not ordered:
        return {}
    nblk = min(CHUNK_BLOCKS, -(-num_draws // BLOCK))
    n = nblk * BLOCK
    shared = _shared_function(ordered, seed, nblk)
    out = {s: np.zeros(num_draws) for items in ordered.values() for s, p in items if p.num_columns == 1}
    for c in range(-(-num_draws // n)):
        values = shared(np.uint32(c * nblk))
        valid = min(n, num_draws - c * n)
        for name, items in ordered.items():
            v = np.asarray(values[name], np.float64)
            for i, (s, p) in enumerate(items):
                if p.num_columns == 1:
                    out[s][c * n : c * n + valid] = v[i, :valid]
    return out


def gather_sum_float64(local: np.ndarray) -> np.ndarray:
    """The sum over processes of each process's float64 array `local` (same shape everywhere), exact bits.

    JAX without ``jax_enable_x64`` would turn a float64 array into float32 on its way through a
    collective, so the array travels as its raw bits (uint32 pairs) and is summed here in float64.
    Each chunk of draws is held by one process and the others hold zeros, so the sum is that
    process's numbers exactly (x + 0 = x).
    """
    from jax.experimental import multihost_utils

    bits = np.ascontiguousarray(local, np.float64).view(np.uint32)
    gathered = np.asarray(multihost_utils.process_allgather(bits), np.uint32)  # (processes, *bits.shape)
    return np.ascontiguousarray(gathered).view(np.float64).sum(axis=0)


def prepare_all(entries: list[Entry], table: PriorTable | None = None, rules: tuple[str, ...] = tuple(RULES)) -> dict[str, Prepared]:
    """{entry id: Prepared} for every entry (the scenarios are parsed and bound once)."""
    table = table or load_priors()
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise InputError(f"unknown sharing rule {unknown[0]!r}; valid: {', '.join(RULES)}")
    out = {}
    for entry in entries:
        try:
            out[entry.id] = prepare(entry, table, rules)
        except CarbonMCError:
            raise
    return out


def chunk_count(num_draws: int) -> int:
    nblk = min(CHUNK_BLOCKS, -(-num_draws // BLOCK))
    return math.ceil(num_draws / (nblk * BLOCK))
