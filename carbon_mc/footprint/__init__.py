"""The physics: one small pure jnp function per equation, composed by `carbon_footprint`."""

from . import compute, emissions, energy
from .model import HEADLINE, OUTPUTS, WITHOUT_PUE, RunConstants, carbon_footprint, derived_device_hours, energy_and_emissions, energy_on_scopes

__all__ = ["HEADLINE", "OUTPUTS", "WITHOUT_PUE", "RunConstants", "carbon_footprint", "derived_device_hours", "energy_and_emissions", "energy_on_scopes", "compute", "emissions", "energy"]
