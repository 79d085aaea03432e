"""A result as an ArviZ object: the draws in a ``prior`` group on (chain, draw), constants as scalars.

carbon-mc's draws come from the priors (nothing is conditioned on data), so ArviZ's convention
files them under ``prior``; ``az.summary``, ``az.hdi``, ``az.plot_dist``/``az.plot_posterior`` and
``to_netcdf`` then work on the object directly (pass ``group="prior"`` where a function defaults
to the posterior). A Monte Carlo estimate is one chain.

What goes where:
  - ``prior``: every drawn input and every output that varies, on ``(chain, draw)`` (plus a
    component dimension for jointly drawn inputs). The values are the Dataset's own float32
    arrays, bit for bit.
  - ``constant_data``: inputs fixed to one value and outputs that do not vary across draws (e.g.
    ``device_hours`` when the scenario gives it), each stored once as a scalar, not once per draw.
  - attributes: the Dataset's provenance (CF/ACDD ``source``, ``history``, ``date_created``, the
    scenario's TOML text, every prior used with its source) on every group and on the root.

ArviZ 0.x returns an ``arviz.InferenceData``; ArviZ 1.x (whose objects are ``xarray.DataTree``)
returns a DataTree with the same groups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # callers hand in a Dataset, so xarray is loaded by then; importing this module does not load it
    import xarray as xr

__all__ = ["arviz_major_version", "split_constants", "to_inference_data"]


def arviz_major_version() -> int:
    """The installed ArviZ's major version (0 for the 0.x series, 1 for the DataTree-based 1.x)."""
    import arviz

    return int(arviz.__version__.split(".")[0])


def _is_constant(variable: xr.DataArray) -> bool:
    if "draw" not in variable.dims:
        return True
    values = variable.values
    first = values[:1]
    return bool(np.all(values == first)) if values.size else False


def split_constants(ds: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset]:
    """(drawn, constants): the variables of `ds` that vary over ``draw``, and the others as scalars."""
    import xarray as xr

    drawn, constants = {}, {}
    for name, variable in ds.data_vars.items():
        if _is_constant(variable):
            value = variable.isel(draw=0, drop=True) if "draw" in variable.dims else variable
            constants[name] = value.variable
        else:
            drawn[name] = variable.variable
    coords = {k: v for k, v in ds.coords.items() if k != "draw"}
    const_coords = {k: v for k, v in coords.items() if any(k in c.dims for c in constants.values())}
    drawn_coords = {k: v for k, v in coords.items() if any(k in d.dims for d in drawn.values())}
    drawn_coords["draw"] = ds["draw"].values
    return (xr.Dataset(drawn, coords=drawn_coords, attrs=ds.attrs),
            xr.Dataset(constants, coords=const_coords, attrs=ds.attrs))


def _prior_group(drawn: xr.Dataset) -> xr.Dataset:
    """`drawn` with a leading ``chain`` dimension of length 1 (one Monte Carlo chain)."""
    prior = drawn.expand_dims(chain=[0], axis=0)
    prior.attrs = {**drawn.attrs, "inference_library": "carbon-mc", "sampling": "Monte Carlo over the priors (one chain)"}
    return prior


def to_inference_data(ds: xr.Dataset):
    """An `carbon_mc.estimate` Dataset as an ArviZ object (see the module docstring).

    Returns:
      ``arviz.InferenceData`` (ArviZ 0.x) or ``xarray.DataTree`` (ArviZ 1.x) with groups ``prior``
      and ``constant_data``.

    Raises:
      InputError: `ds` is not a Dataset, or has no ``draw`` dimension (a summary, not draws).
    """
    import xarray as xr

    from ..errors import InputError
    from .args import check_dataset

    check_dataset(ds)
    if "draw" not in ds.dims:
        raise InputError(f"ds must hold draws over 'draw' (carbon_mc.estimate), got dims {sorted(map(str, ds.dims))}")
    drawn, constants = split_constants(ds)
    prior = _prior_group(drawn)
    if arviz_major_version() >= 1:
        tree = xr.DataTree.from_dict({"/prior": prior, "/constant_data": constants})
        tree.attrs = dict(ds.attrs)
        return tree
    import arviz

    return arviz.InferenceData(attrs=dict(ds.attrs), prior=prior, constant_data=constants)
