"""Power and energy of a training run. Pure jnp arithmetic; units in the names."""

from __future__ import annotations

WH_PER_MWH = 1.0e6


def accelerator_power_w(tdp_w, accelerator_power_tdp_fraction):
    """Average accelerator power during training, as a fraction of its TDP.

    Reference: Patterson et al. 2021, arXiv:2104.10350, Tables 3–4 (measured average power vs TDP).
    """
    return tdp_w * accelerator_power_tdp_fraction


def it_energy_mwh(device_hours, accelerator_power_w, server_power_w_per_device):
    """IT energy: device-hours × (accelerator power + non-accelerator server power per device).

    Reference: Patterson et al. 2021, arXiv:2104.10350, §2 (hours × processors × average power);
    Luccioni et al. 2022, arXiv:2211.02001 (dynamic GPU energy, plus host and idle power).
    """
    return device_hours * (accelerator_power_w + server_power_w_per_device) / WH_PER_MWH


def accelerator_energy_mwh(device_hours, accelerator_power_w):
    """Energy of the accelerators alone (no host, no PUE): device-hours × accelerator power.

    What GPU telemetry measures (nvidia-smi, DCGM). Reference: Dodge et al. 2022, arXiv:2206.05229,
    §3 (GPU energy only); Morrison et al. 2025, arXiv:2503.05804, §3 (GPU power, a lower bound).
    """
    return device_hours * accelerator_power_w / WH_PER_MWH


def facility_energy_mwh(it_energy_mwh, pue):
    """Facility energy: IT energy × power usage effectiveness (PUE).

    Reference: The Green Grid, White Paper 49, "PUE: a comprehensive examination of the metric" (2012).
    """
    return it_energy_mwh * pue
