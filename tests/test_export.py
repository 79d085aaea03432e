"""CSV out: summaries and draws with units in the header, written atomically."""

import csv

import numpy as np
import pytest
import xarray as xr

import carbon_mc
from carbon_mc.errors import CarbonMCError
from carbon_mc.io.tables import write_csv


@pytest.fixture(scope="module")
def draws():
    return carbon_mc.estimate("models/llama_65b.toml", num_draws=2000, seed=7)


def read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_summary_csv_has_units_and_every_stat(draws, tmp_path):
    summary = carbon_mc.summarize(draws)
    path = write_csv(summary, tmp_path / "summary.csv")
    rows = read(path)
    header = rows[0]
    assert header[0] == "stat" and "total_tco2e [t]" in header and "energy_mwh [MWh]" in header
    assert [r[0] for r in rows[1:]] == list(summary["stat"].values)
    col = header.index("total_tco2e [t]")
    median = next(r for r in rows[1:] if r[0] == "median")
    assert float(median[col]) == float(summary["total_tco2e"].sel(stat="median"))


def test_draws_csv_round_trips_every_draw(draws, tmp_path):
    path = write_csv(draws, tmp_path / "draws.csv")
    rows = read(path)
    assert len(rows) == 1 + 2000 and rows[0][0] == "draw"
    col = rows[0].index(f"total_tco2e [{draws['total_tco2e'].attrs['units']}]")
    values = np.array([float(r[col]) for r in rows[1:]])
    np.testing.assert_array_equal(values, draws["total_tco2e"].values.astype(float))


def test_bad_dataset_writes_nothing(tmp_path):
    ds = xr.Dataset({"x": (("draw", "k"), np.zeros((3, 2)))})
    with pytest.raises(CarbonMCError, match="only"):
        write_csv(ds, tmp_path / "x.csv")
    with pytest.raises(CarbonMCError, match="does not exist"):
        write_csv(xr.Dataset({"x": ("draw", np.zeros(3))}), tmp_path / "nope" / "x.csv")
    assert list(tmp_path.iterdir()) == []
