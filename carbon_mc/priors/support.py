"""Physical bounds as data: each quantity's admissible support, and the float32 range of inputs.

Every quantity in ``priors/*.toml`` (bundled, overlay) declares ``support``: ``{ low = 1.0 }``
(inclusive), ``above = 0.0`` (exclusive) and ``high = 1.0`` (inclusive), or ``{}`` for a quantity
that may take any real value (a logarithm); a joint prior declares one per component
(``support = { components = { alpha = { above = 0.0 }, ln_a = {} } }``). A quantity without one is
refused when the priors are loaded. Every prior of that quantity, bundled, from an overlay or
from a scenario's ``[priors]``, must keep every draw the engine can make inside: a fixed value inside
the bounds, a bounded family (uniform, triangular, truncated normal) with both ends inside, and a
family with unbounded tails (normal, lognormal) with its quantiles at the samplers' extreme uniforms
(2^-24 and 1 - 2^-24) inside. Otherwise the prior is refused, naming the truncation that would fix
it: nothing is truncated silently. A joint (multivariate normal) prior is checked component by component, on each normal marginal.

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
JOINT_KEY = "components"


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
    components: tuple[tuple[str, Support], ...] = ()  # a joint prior's: (component, its support)

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
        return any(v is not None for v in (self.low, self.above, self.high)) or any(c.bounded for _, c in self.components)

    def contains(self, x: float) -> bool:
        return (
            math.isfinite(x)
            and (self.low is None or x >= self.low)
            and (self.above is None or x > self.above)
            and (self.high is None or x <= self.high)
        )

    def problem(self, family: str, params, spec) -> str | None:
        """Why a prior's draws could leave this support (one sentence), or None when none can.

        The engine draws every prior at uniforms in [2^-24, 1 - 2^-24], so a family with unbounded
        tails (normal, lognormal) reaches only its quantiles there: it is accepted when those lie
        inside the bounds, and otherwise refused with the explicit truncation that would fix it.
        """
        if not self.bounded:
            return None
        if family == "multivariate_normal":
            return self._joint_problem(spec)
        if self.components:
            return f"a support by components is for a joint prior, not a {family} one"
        ends = prior_range(family, params, spec)
        if ends is None:
            return (f"a {family} prior has no per-quantity bounds, but this quantity must be {self.describe()}; "
                    "use a bounded family (truncated_normal with low/high, triangular, uniform, lognormal)")
        lo, hi = ends
        if family == "fixed":
            return None if self.contains(lo) else f"value {lo:g} is outside the quantity's support ({self.describe()})"
        tails = family in ("normal", "lognormal") or (family == "truncated_normal" and ("low" not in params or "high" not in params))
        low_bad = (self.low is not None and lo < self.low) or (self.above is not None and lo <= self.above)
        high_bad = self.high is not None and hi > self.high
        if not (low_bad or high_bad):
            return None
        edge = f"its draws reach {lo:g}" if low_bad else f"its draws reach {hi:g}"
        message = f"{edge}, outside the quantity's physical bounds ({self.describe()})"
        if tails:
            fix = ([f"low = {self.low:g}" if self.low is not None else f"low above {self.above:g}"] if low_bad else []) + (
                [f"high = {self.high:g}"] if high_bad else [])
            message += f"; truncate it explicitly (truncated_normal with {' and '.join(fix)})"
        return message


    def _joint_problem(self, spec) -> str | None:
        """Why a joint normal prior's draws could leave a component's support, or None."""
        names = spec["components"]
        declared = dict(self.components)
        if not declared:
            return "a joint prior needs its support by component: support = { components = { name = { ... }, ... } }"
        if set(declared) != set(names):
            missing, extra = sorted(set(names) - set(declared)), sorted(set(declared) - set(names))
            return (f"the support must name every component of the joint prior ({', '.join(names)}; give {{}} for an "
                    f"unbounded one): missing {', '.join(missing) or 'none'}, unknown {', '.join(extra) or 'none'}")
        for i, name in enumerate(names):
            sd = math.sqrt(spec["cov"][i][i])
            problem = declared[name].problem("normal", {"loc": spec["mean"][i], "scale": sd}, None)
            if problem is not None:
                return f"component {name}: {problem.split('; truncate')[0]}"
        return None


def prior_range(family: str, params, spec) -> tuple[float, float] | None:
    """(lowest, highest) value the engine can draw from a scalar prior; None for a joint one.

    Bounded families give their bounds; unbounded tails give their quantiles at the samplers'
    extreme uniforms 2^-24 and 1 - 2^-24 (z = -/+5.3267, rounded outwards).
    """
    if family == "fixed":
        v = float(params["value"])
        return v, v
    if family in ("uniform", "triangular"):
        return float(params["low"]), float(params["high"])
    if family == "truncated_normal":
        loc, scale = float(params["loc"]), float(params["scale"])
        return float(params.get("low", loc - _Z_EDGE * scale)), float(params.get("high", loc + _Z_EDGE * scale))
    if family == "normal":
        loc, scale = float(params["loc"]), float(params["scale"])
        return loc - _Z_EDGE * scale, loc + _Z_EDGE * scale
    if family == "lognormal":
        mu, sigma = math.log(spec["median"]), spec["sigma"]
        return math.exp(max(mu - _Z_EDGE * sigma, -700.0)), math.exp(min(mu + _Z_EDGE * sigma, 700.0))
    return None


def check_draw_range(family: str, spec) -> None:
    """ValueError when the prior's draws (uniforms in [2^-24, 1 - 2^-24]) would leave float32's usable range.

    `spec` is the family's validated parameters (`carbon_mc.priors.families.check_params`).
    """
    if family == "lognormal":
        mu, sigma = math.log(spec["median"]), spec["sigma"]
        if mu + _Z_EDGE * sigma > math.log(INPUT_MAX) or mu - _Z_EDGE * sigma < math.log(INPUT_MIN):
            raise ValueError(f"its draws would span {math.exp(max(min(mu - _Z_EDGE * sigma, 700), -700)):.3g} to "
                             f"{math.exp(min(mu + _Z_EDGE * sigma, 700)):.3g}, beyond the float32 engine's range "
                             f"({INPUT_MIN:g} to {INPUT_MAX:g})")
    elif family == "normal":
        loc, scale = spec["loc"], spec["scale"]
        if abs(loc) + _Z_EDGE * scale > INPUT_MAX:
            raise ValueError(f"its draws would reach {abs(loc) + _Z_EDGE * scale:.3g}, beyond the float32 engine's range "
                             f"(magnitude up to {INPUT_MAX:g})")


def parse_support(value, *, file: str, key: str) -> Support | None:
    """The ``support`` table of a quantity, type-checked; None when absent."""
    if value is None:
        return None
    if isinstance(value, dict) and JOINT_KEY in value:
        if set(value) != {JOINT_KEY} or not isinstance(value[JOINT_KEY], dict):
            raise InputError("a joint support is { components = { name = { low/above/high }, ... } } and nothing else",
                             file=file, key=key)
        parts = []
        for name, bounds in value[JOINT_KEY].items():
            part = parse_support(bounds, file=file, key=f"{key}.{JOINT_KEY}.{name}")
            parts.append((name, part or Support()))
        return Support(components=tuple(parts))
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
