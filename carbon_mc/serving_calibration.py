"""Moved to `carbon_mc.calibration.serving`; this name stays for code that followed earlier READMEs."""

from .calibration.serving import *
from .calibration.serving import __all__  # noqa: F401
