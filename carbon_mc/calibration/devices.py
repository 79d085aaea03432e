"""Published serving measurements on the devices of the catalogue, scored against the bundled priors.

Data: models/reference/device_measurements.csv (sources, years and licences in
device_measurements_sources.toml), one row per published point on a device other than the
H100/A100/B200 of the serving calibration: a PCIe inference card, a TPU, a CPU... Each row becomes a
deployment (`carbon_mc.scenarios.deployment.parse_serving_scenario` of a `[serving]` table built from
the row: device, model size, batch, precision, stack, load, boundary), drawn at the bundled PRIORS,
which were never fitted on these points, and the measured figure is placed in the draws of the
serving output that covers what the publication measured:

- board energy per response (J) on an accelerator -> ``accelerator_energy_kwh_per_million_output_tokens``
  (J per response / output tokens / 3.6, `kwh_per_million_tokens_from_j_per_response`);
- energy per request on the facility boundary (Wh, idle capacity and PUE included) -> ``energy_wh_per_request``;
  on the IT boundary -> ``it_energy_wh_per_request``; on the accelerator alone -> ``accelerator_energy_wh_per_request``.

A point's score: the percentile of the measured value among the draws, the 5-95% interval, and
log10(measured / median). `score_device_points` groups them by regime ("NVIDIA inference cards",
"non-NVIDIA hardware") as `carbon_mc.calibration.serving.RegimeScore`: points, coverage of the 90%
interval and median |log10 error|.

Findings (seed 0, 20,000 draws; asserted in tests/test_device_measurements.py); none moved a prior:

- NVIDIA inference cards: 8 points, all on the A40 (ML.ENERGY v1: FastChat on PyTorch, FP16, batch 1,
  GPU energy per response), 8 inside their 90% intervals, percentiles 21-70, median |log10 error|
  0.086. Inside for compensating reasons: the same draws put the published throughputs at the 75th-96th
  percentile of decode_tokens_per_s (the two Llama-2-7B points above the 95th: the plain-pipeline step
  overhead prior makes a 7B model at batch 1 on a 696 GB/s card too slow) and the implied GPU power
  (energy x throughput, 190-266 W of 300 W) above the drawn median (~170 W).
- non-NVIDIA hardware: 1 point (Gemini's median text prompt on TPUs, 0.24 Wh), at the 46th percentile of
  an interval of more than two decades, since the source states no model size, batch, tokens or TPU
  generation. Fewer than 5 points: its coverage says little.
- No published point was found for L4, L40S, A10G, T4, Gaudi, Inferentia or CPUs, nor a run-average
  training power on A100 PCIe (the sources read without a usable point: [not_usable] in
  device_measurements_sources.toml).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import InputError, close_matches, shown
from .serving import RegimeScore, _score

__all__ = [
    "COVERS",
    "REGIMES",
    "DevicePoint",
    "PointScore",
    "device_points",
    "kwh_per_million_tokens_from_j_per_response",
    "point_scores",
    "score_device_points",
]

REGIMES = ("NVIDIA inference cards", "non-NVIDIA hardware")
# (unit as published, what it covers) -> the serving output it is compared with
COVERS = {
    ("J per response", "accelerator"): "accelerator_energy_kwh_per_million_output_tokens",
    ("Wh per request", "accelerator"): "accelerator_energy_wh_per_request",
    ("Wh per request", "it"): "it_energy_wh_per_request",
    ("Wh per request", "facility"): "energy_wh_per_request",
}
COLUMNS = ("device", "model", "params_total_b", "params_active_b", "n_devices", "batch", "precision", "stack", "load",
           "boundary", "input_tokens", "output_tokens", "output_tokens_per_s", "value", "unit", "covers", "pue", "regime",
           "source", "location_in_source", "notes")
THROUGHPUT = "decode_tokens_per_s"  # what a published output tokens/s of one replica is compared with
J_PER_KWH = 3.6e6


def kwh_per_million_tokens_from_j_per_response(j_per_response: float, output_tokens: float) -> float:
    """kWh per million output tokens from energy per response (J) and output tokens per response:
    J / tokens x 1e6 / 3.6e6 (1 kWh = 3.6 MJ).

    Reference: SI definitions; the ML.ENERGY v1 data give energy and response length per response.
    """
    return j_per_response / output_tokens * 1.0e6 / J_PER_KWH


class DevicePoint(NamedTuple):
    label: str  # device: model, the row's distinguishing facts
    device: str  # catalogue key
    regime: str
    block: dict  # the [serving] table of the matching deployment
    quantity: str  # the serving output the measurement is compared with
    measured: float  # in that output's units
    source: str
    location: str
    notes: str
    tokens_per_s: float | None = None  # published output tokens per second of one replica, where given


class PointScore(NamedTuple):
    label: str
    device: str
    regime: str
    quantity: str
    measured: float
    median: float
    low: float  # 5th percentile of the draws
    high: float  # 95th percentile
    percentile: float  # share of draws at or below the measured value, in %
    log10_error: float  # log10(measured / median)
    source: str
    # the published throughput (output tokens/s of one replica) against decode_tokens_per_s, where given:
    # (measured, 5th percentile, median, 95th percentile, percentile of the measured value in %)
    throughput: tuple[float, float, float, float, float] | None = None

    @property
    def inside(self) -> bool:
        """Inside the 90% interval (5th to 95th percentile)."""
        return self.low <= self.measured <= self.high


def _csv_path(path: str | Path | None) -> Path:
    from ..data import data_dir

    return Path(path) if path is not None else data_dir("models") / "reference" / "device_measurements.csv"


def _number_or_range(text: str, scale: float, *, file: str, key: str, source: str) -> float | dict | None:
    """'' -> None; '12.5' -> 12.5 x scale; 'a-b' -> a lognormal prior table with 5th/95th percentiles a and b (x scale)."""
    text = text.strip()
    if not text:
        return None
    try:
        if "-" in text[1:]:
            low, high = (float(part) * scale for part in text.split("-", 1))
            if not (0 < low < high) or not math.isfinite(high):
                raise ValueError
            return {"distribution": "lognormal", "params": {"p5": low, "p95": high}, "source": source}
        value = float(text) * scale
        if not (value > 0 and math.isfinite(value)):
            raise ValueError
        return value
    except ValueError:
        raise InputError(f"must be a positive number or a range 'low-high' with 0 < low < high, got {shown(text)}",
                         file=file, key=key) from None


def _row_point(row: dict, line: int, file: str) -> DevicePoint:
    where = f"line {line}"
    for name in ("device", "model", "n_devices", "batch", "precision", "value", "unit", "covers", "regime", "source"):
        if not (row.get(name) or "").strip():
            raise InputError(f"column {name!r} is empty", file=file, key=where)
    if row["regime"] not in REGIMES:
        raise InputError(f"unknown regime {shown(row['regime'])}; {close_matches(row['regime'], REGIMES)}", file=file,
                         key=f"{where}, regime")
    quantity = COVERS.get((row["unit"], row["covers"]))
    if quantity is None:
        valid = ", ".join(f"{u} / {c}" for u, c in COVERS)
        raise InputError(f"unit {shown(row['unit'])} covering {shown(row['covers'])} has no serving output; valid: {valid}",
                         file=file, key=f"{where}, unit")
    source = f"{row['source']}, {row['location_in_source']}"
    assumed = f"{row['source']} states no value; range assumed in device_measurements.csv (see its notes)"
    parameters = _number_or_range(row["params_total_b"], 1e9, file=file, key=f"{where}, params_total_b", source=assumed)
    if parameters is None:
        raise InputError("column 'params_total_b' is empty", file=file, key=where)
    block: dict[str, Any] = {
        "name": f"{row['device']} {row['model']}"[:60], "hardware": row["device"], "parameters": parameters,
        "precision": row["precision"], "batch": _number_or_range(row["batch"], 1.0, file=file, key=f"{where}, batch", source=assumed),
        "devices_per_replica": _number_or_range(row["n_devices"], 1.0, file=file, key=f"{where}, n_devices", source=assumed),
        "days": 1, "grid_gco2_per_kwh": 300.0, "pue": 1.0,
    }
    active = _number_or_range(row["params_active_b"], 1e9, file=file, key=f"{where}, params_active_b", source=assumed)
    if active is not None:
        block["active_parameters"] = active
    for key in ("stack", "load", "boundary"):
        if row[key].strip():
            block[key] = row[key].strip()
    for key in ("input_tokens", "output_tokens"):
        value = _number_or_range(row[key], 1.0, file=file, key=f"{where}, {key}", source=assumed)
        if value is not None:
            block[key] = value
    if row["pue"].strip():
        block["pue"] = _number_or_range(row["pue"], 1.0, file=file, key=f"{where}, pue", source=assumed)
    value = _number_or_range(row["value"], 1.0, file=file, key=f"{where}, value", source=assumed)
    if not isinstance(value, float):
        raise InputError("a measured value is one number, not a range", file=file, key=f"{where}, value")
    if row["unit"] == "J per response":
        tokens = block.get("output_tokens")
        if not isinstance(tokens, float):
            raise InputError("energy per response needs the measured output tokens per response (a number)", file=file,
                             key=f"{where}, output_tokens")
        value = kwh_per_million_tokens_from_j_per_response(value, tokens)
    tokens_per_s = _number_or_range(row["output_tokens_per_s"], 1.0, file=file, key=f"{where}, output_tokens_per_s",
                                    source=assumed)
    if isinstance(tokens_per_s, dict):
        raise InputError("a measured throughput is one number, not a range", file=file, key=f"{where}, output_tokens_per_s")
    batch = row["batch"].strip()
    label = f"{row['device']}: {row['model']}, batch {batch}, {row['stack'] or 'default stack'}"
    return DevicePoint(label, row["device"], row["regime"], block, quantity, value, source, row["location_in_source"],
                       row["notes"], tokens_per_s)


def device_points(path: str | Path | None = None) -> list[DevicePoint]:
    """The published points of device_measurements.csv, each as a deployment ([serving] table) and the
    serving output its figure is compared with. Bad rows raise `InputError` naming the file, line and column."""
    path = _csv_path(path)
    file = str(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            lines = [(n, line) for n, line in enumerate(fh, start=1) if not line.startswith("#") and line.strip()]
    except OSError as exc:
        raise InputError(f"cannot read the device measurements: {exc.strerror or exc}", file=file) from None
    if not lines:
        raise InputError("no header and no rows", file=file)
    reader = csv.DictReader(line for _, line in lines)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}; the header needs {', '.join(COLUMNS)}", file=file,
                         key=f"line {lines[0][0]}")
    points = []
    for (n, _), row in zip(lines[1:], reader):
        if None in row or any(v is None for v in row.values()):
            raise InputError(f"{len(COLUMNS)} columns expected", file=file, key=f"line {n}")
        points.append(_row_point(row, n, file))
    return points


def point_scores(points: list[DevicePoint] | None = None, *, seed: int = 0, num_draws: int = 20_000) -> list[PointScore]:
    """Each point against the bundled priors: the deployment drawn `num_draws` times (plain Monte Carlo,
    `seed`), the measured figure's percentile, the 5-95% interval and log10(measured / median); where the
    source gives a throughput, its place among the draws of decode_tokens_per_s as well (same draws)."""
    from ..sampling import build_simulator, draw
    from ..scenarios.deployment import parse_serving_scenario

    points = device_points() if points is None else points
    out = []
    for p in points:
        scenario = parse_serving_scenario({"serving": p.block}, file=f"<{p.label}>")
        variables = [p.quantity] + ([THROUGHPUT] if p.tokens_per_s is not None else [])
        _, drawn = draw(build_simulator(scenario), num_draws=num_draws, seed=seed, method="mc", variables=variables)
        x = np.asarray(drawn[p.quantity], dtype=float)
        low, median, high = (float(v) for v in np.quantile(x, [0.05, 0.5, 0.95]))
        throughput = None
        if p.tokens_per_s is not None:
            t = np.asarray(drawn[THROUGHPUT], dtype=float)
            t_low, t_median, t_high = (float(v) for v in np.quantile(t, [0.05, 0.5, 0.95]))
            throughput = (p.tokens_per_s, t_low, t_median, t_high, float(100.0 * np.mean(t <= p.tokens_per_s)))
        out.append(PointScore(p.label, p.device, p.regime, p.quantity, p.measured, median, low, high,
                              float(100.0 * np.mean(x <= p.measured)), float(np.log10(p.measured / median)), p.source,
                              throughput))
    return out


def score_device_points(seed: int = 0, num_draws: int = 20_000, *, scores: list[PointScore] | None = None) -> list[RegimeScore]:
    """Coverage of the 90% intervals and median |log10 error| per regime (every regime of `REGIMES`, in
    that order, with 0 points where none was found), from `point_scores` at `seed` / `num_draws` unless
    `scores` are given. Each regime's per_point rows are (label, measured, median, low, high)."""
    scores = point_scores(seed=seed, num_draws=num_draws) if scores is None else scores
    how = "priors only, never fitted on these points (published device measurements, device_measurements.csv)"
    return [_score(regime, [(s.label, s.measured, s.median, s.low, s.high) for s in scores if s.regime == regime], how)
            for regime in REGIMES]
