"""Streaming summaries: fixed histograms filled on the device chunk by chunk, merged exactly, read on the host.

A run of 10^9 draws cannot keep its draws (4 GB per variable in float32), and sorting them is the
slow part of an exact summary anyway. Instead each summarized variable gets one fixed histogram:

- Its range comes from a pilot, the first `PILOT_DRAWS` draws of the same run, so the bins depend
  only on the seed and the model, never on chunking or on the devices.
- A variable whose pilot draws are all positive gets *float bins*: the bin of a float32 ``x`` is
  its IEEE-754 bit pattern shifted right by `FLOAT_SHIFT` bits, i.e. its exponent and the top
  ``23 - FLOAT_SHIFT`` = 12 bits of its mantissa. Each octave is cut into 4096 equal bins, so a bin's
  relative width is between 2^-13 and 2^-12 (at most 0.0244%), and the bin index costs a shift and
  a subtraction, no logarithm. This is the log-linear bucketing of HdrHistogram (Tene) and of
  DDSketch's linearly interpolated mapping (Masson, Rim & Lee 2019, "DDSketch: a fast and fully
  mergeable quantile sketch with relative-error guarantees", PVLDB 12(12)). The range is the
  pilot's, widened 256-fold on each side.
- Any other variable gets `LINEAR_BINS` equal bins over the pilot range widened by its span on
  each side.
- Values below or above the range fall in an underflow or overflow bin; NaN and infinities are
  counted apart and left out of every statistic.

The engine computes each draw's bin on the device and adds it to an int32 histogram per device,
moved to int64 on the host well before it could overflow; merging chunks, devices, replicates or
runs is exact integer addition, so a streamed summary is bit-for-bit the same whatever the chunk
size or the number of devices.

Error. Inside a bin the draws are taken as spread evenly. A quantile is read at its rank
(``numpy.quantile``'s default, rank ``q (n - 1)``) by linear interpolation inside the bin that holds
it, so it is within one bin of the exact sample quantile: a relative error of at most 2^-12 =
2.4e-4 for float bins (the attribute ``histogram_relative_bin_width``), in practice one to two
orders of magnitude less (tests/test_streaming.py compares the 2.5, 5, 50, 95 and 97.5%
quantiles of 10^7 draws with exact ones at a 0.1% tolerance and prints the error). The mean and sd
are computed from the bins with the within-bin spread (Sheppard's correction), so their relative
error is of order (bin width)^2. The HDI is the narrowest interval holding the probability under
the binned (piecewise-linear) CDF; its endpoints are resolved to one bin. A statistic that would
need the underflow or overflow bin (the pilot missed a far tail) raises instead of guessing.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import NumericError
from ..results.statistics import QUANTILES, STATS

if TYPE_CHECKING:  # xarray is imported where a Dataset is built: a run that only prints does without it
    import xarray as xr

PILOT_DRAWS = 1 << 16
FLOAT_SHIFT = 11  # keep 12 mantissa bits: 4096 bins per octave
FLOAT_MARGIN = 256.0  # the float range is the pilot's min / 256 ... max * 256
LINEAR_BINS = 1 << 15


def _float_bits(x: float) -> int:
    return int(np.array(x, np.float32).view(np.int32))


def _bits_float(bits: np.ndarray) -> np.ndarray:
    # Bins are a power of two in number, so the top edges of a range near float32's maximum would
    # pass it: they stop at the largest finite float32 (0x7F7FFFFF), no draw lies beyond it.
    bits = np.minimum(np.asarray(bits, np.int64), 0x7F7FFFFF)
    return bits.astype(np.int32).view(np.float32).astype(np.float64)


@functools.lru_cache(maxsize=64)
def _edges(spec: BinSpec) -> np.ndarray:
    j = np.arange(spec.bins + 1, dtype=np.int64)
    if spec.kind == "float":
        e = _bits_float((spec.base + j) << FLOAT_SHIFT)
    else:
        e = spec.lo + spec.width * j.astype(np.float64)
    e.flags.writeable = False
    return e


@dataclass(frozen=True)
class BinSpec:
    """The fixed bins of one variable.

    kind "float": bin ``j`` holds the float32 values whose bit pattern shifted right by
    `FLOAT_SHIFT` equals ``base + j``. kind "linear": bin ``j`` is ``[lo + j width, lo + (j+1) width)``.
    """

    kind: str
    bins: int
    base: int = 0
    lo: float = 0.0
    width: float = 0.0

    def edges(self) -> np.ndarray:
        """The ``bins + 1`` bin edges, in the variable's units (float64, read-only)."""
        return _edges(self)

    @property
    def relative_width(self) -> float:
        """Largest relative width of a float bin, 2^-12 (NaN for linear bins)."""
        return 2.0 ** -(23 - FLOAT_SHIFT) if self.kind == "float" else math.nan


