"""Streaming summaries: fixed histograms filled chunk by chunk, merged exactly, read as quantiles and HDIs.

A run of 10^9 draws cannot keep its draws (4 GB per variable in float32), and sorting them is the
slow part of an exact summary anyway. Instead each summarized variable gets a fixed histogram:

- its range comes from a pilot, the first `PILOT_DRAWS` draws of the same run (so the bins depend
  only on the seed and the model, never on chunking or devices), widened on both sides;
- a variable whose pilot draws are all positive gets log-spaced bins: bin ``k`` covers
  ``[exp(lo + k w), exp(lo + (k+1) w))``, a *relative* width of ``exp(w) - 1``, typically 3e-4; any
  other gets equal-width bins. Values outside fall in an underflow or overflow bin;
- the engine computes each draw's bin on the device and adds counts into an integer histogram, so
  merging chunks, devices or runs is exact integer addition;
- mean and sd come from float32 sums of ``x - shift`` over each `BLOCK` of draws (``shift`` the
  pilot mean), added up in float64 on the host in block order.

Error. A quantile is read by finding the bin that holds its rank and interpolating linearly (in
log space for log bins) inside it, so it is off from the exact sample quantile by at most one bin
width: a relative error of at most ``exp(w) - 1`` for log bins (recorded per variable as the
attribute ``histogram_relative_bin_width``) plus the float32 rounding of the draws. In practice the
interpolation makes it far smaller (tests/test_streaming.py checks the 2.5/5/50/95/97.5%
quantiles of 10^7 draws against exact ones to 0.1% and reports the error). The HDI is the narrowest
interval holding the probability mass under the same piecewise-linear CDF, so its endpoints are
resolved to one bin. If a requested quantile falls in the underflow or overflow bin (the pilot
missed a far tail) `quantile` raises rather than guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from .summary import STATS, _QUANTILES

PILOT_DRAWS = 1 << 16
DEFAULT_BINS = 1 << 15
MAX_RELATIVE_BIN_WIDTH = 2.5e-4  # bins are added (up to MAX_BINS) until log bins are at least this fine
MAX_BINS = 1 << 18


@dataclass(frozen=True)
class BinSpec:
    """The fixed bins of one variable: ``bins`` bins of width ``width`` from ``lo`` (in log space if ``log``)."""

    lo: float
    width: float
    bins: int
    log: bool
    shift: float  # subtracted before the block sums (the pilot mean), against cancellation

    @property
    def relative_width(self) -> float:
        """Relative width of a log bin, ``exp(width) - 1`` (NaN for equal-width bins)."""
        return math.expm1(self.width) if self.log else math.nan

    def edges(self) -> np.ndarray:
        """The ``bins + 1`` edges, in the variable's units."""
        t = self.lo + self.width * np.arange(self.bins + 1, dtype=np.float64)
        return np.exp(t) if self.log else t


