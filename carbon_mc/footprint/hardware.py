"""Accelerator generations: the table by year, and log-linear trends with uncertainty.

`generation_table` gathers, per accelerator of priors/accelerators.toml, its year, dense peak
FLOP/s, TDP, memory, interconnect bandwidths and the median of its embodied-carbon prior, and the
two efficiency ratios that set the carbon of a FLOP: FLOP/s per watt (operational) and embodied
kgCO2e per PFLOP/s (embodied).

`fit_log_trend` fits ln(value) = a + b·(year − year₀) by ordinary least squares and keeps the
parameter covariance s²(XᵀX)⁻¹ and the residual scatter; `project_trend` draws a future
generation's value from the Student-t predictive distribution (parameter uncertainty plus the
scatter of generations around the trend). Reference for the method: any regression text, e.g.
Gelman et al., *Bayesian Data Analysis* (3rd ed.), §14.2 (noninformative-prior posterior of a
linear regression is Student-t with n − 2 degrees of freedom).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..priors import load_priors

# The NVIDIA data-centre flagship of each generation (SXM parts, dense BF16/FP16 peak).
NVIDIA_FLAGSHIPS = ("p100", "v100", "a100_80gb", "h100_sxm", "b200")
TREND_FIELDS = {
    "flop_per_s_per_w": ("FLOP s-1 W-1", "dense peak FLOP/s per watt of TDP"),
    "embodied_kgco2e_per_pflop_per_s": ("kg PFLOP-1 s", "median embodied kgCO2e per device per PFLOP/s of dense peak"),
}


def generation_table(hardware=None, *, priors=None) -> xr.Dataset:
    """The accelerator table by year as a Dataset over ``hardware`` (sorted by year).

    Args:
      hardware: keys of priors/accelerators.toml (default: `NVIDIA_FLAGSHIPS`).
      priors: a PriorTable (default: the bundled priors).
    """
    table = priors or load_priors()
    keys = list(hardware or NVIDIA_FLAGSHIPS)
    specs = [table.hardware_spec(k) for k in keys]
    order = np.argsort([s["year"] for s in specs], kind="stable")
    keys = [keys[i] for i in order]
    specs = [specs[i] for i in order]
    units = table.hardware_units
    data = {}
    for field in ("year", "peak_flop_per_s", "tdp_w", "memory_gb", "intra_node_gb_per_s", "inter_node_gb_per_s"):
        values = [float(s.get(field, np.nan)) for s in specs]
        data[field] = xr.Variable(("hardware",), np.array(values), {"units": units.get(field, "1"), "long_name": field.replace("_", " ")})
    embodied = []
    for k in keys:
        prior = table.select("embodied_kgco2e_per_device", {"hardware": k})
        embodied.append(float(prior.icdf(jnp.float32(0.5))))
    data["embodied_kgco2e_per_device"] = xr.Variable(("hardware",), np.array(embodied),
                                                     {"units": "kg", "long_name": "median embodied carbon per device (kg CO2e)"})
    peak = data["peak_flop_per_s"].values
    data["flop_per_s_per_w"] = xr.Variable(("hardware",), peak / data["tdp_w"].values,
                                           {"units": TREND_FIELDS["flop_per_s_per_w"][0],
                                            "long_name": TREND_FIELDS["flop_per_s_per_w"][1]})
    data["embodied_kgco2e_per_pflop_per_s"] = xr.Variable(
        ("hardware",), np.array(embodied) / (peak / 1.0e15),
        {"units": TREND_FIELDS["embodied_kgco2e_per_pflop_per_s"][0],
         "long_name": TREND_FIELDS["embodied_kgco2e_per_pflop_per_s"][1]},
    )
    names = [s["name"] for s in specs]
    return xr.Dataset(data, coords={"hardware": keys, "name": ("hardware", names)})


class TrendFit(NamedTuple):
    """ln(value) = intercept + slope·(year − reference_year), fitted by least squares."""

    quantity: str
    reference_year: float
    intercept: float
    slope: float  # per year, natural log
    covariance: np.ndarray  # (2, 2) of (intercept, slope)
    residual_sd: float
    dof: int

    @property
    def slope_sd(self) -> float:
        return float(np.sqrt(self.covariance[1, 1]))

    @property
    def doubling_years(self) -> float:
        """Years for the value to double (negative: halve) at the fitted rate."""
        return float(np.log(2.0) / self.slope)

    def predict_ln(self, year) -> tuple[np.ndarray, np.ndarray]:
        """Mean and predictive standard deviation of ln(value) in `year` (parameters + scatter)."""
        x = np.stack([np.ones_like(np.asarray(year, float)), np.asarray(year, float) - self.reference_year], -1)
        mean = x @ np.array([self.intercept, self.slope])
        var = np.einsum("...i,ij,...j->...", x, self.covariance, x) + self.residual_sd**2
        return mean, np.sqrt(var)


def fit_log_trend(years, values, *, quantity: str = "value") -> TrendFit:
    """Least-squares fit of ln(values) on year, with the parameter covariance s²(XᵀX)⁻¹.

    Needs at least three points (one residual degree of freedom).
    """
    y = np.log(np.asarray(values, dtype=np.float64))
    t = np.asarray(years, dtype=np.float64)
    if y.size < 3:
        raise ValueError("a trend with uncertainty needs at least three generations")
    ref = float(np.mean(t))
    X = np.stack([np.ones_like(t), t - ref], axis=1)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    dof = y.size - 2
    s2 = float(resid @ resid / dof)
    cov = s2 * np.linalg.inv(X.T @ X)
    return TrendFit(quantity, ref, float(beta[0]), float(beta[1]), cov, float(np.sqrt(s2)), dof)


def project_trend(rng_key, fit: TrendFit, year: float, num_draws: int):
    """Draws of the value in `year` from the Student-t predictive distribution of the fit.

    ln v = mean + sd · t_ν, ν = n − 2 (Gelman et al., BDA3, §14.2). Returns a jnp array (num_draws,).
    """
    mean, sd = fit.predict_ln(year)
    z = jax.random.t(rng_key, float(fit.dof), (num_draws,))
    return jnp.exp(jnp.float32(mean) + jnp.float32(sd) * z)


def generation_trends(table: xr.Dataset) -> dict[str, TrendFit]:
    """The two efficiency trends of a generation table: FLOP/s per watt, embodied kg per PFLOP/s."""
    years = table["year"].values
    return {name: fit_log_trend(years, table[name].values, quantity=name) for name in TREND_FIELDS}
