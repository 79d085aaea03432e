"""A model's life: training once, then serving it. Pure jnp arithmetic on arrays of draws.

Inputs are outputs of the two footprints: `total_tco2e` of `carbon_footprint` (training) and
`total_kgco2e_per_day` or `total_gco2e_per_request` of `serving_footprint`. Drawing the two with
common inputs (grid, PUE, embodied priors) keeps their correlation; independent draws are also
valid, as the formulas are per draw.
"""

from __future__ import annotations

KG_PER_TONNE = 1.0e3
G_PER_TONNE = 1.0e6


def serving_tco2e(serving_kgco2e_per_day, days):
    """CO2e of serving for `days` days (kg per day -> t)."""
    return serving_kgco2e_per_day * days / KG_PER_TONNE


def lifecycle_tco2e(training_tco2e, serving_kgco2e_per_day, days):
    """CO2e of training a model once and serving it for `days` days (t).

    Reference for the accounting (training and deployment of one model as one life cycle): Luccioni,
    Viguier & Ligozat 2022, arXiv:2211.02001, §4-5; Wu et al. 2021, arXiv:2111.00364, §III.
    """
    return training_tco2e + serving_tco2e(serving_kgco2e_per_day, days)


def training_share_fraction(training_tco2e, serving_kgco2e_per_day, days):
    """Share of the life-cycle CO2e that is training; serving's share is 1 minus this."""
    return training_tco2e / lifecycle_tco2e(training_tco2e, serving_kgco2e_per_day, days)


def break_even_days(training_tco2e, serving_kgco2e_per_day):
    """Days of serving whose emissions equal the training's: training / serving per day."""
    return training_tco2e * KG_PER_TONNE / serving_kgco2e_per_day


def break_even_requests(training_tco2e, serving_gco2e_per_request):
    """Requests whose serving emissions equal the training's (t -> g)."""
    return training_tco2e * G_PER_TONNE / serving_gco2e_per_request


def lifecycle_footprint(training: dict, serving: dict, days) -> dict:
    """Life-cycle outputs from a training footprint and a serving footprint (dicts of arrays).

    Args:
      training: needs ``total_tco2e`` (from `carbon_footprint`).
      serving: needs ``total_kgco2e_per_day`` and ``total_gco2e_per_request`` (from `serving_footprint`).
      days: how long the model is served (scalar or array of draws).
    """
    t = training["total_tco2e"]
    per_day = serving["total_kgco2e_per_day"]
    return {
        "training_tco2e": t,
        "serving_tco2e": serving_tco2e(per_day, days),
        "lifecycle_tco2e": lifecycle_tco2e(t, per_day, days),
        "training_share_fraction": training_share_fraction(t, per_day, days),
        "serving_share_fraction": 1.0 - training_share_fraction(t, per_day, days),
        "break_even_days": break_even_days(t, per_day),
        "break_even_requests": break_even_requests(t, serving["total_gco2e_per_request"]),
    }


LIFECYCLE_OUTPUTS = {
    "training_tco2e": ("t", "training emissions, total (t CO2e)"),
    "serving_tco2e": ("t", "serving emissions over the period, total (t CO2e)"),
    "lifecycle_tco2e": ("t", "training plus serving emissions (t CO2e)"),
    "training_share_fraction": ("1", "share of life-cycle emissions from training"),
    "serving_share_fraction": ("1", "share of life-cycle emissions from serving"),
    "break_even_days": ("d", "days of serving that emit as much as the training"),
    "break_even_requests": ("1", "requests whose serving emits as much as the training"),
}