def plan_bins(pilot: np.ndarray, *, bins: int | None = None) -> BinSpec:
    """Bins for a variable from its pilot draws: the pilot range widened by half its width on each side.

    Log bins if every pilot draw is positive. Unless `bins` is given, the count is the smallest
    power of two, from `DEFAULT_BINS` to `MAX_BINS`, whose log bins are at most
    `MAX_RELATIVE_BIN_WIDTH` wide.
    """
    x = np.asarray(pilot, np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise ValueError("no finite pilot draws")
    log = bool(x.min() > 0)
    t = np.log(x) if log else x
    t_min, t_max = float(t.min()), float(t.max())
    span = t_max - t_min
    if span <= 0:  # a constant: any narrow bins around it
        span = max(abs(t_min) * 1e-3, 1e-3)
    pad = 0.5 * span + (math.log(2.0) if log else 0.0)
    lo, hi = t_min - pad, t_max + pad
    if bins is None:
        bins = DEFAULT_BINS
        while log and (hi - lo) / bins > MAX_RELATIVE_BIN_WIDTH and bins < MAX_BINS:
            bins *= 2
    return BinSpec(lo=lo, width=(hi - lo) / bins, bins=int(bins), log=log, shift=float(np.mean(x)))


@dataclass
class Histogram:
    """The streamed summary of one variable: counts per bin plus block sums for mean and sd.

    ``counts`` has ``spec.bins + 2`` entries: underflow, the bins, overflow. ``nonfinite`` counts
    draws that were NaN or infinite (left out of every statistic).
    """

    spec: BinSpec
    counts: np.ndarray = field(default=None)  # int64 (bins + 2,)
    nonfinite: int = 0
    block_sums: list = field(default_factory=list)  # float arrays (num_blocks, 2): sum(x - shift), sum((x - shift)^2)

    def __post_init__(self):
        if self.counts is None:
            self.counts = np.zeros(self.spec.bins + 2, np.int64)

    @property
    def n(self) -> int:
        """Finite draws counted."""
        return int(self.counts.sum())

    def merge(self, other: Histogram) -> Histogram:
        """Counts and sums of both (same bins required): exact."""
        if other.spec != self.spec:
            raise ValueError("cannot merge histograms with different bins")
        return Histogram(self.spec, self.counts + other.counts, self.nonfinite + other.nonfinite, self.block_sums + other.block_sums)

    # -- moments
    def _sums(self) -> tuple[float, float]:
        if not self.block_sums:
            return 0.0, 0.0
        s = np.concatenate([np.asarray(b, np.float64).reshape(-1, 2) for b in self.block_sums])
        return float(s[:, 0].sum()), float(s[:, 1].sum())

    def mean(self) -> float:
        s1, _ = self._sums()
        return self.spec.shift + s1 / self.n

    def sd(self) -> float:
        n = self.n
        if n < 2:
            return 0.0
        s1, s2 = self._sums()
        return math.sqrt(max(s2 - s1 * s1 / n, 0.0) / (n - 1))

    # -- the piecewise-linear CDF
    def _cdf_points(self) -> tuple[np.ndarray, np.ndarray]:
        """(t at the bin edges, cumulative count at each edge), for the bins proper."""
        t = self.spec.lo + self.spec.width * np.arange(self.spec.bins + 1, dtype=np.float64)
        cum = self.counts[0] + np.concatenate([[0], np.cumsum(self.counts[1:-1])])
        return t, cum.astype(np.float64)

    def _from_t(self, t):
        return np.exp(t) if self.spec.log else t

    def quantile(self, q: float) -> float:
        """The ``q`` quantile, as ``numpy.quantile``'s default (rank ``q (n - 1)``), read from the bins."""
        n = self.n
        if n == 0:
            raise ValueError("no draws")
        rank = q * (n - 1)
        under, over = int(self.counts[0]), int(self.counts[-1])
        if rank < under or rank >= n - over:
            raise RuntimeError(
                f"the {q:.3g} quantile lies outside the histogram's range (pilot too short for this tail); "
                "use exact summaries (keep the draws)"
            )
        t, cum = self._cdf_points()
        # rank r is the (r+1)-th smallest value; inside a bin of c values, value i (0-based) sits at (i + 1/2) / c
        k = int(np.searchsorted(cum, rank, side="right")) - 1
        k = min(max(k, 0), self.spec.bins - 1)
        c = self.counts[k + 1]
        frac = (rank - cum[k] + 0.5) / c if c > 0 else 0.5
        return float(self._from_t(t[k] + self.spec.width * min(max(frac, 0.0), 1.0)))

    def percentile_of(self, value: float) -> float:
        """Percentile (0-100) of `value`: the share of draws below it, interpolated inside its bin."""
        n = self.n
        if n == 0:
            raise ValueError("no draws")
        if self.spec.log:
            if value <= 0:
                return 100.0 * 0.0
            tv = math.log(value)
        else:
            tv = float(value)
        t, cum = self._cdf_points()
        if tv <= t[0]:
            return 100.0 * float(self.counts[0]) / n if tv == t[0] else 100.0 * 0.5 * self.counts[0] / n
        if tv >= t[-1]:
            return 100.0 * (n - 0.5 * float(self.counts[-1])) / n
        return 100.0 * float(np.interp(tv, t, cum)) / n

    def _inverse(self, level: np.ndarray, *, lowest: bool) -> np.ndarray:
        """t where the piecewise-linear CDF reaches `level` (counts): the smallest such t if `lowest`, else the largest."""
        t, cum = self._cdf_points()
        w, bins = self.spec.width, self.spec.bins
        if lowest:
            k = np.clip(np.searchsorted(cum, level, side="left"), 1, bins)  # bin k-1 holds the crossing
            c = self.counts[k].astype(np.float64)
            frac = np.where(c > 0, (level - cum[k - 1]) / np.maximum(c, 1), 0.0)
            return t[k - 1] + w * np.clip(frac, 0.0, 1.0)
        k = np.clip(np.searchsorted(cum, level, side="right") - 1, 0, bins - 1)  # bin k holds the crossing
        c = self.counts[k + 1].astype(np.float64)
        frac = np.where(c > 0, (level - cum[k]) / np.maximum(c, 1), 1.0)
        return t[k] + w * np.clip(frac, 0.0, 1.0)

    def hdi(self, prob: float = 0.9) -> tuple[float, float]:
        """Narrowest interval holding `prob` of the draws, under the piecewise-linear CDF of the bins.

        The narrowest interval of a piecewise-linear CDF has an end on a bin edge, so every edge is
        tried as the left end and as the right end (Hyndman 1996, "Computing and graphing highest
        density regions", applied to the binned density).
        """
        t, cum = self._cdf_points()
        mass = float(math.floor(prob * self.n))
        if mass > cum[-1] - cum[0]:
            raise RuntimeError("the HDI reaches beyond the histogram's range (pilot too short for this tail); use exact summaries")
        x = self._from_t(t)
        candidates = []
        ok = cum + mass <= cum[-1]  # left end on an edge
        if ok.any():
            right = self._from_t(self._inverse(cum[ok] + mass, lowest=True))
            candidates.append((right - x[ok], x[ok], right))
        ok = cum - mass >= cum[0]  # right end on an edge
        if ok.any():
            left = self._from_t(self._inverse(cum[ok] - mass, lowest=False))
            candidates.append((x[ok] - left, left, x[ok]))
        width = np.concatenate([c[0] for c in candidates])
        lows = np.concatenate([c[1] for c in candidates])
        highs = np.concatenate([c[2] for c in candidates])
        i = int(np.argmin(width))
        return float(lows[i]), float(highs[i])

    def describe(self) -> dict[str, float]:
        """The `carbon_mc.summary.STATS` of this variable."""
        out = {"mean": self.mean(), "sd": self.sd()}
        out.update({name: self.quantile(q) for name, q in _QUANTILES.items()})
        out["hdi90_lower"], out["hdi90_upper"] = self.hdi(0.9)
        return out

    def resolution_attrs(self) -> dict:
        """Attributes documenting this histogram's resolution."""
        attrs = {"histogram_bins": self.spec.bins, "histogram_scale": "log" if self.spec.log else "linear"}
        if self.spec.log:
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
            return 100.0 * (1.0 if value > c else 0.5 if value == c else 0.0)
        return self.histograms[name].percentile_of(value)

    def reported_percentiles(self, reported: dict[str, float]) -> dict[str, dict[str, float]]:
        """For each published figure ``{variable: value}``, its value and percentile."""
        return {k: {"value": float(v), "percentile": self.percentile_of(k, v)} for k, v in reported.items()}

    def to_dataset(self) -> xr.Dataset:
        """A Dataset over ``stat`` shaped like `carbon_mc.summarize`'s, documenting the histograms."""
        names = [*self.histograms, *self.constants]
        stats = {k: self.describe(k) for k in names}
        var_attrs = {k: {**self.var_attrs.get(k, {}), **(self.histograms[k].resolution_attrs() if k in self.histograms else {})} for k in names}
        widths = [h.spec.relative_width for h in self.histograms.values() if h.spec.log]
        attrs = dict(self.attrs)
        attrs["summary_method"] = "streaming_histogram"
        attrs["summary_error"] = (
            "quantiles and HDI read from fixed histograms (carbon_mc.streaming): each within one bin of the exact "
            f"sample value; largest relative bin width {max(widths):.2e}" if widths else "fixed histograms (carbon_mc.streaming)"
        )
        attrs["pilot_draws"] = PILOT_DRAWS
        return summary_dataset(stats, var_attrs, attrs)