def plan_bins(pilot: np.ndarray) -> BinSpec:
    """Bins for a variable from its pilot draws (see the module docstring)."""
    x = np.asarray(pilot, np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise NumericError("every pilot draw is not finite (NaN or inf): an input where the chain divides by zero or a "
                           "product beyond float32's range (3.4e38); narrow the priors or the run's numbers")
    lo, hi = float(x.min()), float(x.max())
    if lo > 0 and hi * FLOAT_MARGIN < float(np.finfo(np.float32).max):
        base = _float_bits(lo / FLOAT_MARGIN) >> FLOAT_SHIFT
        top = _float_bits(hi * FLOAT_MARGIN) >> FLOAT_SHIFT
        return BinSpec("float", bins=1 << math.ceil(math.log2(top - base + 1)), base=base)
    span = hi - lo
    if span <= 0:
        span = max(abs(lo) * 1e-3, 1e-3)
    return BinSpec("linear", bins=LINEAR_BINS, lo=lo - span, width=3.0 * span / LINEAR_BINS)


@dataclass
class Histogram:
    """The streamed summary of one variable.

    ``counts`` has ``spec.bins + 2`` entries: underflow, the bins, overflow. ``nonfinite`` counts
    draws that were NaN or infinite (left out of every statistic).
    """

    spec: BinSpec
    # int64 (bins + 2,); the default None is a sentinel that __post_init__ replaces by zeros, so every
    # instance holds an array, which is what the annotation describes (a dataclass cannot say so otherwise)
    counts: np.ndarray = field(default=None)  # type: ignore[arg-type]
    nonfinite: int = 0

    def __post_init__(self):
        if self.counts is None:
            self.counts = np.zeros(self.spec.bins + 2, np.int64)
        # Work only on the bins from the first to the last one used: edges e, counts c, draws below each edge
        used = np.flatnonzero(self.counts[1:-1])
        first, last = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 1)
        self._first = first
        self._e = self.spec.edges()[first : last + 1]
        self._c = self.counts[1 + first : 1 + last]
        self._cum = (self.counts[0] + np.concatenate([[0], np.cumsum(self._c)])).astype(np.float64)

    @property
    def n(self) -> int:
        """Finite draws counted."""
        return int(self.counts.sum())

    def has_negative(self) -> bool:
        """True when the bins show a draw below 0: one below a range starting at or under 0, or in a bin whose
        upper edge is at or under 0 (linear bins; float bins start above 0 by construction, so they cannot tell)."""
        if self.spec.kind != "linear" or not self.n:
            return False
        if self.counts[0] and self.spec.lo <= 0:
            return True
        return bool(self._c.size and self._c[0] and self._e[1] <= 0)

    def merge(self, other: Histogram) -> Histogram:
        """Counts of both (same bins required): exact."""
        if other.spec != self.spec:
            raise ValueError("cannot merge histograms with different bins")
        return Histogram(self.spec, self.counts + other.counts, self.nonfinite + other.nonfinite)

    def _in_range(self, what: str) -> None:
        if self.counts[0] or self.counts[-1]:
            raise RuntimeError(
                f"{what}: {int(self.counts[0])} draws fell below and {int(self.counts[-1])} above the histogram's range "
                "(the pilot missed a far tail); use exact summaries (keep the draws)"
            )

    # -- moments, from the bins with the within-bin spread
    def mean(self) -> float:
        self._in_range("mean")
        e = self._e
        return float(np.dot(self._c, 0.5 * (e[1:] + e[:-1])) / self.n)

    def sd(self) -> float:
        n = self.n
        if n < 2:
            return 0.0
        self._in_range("sd")
        e = self._e
        mid, w = 0.5 * (e[1:] + e[:-1]), e[1:] - e[:-1]
        mean = float(np.dot(self._c, mid) / n)
        ss = float(np.dot(self._c, (mid - mean) ** 2 + w * w / 12.0))
        return math.sqrt(ss / (n - 1))

    def quantile(self, q: float) -> float:
        """The ``q`` quantile, as ``numpy.quantile``'s default (rank ``q (n - 1)``), read from the bins."""
        n = self.n
        if n == 0:
            raise ValueError("no draws")
        rank = q * (n - 1)
        if rank < self.counts[0] or rank >= n - self.counts[-1]:
            self._in_range(f"the {q:g} quantile")
        cum, c, e = self._cum, self._c, self._e
        # rank r is the (r+1)-th smallest draw; the c draws of a bin sit at (i + 1/2) / c of its width
        k = int(np.clip(np.searchsorted(cum, rank, side="right") - 1, 0, c.size - 1))
        frac = min(max((rank - cum[k] + 0.5) / c[k], 0.0), 1.0) if c[k] > 0 else 0.5
        return float(e[k] + frac * (e[k + 1] - e[k]))

    def percentile_of(self, value: float) -> float:
        """Percentile (0-100) of `value`: the share of draws below it, interpolated inside its bin."""
        n = self.n
        if n == 0:
            raise ValueError("no draws")
        edges = self.spec.edges()
        if value < edges[0] or value >= edges[-1]:
            if self.counts[0] or self.counts[-1]:
                self._in_range("percentile")
            return 0.0 if value < edges[0] else 100.0
        return 100.0 * float(np.interp(value, self._e, self._cum)) / n

    def _inverse(self, level: np.ndarray, *, lowest: bool) -> np.ndarray:
        """Where the piecewise-linear CDF reaches `level` (counts): the smallest such x if `lowest`, else the largest."""
        e, cum, c = self._e, self._cum, self._c
        if lowest:
            k = np.clip(np.searchsorted(cum, level, side="left"), 1, c.size)  # bin k-1 holds the crossing
            ck = c[k - 1].astype(np.float64)
            frac = np.where(ck > 0, (level - cum[k - 1]) / np.maximum(ck, 1), 0.0)
            return e[k - 1] + np.clip(frac, 0.0, 1.0) * (e[k] - e[k - 1])
        k = np.clip(np.searchsorted(cum, level, side="right") - 1, 0, c.size - 1)  # bin k holds the crossing
        ck = c[k].astype(np.float64)
        frac = np.where(ck > 0, (level - cum[k]) / np.maximum(ck, 1), 1.0)
        return e[k] + np.clip(frac, 0.0, 1.0) * (e[k + 1] - e[k])

    def hdi(self, prob: float = 0.9) -> tuple[float, float]:
        """Narrowest interval holding `prob` of the draws, under the piecewise-linear CDF of the bins.

        The narrowest interval of a piecewise-linear CDF has an end on a bin edge, so every edge is
        tried as the left end and as the right end (Hyndman 1996, "Computing and graphing highest
        density regions", applied to the binned density).
        """
        self._in_range("hdi")
        e, cum = self._e, self._cum
        mass = float(math.floor(prob * self.n))
        low_parts: list[np.ndarray] = []
        high_parts: list[np.ndarray] = []
        ok = cum + mass <= cum[-1]  # left end on an edge
        if ok.any():
            low_parts.append(e[ok])
            high_parts.append(self._inverse(cum[ok] + mass, lowest=True))
        ok = cum - mass >= cum[0]  # right end on an edge
        if ok.any():
            low_parts.append(self._inverse(cum[ok] - mass, lowest=False))
            high_parts.append(e[ok])
        lows, highs = np.concatenate(low_parts), np.concatenate(high_parts)
        i = int(np.argmin(highs - lows))
        return float(lows[i]), float(highs[i])

    def describe(self) -> dict[str, float]:
        """The `carbon_mc.summary.STATS` of this variable."""
        out = {"mean": self.mean(), "sd": self.sd()}
        out.update({name: self.quantile(q) for name, q in QUANTILES.items()})
        out["hdi90_lower"], out["hdi90_upper"] = self.hdi(0.9)
        return out

    def resolution_attrs(self) -> dict:
        """Attributes documenting this histogram's resolution."""
        attrs = {"histogram_bins": self.spec.bins, "histogram_kind": self.spec.kind}
        if self.spec.kind == "float":
            attrs["histogram_relative_bin_width"] = self.spec.relative_width
        else:
            attrs["histogram_bin_width"] = self.spec.width
        if self.nonfinite:
            attrs["nonfinite_draws"] = int(self.nonfinite)
        return attrs


