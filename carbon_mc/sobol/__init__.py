"""Global sensitivity analysis: which uncertain input drives the spread of a footprint.

Sobol' first-order (S1) and total-order (ST) indices, optionally second order, from a Saltelli
design drawn through each prior's inverse CDF, with bootstrap confidence intervals:

    ds = carbon_mc.sensitivity("gpt3_175b", output="total_tco2e", num_base=2**14, seed=0)

Modules: `design` (Sobol' points, cross matrices in SALib's row order, groups), `estimators`
(pure jnp estimators and the vectorised bootstrap), `analyze` (the entry points and the Dataset),
`functions` (analytic test functions with known indices).

The package is `carbon_mc.sobol` (SALib's naming: the method, sample and analyze mirrored), so that
the function ``carbon_mc.sensitivity`` shadows no module: ``import carbon_mc.sobol.design`` works.
"""

from .analyze import DEFAULT_NUM_BASE, analyze_evaluations, check_num_base, ranking, sensitivity, sobol_indices
from .design import Grouping, base_points, resolve_groups, saltelli_matrix, split_evaluations

__all__ = [
    "DEFAULT_NUM_BASE",
    "Grouping",
    "analyze_evaluations",
    "base_points",
    "check_num_base",
    "ranking",
    "resolve_groups",
    "saltelli_matrix",
    "sensitivity",
    "sobol_indices",
    "split_evaluations",
]
