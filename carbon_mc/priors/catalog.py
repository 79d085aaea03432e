"""What the prior table and the bundled scenarios offer, as plain rows for `carbon-mc list`.

Each function returns a list of JSON-ready dicts (one per accelerator, variant or scenario) with
units, year and source, so the CLI can print them as a table or as JSON.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from . import Prior, PriorTable

KINDS = ("hardware", "regions", "datacenters", "scenarios", "priors")
INTERVAL = (0.05, 0.5, 0.95)  # the quantiles shown for a prior: 90% interval and median


def prior_quantiles(prior: Prior) -> tuple[float, float, float] | None:
    """(p5, median, p95) of a scalar prior; None for a joint prior.

    Computed with SciPy from the NumPyro distribution's own parameters (a listing of 140 priors
    would spend seconds dispatching JAX ops one by one); a family SciPy does not mirror here goes
    through the prior's JAX inverse CDF. tests/test_catalog.py checks both agree on every bundled prior.
    """
    if prior.components:
        return None
    if prior.is_fixed:
        value = prior.fixed_value
        return value, value, value
    frozen = scipy_distribution(prior.distribution)
    if frozen is not None:
        p5, p50, p95 = (float(v) for v in frozen.ppf(INTERVAL))
        return p5, p50, p95
    return jax_quantiles(prior)


def jax_quantiles(prior: Prior) -> tuple[float, float, float]:
    """(p5, median, p95) through the prior's own (float32) inverse CDF."""
    import jax.numpy as jnp
    import numpy as np

    values = np.asarray(prior.icdf(jnp.asarray(INTERVAL, dtype=jnp.float32)), dtype=float)
    p5, p50, p95 = (float(v) for v in values)
    return p5, p50, p95


def scipy_distribution(d):
    """The frozen SciPy twin of a NumPyro distribution used by the priors, or None."""
    import numpy as np
    from numpyro import distributions as nd
    from scipy import stats

    from .distributions import Triangular

    f = lambda x: float(np.asarray(x))  # noqa: E731
    if isinstance(d, nd.LogNormal):
        return stats.lognorm(s=f(d.scale), scale=np.exp(f(d.loc)))
    if isinstance(d, nd.Normal):
        return stats.norm(f(d.loc), f(d.scale))
    if isinstance(d, nd.Uniform):
        return stats.uniform(f(d.low), f(d.high) - f(d.low))
    if isinstance(d, Triangular):
        low, peak, high = f(d.low), f(d.peak), f(d.high)
        return stats.triang((peak - low) / (high - low), loc=low, scale=high - low)
    truncated = (nd.TwoSidedTruncatedDistribution, nd.LeftTruncatedDistribution, nd.RightTruncatedDistribution)
    if isinstance(d, truncated) and isinstance(d.base_dist, nd.Normal):
        loc, scale = f(d.base_dist.loc), f(d.base_dist.scale)
        low = f(d.low) if hasattr(d, "low") else -np.inf
        high = f(d.high) if hasattr(d, "high") else np.inf
        return stats.truncnorm((low - loc) / scale, (high - loc) / scale, loc=loc, scale=scale)
    return None


def variant_row(prior: Prior, origin: str | None = None) -> dict:
    """One variant of a quantity: distribution, params, median and 90% interval, units, year, source."""
    q = prior_quantiles(prior)
    row: dict[str, Any] = {
        "quantity": prior.quantity,
        "variant": prior.variant,
        "distribution": prior.family,
        "params": dict(prior.params),
        "median": q[1] if q else None,
        "p5": q[0] if q else None,
        "p95": q[2] if q else None,
        "units": prior.units,
        "year": prior.year,
        "source": prior.source,
    }
    if prior.components:
        row["components"] = list(prior.components)
    if origin is not None:
        row["file"] = origin
    return row


def quantity_rows(table: PriorTable, quantity: str) -> list[dict]:
    """Every variant of `quantity`, sorted by name."""
    q = table.quantity(quantity)
    return [variant_row(q.variants[v], table.origins.get(f"{quantity}.{v}")) for v in sorted(q.variants)]


