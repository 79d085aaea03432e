"""The outputs of the training chain as data: units and long names (CF attributes), the headline set.

Plain Python, no JAX: the command line and the unit conversions read it without importing the physics.
"""

from __future__ import annotations

from typing import NamedTuple


class Output(NamedTuple):
    units: str
    long_name: str


OUTPUTS: dict[str, Output] = {
    "train_flop": Output("FLOP", "training compute"),
    "flops_overhead_fraction": Output("1", "training FLOPs per token beyond 6N (attention and logits), as a fraction of 6N"),
    "device_hours": Output("h", "accelerator-hours of the run"),
    "wall_clock_days": Output("d", "wall-clock duration of the run"),
    "implied_mfu_fraction": Output("1", "model FLOP utilization implied by compute and device time"),
    "accelerator_power_w": Output("W", "average accelerator power during training"),
    "it_energy_mwh": Output("MWh", "IT energy (accelerators and servers, before PUE)"),
    "accelerator_energy_mwh": Output("MWh", "energy of the accelerators alone (no host, no PUE)"),
    "codecarbon_energy_mwh": Output("MWh", "energy of CPUs, GPUs and RAM (CodeCarbon's scope: no fans, NICs, PSU losses, no PUE)"),
    "accelerator_facility_energy_mwh": Output("MWh", "energy of the accelerators alone times PUE (no host)"),
    "energy_mwh": Output("MWh", "facility energy (IT energy times PUE)"),
    "operational_tco2e": Output("t", "operational emissions (t CO2e)"),
    "accelerator_operational_tco2e": Output("t", "operational emissions of the accelerators' energy alone (no host, no PUE; t CO2e)"),
    "embodied_tco2e": Output("t", "embodied emissions charged to the run (t CO2e)"),
    "total_tco2e": Output("t", "total emissions, operational plus embodied (t CO2e)"),
    "tokens": Output("1", "training tokens derived from a target loss or a compute budget"),
    "loss_nats": Output("1", "pre-training loss L(N, D) from the loss law, nats per token"),
    "reducible_loss_nats": Output("1", "reducible loss L - E from the loss law, nats per token"),
}
HEADLINE = ("energy_mwh", "operational_tco2e", "embodied_tco2e", "total_tco2e")
# Energy and emissions outputs that never include the data centre's overhead, whatever the accounting.
WITHOUT_PUE = ("it_energy_mwh", "accelerator_energy_mwh", "accelerator_operational_tco2e", "codecarbon_energy_mwh")
