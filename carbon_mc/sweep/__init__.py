"""Carbon against model quality: a sweep over model sizes (or compute budgets) and accelerator generations.

`scaling_sweep` (module `run`) joins the four CarbonScaling modules; `carbon_exponents` (`fits`) fits
the power laws per draw; `megatron_check` tests the parallelism module against Megatron-LM's table.
Modules: `quantities` (what is drawn and returned), `plan` (settings, nominal run, devices, batches),
`evaluate` (the jitted per-draw evaluation), `run`, `fits`, `megatron`.
"""

from .fits import carbon_exponents, loglog_fit
from .megatron import megatron_check
from .quantities import (
                         CORE_QUANTITIES,
                         CRITICAL_BATCH_QUANTITIES,
                         EXPERT_QUANTITIES,
                         LAYOUT_OUTPUTS,
                         PARALLELISM_QUANTITIES,
                         SCALING_QUANTITIES,
                         SWEEP_OUTPUTS,
)
from .run import scaling_sweep

__all__ = ["CORE_QUANTITIES", "CRITICAL_BATCH_QUANTITIES", "EXPERT_QUANTITIES", "LAYOUT_OUTPUTS", "PARALLELISM_QUANTITIES", "SCALING_QUANTITIES",
           "SWEEP_OUTPUTS", "carbon_exponents", "loglog_fit", "megatron_check", "scaling_sweep"]