def prior_rows(table: PriorTable) -> list[dict]:
    """Every variant of every quantity, with the selector that picks it."""
    rows = []
    for name in sorted(table.quantities):
        for row in quantity_rows(table, name):
            rows.append({**row, "selected_by": table.quantities[name].selected_by})
    return rows


OPTIONAL_FACTS = ("peak_fp8_flop_per_s", "peak_int8_op_per_s", "peak_fp32_flop_per_s", "cores", "intra_node_gb_per_s",
                  "inter_node_gb_per_s")


def hardware_rows(table: PriorTable) -> list[dict]:
    """Every accelerator: datasheet facts with their units, the classes that pick its priors, source."""
    units = table.hardware_units
    rows = []
    for key in sorted(table.hardware):
        spec = table.hardware[key]
        row = {"key": key, "name": spec["name"], "vendor": spec["vendor"], "year": spec["year"]}
        for fname in ("tdp_w", "peak_flop_per_s", "memory_gb", "devices_per_server"):
            row[fname] = spec[fname]
        for fname in OPTIONAL_FACTS:  # FP8/INT8/FP32 peaks, cores, scale-up/out bandwidth: where the device has them
            if fname in spec:
                row[fname] = spec[fname]
        row["units"] = {f: units[f] for f in ("tdp_w", "peak_flop_per_s", "memory_gb", "devices_per_server", *OPTIONAL_FACTS)
                        if f in units and f in row}
        row.update({c: spec[c] for c in ("power_class", "mfu_class", "server_class")})
        row["source"] = spec["source"]
        if f"hardware.{key}" in table.origins:
            row["file"] = table.origins[f"hardware.{key}"]
        rows.append(row)
    return rows


def scenario_rows(models_dir: str | Path) -> list[dict]:
    """Every scenario TOML in `models_dir` and its ``serving/``: name, kind (training or serving), hardware,
    where it ran, what was reported, source.

    Read as plain TOML (not validated), so a listing never fails on one broken file; `carbon-mc run`
    validates a scenario when it is used.
    """
    rows = []
    paths = sorted(Path(models_dir).glob("*.toml")) + sorted((Path(models_dir) / "serving").glob("*.toml"))
    for path in paths:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
        run, reported = doc.get("run", doc.get("serving", {})), doc.get("reported", {})
        rows.append({
            "scenario": path.stem,
            "kind": "serving" if "serving" in doc else "training",
            "name": run.get("name"),
            "hardware": run.get("hardware"),
            "region": run.get("region", _number(run, "grid_gco2_per_kwh", "g/kWh")),
            "datacenter": run.get("datacenter", _number(run, "pue", "")),
            "year": run.get("year"),
            "reported": _reported(reported),
            "claims": len(doc.get("claims", [])),
            "source": run.get("source"),
        })
    return rows


def _number(run: dict, key: str, units: str) -> str | None:
    return f"{key} = {run[key]:g}{(' ' + units) if units else ''}" if key in run else None


def _reported(block: dict) -> str | None:
    parts = []
    if "energy_mwh" in block:
        parts.append(f"{block['energy_mwh']:g} MWh ({block.get('energy_scope', 'facility')})")
    if "co2e_t" in block:
        parts.append(f"{block['co2e_t']:g} t CO2e ({block.get('co2e_scope', 'operational')})")
    if parts and "basis" in block:
        parts.append(str(block["basis"]))
    return ", ".join(parts) or None


def rows_for(kind: str, table: PriorTable, models_dir: str | Path) -> list[dict]:
    """The rows of one listing `kind` (see `KINDS`)."""
    if kind == "hardware":
        return hardware_rows(table)
    if kind == "regions":
        return quantity_rows(table, "grid_gco2_per_kwh")
    if kind == "datacenters":
        return quantity_rows(table, "pue")
    if kind == "scenarios":
        return scenario_rows(models_dir)
    if kind == "priors":
        return prior_rows(table)
    raise ValueError(f"unknown listing {kind!r}")