def constant_stats(value: float) -> dict[str, float]:
    """The `STATS` of a variable that does not vary."""
    return {s: (0.0 if s == "sd" else float(value)) for s in STATS}


def summary_dataset(stats: dict[str, dict], var_attrs: dict[str, dict], attrs: dict) -> xr.Dataset:
    """A Dataset over ``stat`` shaped like `carbon_mc.summarize`'s, from per-variable `STATS` dicts."""
    import xarray as xr

    data_vars = {
        name: xr.Variable(("stat",), np.array([s[k] for k in STATS], np.float64), var_attrs.get(name, {}))
        for name, s in stats.items()
    }
    attrs = dict(attrs)
    attrs["interval_kinds"] = "p5-p95 and p2_5-p97_5: equal-tailed 90% and 95%; hdi90: highest-density 90%"
    return xr.Dataset(data_vars, coords={"stat": list(STATS)}, attrs=attrs)


@dataclass
class StreamSummary:
    """What a streamed run leaves: a histogram per varying variable and the values of the constant ones."""

    histograms: dict[str, Histogram]
    constants: dict[str, float]
    var_attrs: dict[str, dict]
    attrs: dict

    def describe(self, name: str) -> dict[str, float]:
        """The `STATS` of variable `name`."""
        if name in self.constants:
            return constant_stats(self.constants[name])
        return self.histograms[name].describe()

    def percentile_of(self, name: str, value: float) -> float:
        """Percentile (0-100) of `value` among the draws of `name` (as `carbon_mc.percentile_of`)."""
        if name in self.constants:
            c = self.constants[name]
            return 100.0 if value > c else 50.0 if value == c else 0.0
        return self.histograms[name].percentile_of(value)

    def reported_percentiles(self, reported: dict[str, float]) -> dict[str, dict[str, float]]:
        """For each published figure ``{variable: value}``, its value and percentile."""
        return {k: {"value": float(v), "percentile": self.percentile_of(k, v)} for k, v in reported.items()}

    def to_dataset(self) -> xr.Dataset:
        """A Dataset over ``stat`` shaped like `carbon_mc.summarize`'s, documenting the histograms."""
        names = [*self.histograms, *self.constants]
        stats = {k: self.describe(k) for k in names}
        var_attrs = {
            k: {**self.var_attrs.get(k, {}), **(self.histograms[k].resolution_attrs() if k in self.histograms else {})}
            for k in names
        }
        attrs = dict(self.attrs)
        attrs["summary_method"] = "streaming_histogram"
        attrs["summary_error"] = (
            "quantiles, HDI, mean and sd read from fixed histograms (carbon_mc.streaming): quantiles within one bin "
            f"of the exact sample value, float bins at most {2.0 ** -(23 - FLOAT_SHIFT):.2e} wide relative to the value"
        )
        attrs["pilot_draws"] = PILOT_DRAWS
        return summary_dataset(stats, var_attrs, attrs)
