"""Physical bounds as data: each quantity's admissible support, and the float32 range of inputs.

A quantity in ``priors/*.toml`` may carry ``support = { low = 1.0 }`` (inclusive), ``above = 0.0``
(exclusive) and ``high = 1.0`` (inclusive). Every prior of that quantity, bundled, from an overlay or
from a scenario's ``[priors]``, must keep all its mass inside: a fixed value inside the bounds, a
bounded family (uniform, triangular, truncated normal, lognormal's (0, inf)) with both ends inside.
A family whose support is the whole real line (normal, multivariate normal) is rejected for a
bounded quantity, with the truncation that would fix it: nothing is truncated silently.

The engine computes in float32 (largest finite value 3.4e38). The chain multiplies inputs (FLOPs by
seconds by watts by grams per kWh), so every number a user gives must lie within
[`INPUT_MIN`, `INPUT_MAX`] in magnitude (or be 0); draws that still leave float32's range are
caught afterwards as non-finite (`carbon_mc.finite`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError, shown

INPUT_MAX = 1e30  # |x| above this leaves no float32 headroom for the chain's products (3.4e38 / 1e8)
INPUT_MIN = 1e-30  # nonzero |x| below this underflows to zero or a denormal in products (float32 tiny 1.2e-38)
_U_EDGE = 2.0**-24  # the samplers' uniforms lie in [2^-24, 1 - 2^-24]
_Z_EDGE = 5.3267  # standard normal quantile of 1 - 2^-24, rounded up
SUPPORT_KEYS = ("low", "above", "high")


def check_magnitude(value: float, what: str = "value") -> float:
    """`value` if 0 or inside float32's usable range, else the bound in one sentence (ValueError)."""
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    if abs(value) > INPUT_MAX or (value != 0 and abs(value) < INPUT_MIN):
        raise ValueError(
            f"{what} = {value:g} is outside the range the float32 engine can carry through the chain "
            f"(magnitude between {INPUT_MIN:g} and {INPUT_MAX:g}, or 0)"
        )
    return value


@dataclass(frozen=True)
class Support:
    """Admissible values of a quantity: ``low <= x`` (or ``above < x``) and ``x <= high``; None = unbounded."""

    low: float | None = None
    above: float | None = None
    high: float | None = None

    def describe(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f">= {self.low:g}")
        if self.above is not None:
            parts.append(f"> {self.above:g}")
        if self.high is not None:
            parts.append(f"<= {self.high:g}")
        return " and ".join(parts) or "any real number"

    @property
    def bounded(self) -> bool:
        return any(v is not None for v in (self.low, self.above, self.high))

    def contains(self, x: float) -> bool:
        return (
            math.isfinite(x)
            and (self.low is None or x >= self.low)
            and (self.above is None or x > self.above)
            and (self.high is None or x <= self.high)
        )

    def problem(self, family: str, params, distribution) -> str | None:
        """Why a prior leaves this support (one sentence), or None when all its mass is inside."""
        if not self.bounded:
            return None
        ends = prior_range(family, params, distribution)
        if ends is None:
            return (f"a {family} prior has no bounded support, but this quantity must be {self.describe()}; "
                    "use a bounded family (truncated_normal with low/high, triangular, uniform, lognormal)")
        lo, lo_open, hi = ends
        if family == "fixed":
            return None if self.contains(lo) else f"value {lo:g} is outside the quantity's support ({self.describe()})"
        need_low = lo == -math.inf and (self.low is not None or self.above is not None)
        need_high = hi == math.inf and self.high is not None
        if need_low or need_high:
            fix = ([f"low = {self.low:g}" if self.low is not None else f"low above {self.above:g}"] if need_low else []) + (
                [f"high = {self.high:g}"] if need_high else [])
            return (f"a {family} prior is unbounded, but this quantity must be {self.describe()}; "
                    f"truncate it explicitly (truncated_normal with {' and '.join(fix)})")
        if self.low is not None and lo < self.low:
            return f"its support starts at {lo:g}, below the quantity's bound ({self.describe()})"
        if self.above is not None and (lo < self.above or (lo == self.above and not lo_open)):
            return f"its support starts at {lo:g}, which the quantity excludes ({self.describe()})"
        if self.high is not None and hi > self.high:
            return f"its support reaches {hi:g}, above the quantity's bound ({self.describe()})"
        return None


def prior_range(family: str, params, distribution) -> tuple[float, bool, float] | None:
    """(lowest value, whether it is excluded, highest value) of a scalar prior; None for a joint one."""
    if family == "fixed":
        v = float(params["value"])
        return v, False, v
    if family in ("uniform", "triangular"):
        return float(params["low"]), False, float(params["high"])
    if family == "truncated_normal":
        return float(params.get("low", -math.inf)), False, float(params.get("high", math.inf))
    if family == "lognormal":
        return 0.0, True, math.inf
    if family == "normal":
        return -math.inf, False, math.inf
    return None


def check_draw_range(family: str, distribution) -> None:
    """ValueError when the prior's draws (uniforms in [2^-24, 1 - 2^-24]) would leave float32's usable range."""
    if family == "lognormal":
        mu, sigma = float(distribution.base_dist.loc), float(distribution.base_dist.scale)
        if mu + _Z_EDGE * sigma > math.log(INPUT_MAX) or mu - _Z_EDGE * sigma < math.log(INPUT_MIN):
            raise ValueError(f"its draws would span {math.exp(max(min(mu - _Z_EDGE * sigma, 700), -700)):.3g} to "
                             f"{math.exp(min(mu + _Z_EDGE * sigma, 700)):.3g}, beyond the float32 engine's range "
                             f"({INPUT_MIN:g} to {INPUT_MAX:g})")
    elif family == "normal":
        loc, scale = float(distribution.loc), float(distribution.scale)
        if abs(loc) + _Z_EDGE * scale > INPUT_MAX:
            raise ValueError(f"its draws would reach {abs(loc) + _Z_EDGE * scale:.3g}, beyond the float32 engine's range "
                             f"(magnitude up to {INPUT_MAX:g})")


def parse_support(value, *, file: str, key: str) -> Support | None:
    """The ``support`` table of a quantity, type-checked; None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InputError(f"must be a table such as {{ low = 1.0 }}, got {shown(value)}", file=file, key=key)
    bounds = {}
    for name, bound in value.items():
        if name not in SUPPORT_KEYS:
            raise InputError(f"unknown bound {shown(name)}; valid: low (>=), above (>), high (<=)", file=file, key=key)
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
            raise InputError(f"{name} must be a finite number, got {shown(bound)}", file=file, key=key)
        bounds[name] = float(bound)
    if "low" in bounds and "above" in bounds:
        raise InputError("give low (>=) or above (>), not both", file=file, key=key)
    support = Support(**bounds)
    lower = bounds.get("low", bounds.get("above"))
    if lower is not None and "high" in bounds and not lower < bounds["high"]:
        raise InputError(f"empty support ({support.describe()})", file=file, key=key)
    return support
