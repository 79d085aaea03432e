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

Which group: the draws are prior draws, so every ArviZ call names ``group="prior"``
(``az.summary(idata, group="prior", kind="stats")``, ``az.hdi(idata, group="prior")`` or
``az.hdi(idata.prior)``, ``az.plot_posterior(idata, group="prior")``). A call that looks for the
posterior group (``az.hdi(idata)``) gets an `InputError` saying so, not ArviZ's "Can not extract
posterior" (ArviZ 0.x; the object is a `PriorDraws`, an ``InferenceData``).

In a file (``idata.to_netcdf``) the groups follow CF-1.10: units in UDUNITS form (the human form
in ``units_human``), a long name on every coordinate, ``coverage_content_type`` on every variable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # callers hand in a Dataset, so xarray is loaded by then; importing this module does not load it
    import xarray as xr

__all__ = ["NO_POSTERIOR", "arviz_major_version", "split_constants", "to_inference_data"]

NO_POSTERIOR = ("carbon-mc's draws come from the priors (nothing is conditioned on data), so they are in the 'prior' "
                "group, and there is no 'posterior' group: pass group=\"prior\" (az.summary(idata, group=\"prior\", "
                "kind=\"stats\"), az.hdi(idata, group=\"prior\") or az.hdi(idata.prior), az.plot_posterior(idata, "
                "group=\"prior\"))")


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
    prior["chain"].attrs = {"long_name": "chain number (one Monte Carlo chain)", "units": "1"}
    prior.attrs = {**drawn.attrs, "inference_library": "carbon-mc", "sampling": "Monte Carlo over the priors (one chain)"}
    return prior


def _cf_attributes(group: xr.Dataset) -> xr.Dataset:
    """`group` with CF units (the human form in ``units_human``), a long name on every coordinate and
    ``coverage_content_type`` on every variable; the values and dimensions unchanged."""
    from ..io.files import COORD_LONG_NAMES, cf_units

    for name in [str(v) for v in group.variables]:
        attrs = dict(group[name].attrs)
        units = attrs.get("units")
        if isinstance(units, str) and cf_units(units) != units:
            attrs["units"], attrs["units_human"] = cf_units(units), units
        if name in group.coords:
            attrs.setdefault("long_name", COORD_LONG_NAMES.get(name, name.replace("_", " ")))
            if group[name].dtype.kind in "iuf":
                attrs.setdefault("units", "1")
        else:
            attrs.setdefault("long_name", name.replace("_", " "))
            attrs.setdefault("coverage_content_type", "modelResult")
        group[name].attrs = attrs
    return group


_PRIOR_DRAWS_CLASS: list = []


def _prior_draws_class():
    """`PriorDraws`: an ``arviz.InferenceData`` whose missing ``posterior`` says which group to use."""
    if not _PRIOR_DRAWS_CLASS:
        import arviz

        from ..errors import InputError

        class PriorDraws(arviz.InferenceData):
            """carbon-mc's draws as ArviZ data: the ``prior`` and ``constant_data`` groups, and no posterior."""

            def __getattr__(self, name):
                if name == "posterior":
                    raise InputError(NO_POSTERIOR)
                raise AttributeError(name)

        _PRIOR_DRAWS_CLASS.append(PriorDraws)
    return _PRIOR_DRAWS_CLASS[0]


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
    prior = _cf_attributes(_prior_group(drawn))
    constants = _cf_attributes(constants)
    if arviz_major_version() >= 1:
        tree = xr.DataTree.from_dict({"/prior": prior, "/constant_data": constants})
        tree.attrs = dict(ds.attrs)
        return tree
    return _prior_draws_class()(attrs=dict(ds.attrs), prior=prior, constant_data=constants)
