"""Operational and embodied emissions. Pure jnp arithmetic; units in the names."""

from __future__ import annotations

HOURS_PER_YEAR = 8766.0  # 365.25 days
KG_PER_TONNE = 1000.0


def operational_tco2e(energy_mwh, grid_gco2_per_kwh):
    """Operational emissions: energy × grid carbon intensity.

    MWh × g/kWh = kg; / 1000 gives tonnes. Reference: Patterson et al. 2021, arXiv:2104.10350, §2
    (tCO2e = MWh × tCO2e per MWh); GHG Protocol Scope 2 Guidance (2015) for location-based factors.
    """
    return energy_mwh * grid_gco2_per_kwh / KG_PER_TONNE


def embodied_kgco2e_per_device_total(embodied_kgco2e_per_device, embodied_kgco2e_per_server, devices_per_server):
    """Manufacturing carbon charged to one accelerator slot: its own plus its share of the server."""
    return embodied_kgco2e_per_device + embodied_kgco2e_per_server / devices_per_server


def embodied_tco2e(device_hours, embodied_kgco2e_per_slot, service_life_years, lifetime_utilization_fraction):
    """Embodied emissions amortised over the hardware's service life and busy share of it.

    E_run = E_total × device-hours / (life × 8766 h × utilisation). Reference: Faiz et al. 2024
    (LLMCarbon), arXiv:2309.14393, embodied-carbon eq.; Luccioni et al. 2022, arXiv:2211.02001
    (6-year life at 85% utilisation for BLOOM).
    """
    busy_hours = service_life_years * HOURS_PER_YEAR * lifetime_utilization_fraction
    return device_hours * embodied_kgco2e_per_slot / busy_hours / KG_PER_TONNE


def total_tco2e(operational_tco2e, embodied_tco2e):
    """Total footprint of the run: operational plus embodied."""
    return operational_tco2e + embodied_tco2e
