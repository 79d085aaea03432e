"""Published serving measurements on catalogue devices (models/reference/device_measurements.csv), each
placed in the bundled priors' draws by carbon_mc.calibration.devices: every row parsed with its source,
the percentiles at seed 0 and 20,000 draws, the regimes' coverage, and bad rows refused with one message."""

from pathlib import Path

import numpy as np
import pytest

from carbon_mc import CarbonMCError
from carbon_mc.calibration import devices as dv

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
    import tomli as tomllib

REFERENCE = Path(__file__).resolve().parents[1] / "models" / "reference"
DRAWS = 20_000
# Measured percentile (%) of each point at seed 0 and 20,000 draws, in the file's order. A percentile
# p estimated from n draws has Monte Carlo sd 100 x sqrt(p(1-p)/n) <= 0.36 points; the tolerance is 3 sd.
EXPECTED_PERCENTILE = [21.6, 27.7, 46.6, 58.4, 70.1, 68.0, 21.4, 28.1, 45.8]
# The same draws' decode_tokens_per_s against the published throughput of the eight A40 points.
EXPECTED_THROUGHPUT_PERCENTILE = [96.3, 92.7, 93.5, 94.7, 74.6, 78.3, 96.2, 92.9]
PCT_TOL = 3 * 100 * np.sqrt(0.25 / DRAWS)


@pytest.fixture(scope="module")
def scores():
    return dv.point_scores(seed=0, num_draws=DRAWS)


def test_every_point_parsed_with_its_source():
    points = dv.device_points()
    sources = tomllib.loads((REFERENCE / "device_measurements_sources.toml").read_text())["sources"]
    starts = [s["source_starts"] for s in sources.values()]
    assert len(points) == 9
    assert [p.regime for p in points].count("NVIDIA inference cards") == 8
    assert [p.regime for p in points].count("non-NVIDIA hardware") == 1
    for p in points:
        assert any(p.source.startswith(s) for s in starts), p.source
        assert p.location and p.quantity in dv.COVERS.values()
    for sources_entry in sources.values():
        assert {"year", "licence", "how"} <= set(sources_entry)
    a40 = points[0]
    assert a40.device == "a40" and a40.block["stack"] == "plain_pipeline" and a40.block["precision"] == "fp16"
    # 2,556.72 J per response over 428.19 output tokens = 5.971 J per token = 1.659 kWh per million tokens
    assert a40.measured == pytest.approx(2556.72 / 428.19 / 3.6, rel=1e-12)
    assert dv.kwh_per_million_tokens_from_j_per_response(3.6, 1.0) == pytest.approx(1.0)
    gemini = points[-1]
    assert gemini.device == "tpu_v6e" and gemini.quantity == "energy_wh_per_request" and gemini.measured == 0.24
    assert gemini.block["pue"] == 1.09 and gemini.block["load"] == "fleet"
    assert gemini.block["parameters"]["params"] == {"p5": 10e9, "p95": 1000e9}


def test_percentiles_at_the_bundled_priors(scores):
    assert [s.percentile for s in scores] == pytest.approx(EXPECTED_PERCENTILE, abs=PCT_TOL)
    for s in scores:  # every point inside its 90% interval, and the percentile agrees with the interval
        assert s.inside and 5.0 <= s.percentile <= 95.0, s
        assert s.log10_error == pytest.approx(np.log10(s.measured / s.median))
    a40 = [s for s in scores if s.device == "a40"]
    # the 7B chat models sit low in their intervals (Llama-2-7B at the 21st percentile), the 12-13B ones near the middle
    assert max(s.percentile for s in a40 if "7b" in s.label.lower()) < 50.0
    # the Gemini point is inside, but its interval spans more than two decades: the size, batch, tokens and TPU
    # generation are unknown to the source and drawn from wide ranges, so inside says little
    gemini = scores[-1]
    assert np.log10(gemini.high / gemini.low) > 2.0


def test_a40_energy_inside_for_compensating_reasons(scores):
    """The A40 energies are inside their intervals, but not because each part is right: the plain-pipeline
    engine predicts these batch-1 runs too slow (published throughputs at the 75th-96th percentile, the two
    Llama-2-7B ones above the 95th: 31.9 tok/s against a 95th percentile of 31.0) and the GPU power a little
    low (published energy x throughput = 190-266 W on the 300 W card, against a drawn median near 170 W)."""
    a40 = [s for s in scores if s.device == "a40"]
    got = [s.throughput[4] for s in a40]
    assert got == pytest.approx(EXPECTED_THROUGHPUT_PERCENTILE, abs=PCT_TOL)
    above = [s.label for s in a40 if s.throughput[0] > s.throughput[3]]
    assert len(above) == 2 and all("Llama-2-7b" in label for label in above)
    implied_w = [s.measured * 3.6 * s.throughput[0] for s in a40]  # kWh per million tokens x tokens/s -> W
    assert min(implied_w) == pytest.approx(189.9, abs=0.1) and max(implied_w) == pytest.approx(265.5, abs=0.1)
    assert scores[-1].throughput is None  # the Gemini figure gives no throughput


def test_regimes_coverage_and_error(scores):
    regimes = dv.score_device_points(scores=scores)
    assert [r.regime for r in regimes] == list(dv.REGIMES)
    cards, other = regimes
    assert (cards.points, cards.coverage_90) == (8, 1.0)
    assert cards.median_abs_log10_error == pytest.approx(np.median([abs(s.log10_error) for s in scores[:8]]))
    assert cards.median_abs_log10_error < 0.2
    assert (other.points, other.coverage_90) == (1, 1.0) and other.few  # one point: its coverage says little
    assert cards.per_point[0][:2] == (scores[0].label, scores[0].measured)


HEADER = ",".join(dv.COLUMNS)
ROW = ("a40,m,6.74,,1,1,fp16,plain_pipeline,benchmark,replica,,400,30,2400,J per response,accelerator,,"
       "NVIDIA inference cards,src,loc,notes")


@pytest.mark.parametrize("row, words", [
    (ROW.replace("NVIDIA inference cards", "NVIDIA inference card"), ["unknown regime", "did you mean"]),
    (ROW.replace("J per response", "J per token"), ["has no serving output", "valid:"]),
    (ROW.replace(",400,30,2400,", ",,30,2400,"), ["output tokens"]),
    (ROW.replace(",400,30,", ",400,20-40,"), ["throughput is one number"]),
    (ROW.replace(",6.74,", ",ten,"), ["params_total_b", "positive number"]),
    (ROW.replace(",2400,", ",2400-3000,"), ["one number"]),
    (ROW.replace(",src,", ",,"), ["'source' is empty"]),
])
def test_bad_rows_are_refused_with_line_and_column(tmp_path, row, words):
    path = tmp_path / "d.csv"
    path.write_text(f"# comment\n{HEADER}\n{row}\n")
    with pytest.raises(CarbonMCError) as info:
        dv.device_points(path)
    message = str(info.value)
    assert "line 3" in message and str(path) in message
    for word in words:
        assert word in message


def test_missing_column_and_unknown_device(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(HEADER.replace(",pue", "") + "\n")
    with pytest.raises(CarbonMCError, match="missing column"):
        dv.device_points(path)
    path.write_text(f"{HEADER}\n{ROW.replace('a40,', 'a4O,', 1)}\n")
    (point,) = dv.device_points(path)
    with pytest.raises(CarbonMCError, match="a4O"):
        dv.point_scores([point], num_draws=100)
