"""Hostile inputs on the import, model-card and plotting surfaces: one clear line, exit 2, nothing half-written.

Each case builds its own fixture in tmp_path and asserts the exit status, a one-line error that names
the file and the problem, no traceback, and no output written (or the input byte-identical); or, for
an input that is valid once read right, the correctly converted value.
"""

import codecs
import os
import stat
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

import carbon_mc
from carbon_mc.cli import main
from carbon_mc.errors import CarbonMCError, NumericError
from carbon_mc.ingest import read_codecarbon, read_grid_csv, read_power_log

MODELS = Path(__file__).resolve().parents[1] / "models"

# --- helpers ---------------------------------------------------------------------------------------


def refused(capsys, args, *needles):
    """Run the command line in-process: exit 2, one line on stderr holding every needle, no traceback."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def only(tmp_path, *names):
    """The directory holds exactly the fixtures `names`: nothing was written beside them."""
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


CC_HEADER = ("timestamp,project_name,run_id,duration,emissions,cpu_power,gpu_power,ram_power,cpu_energy,gpu_energy,"
             "ram_energy,energy_consumed,country_name,country_iso_code,region,cloud_provider,cloud_region,"
             "codecarbon_version,gpu_count,gpu_model,pue")
# One day on 8 A100s: 2480 W of GPUs, 210 W of CPU, 377.8 W of RAM; energies in kWh, consistent with them.
CC_CELLS = {"timestamp": "2024-03-05T09:00:00", "project_name": "demo", "run_id": "run-1", "duration": "86400",
            "emissions": "0.175012", "cpu_power": "210.0", "gpu_power": "2480.0", "ram_power": "377.8",
            "cpu_energy": "5.04", "gpu_energy": "59.52", "ram_energy": "9.0672", "energy_consumed": "73.6272",
            "country_name": "Canada", "country_iso_code": "CAN", "region": "quebec", "cloud_provider": "",
            "cloud_region": "", "codecarbon_version": "2.3.4", "gpu_count": "8", "gpu_model": "8 x NVIDIA A100-SXM4-80GB",
            "pue": "1.0"}


def codecarbon_csv(path: Path, encoding: str = "utf-8", **cells) -> Path:
    row = {**CC_CELLS, **cells}
    text = CC_HEADER + "\n" + ",".join(row[c] for c in CC_HEADER.split(",")) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


def nvidia_smi_csv(path: Path, powers=("600.00 W",) * 4, *, gpu="NVIDIA H100 80GB HBM3", header_unit="[W]",
                   step_s=10, encoding="utf-8") -> Path:
    t0 = datetime(2024, 3, 4, 9)
    lines = [f"timestamp, index, name, power.draw {header_unit}, utilization.gpu [%]".replace("  ", " ")]
    for i, power in enumerate(powers):
        lines.append(f"{t0 + timedelta(seconds=step_s * i):%Y/%m/%d %H:%M:%S}.000, 0, {gpu}, {power}, 97 %")
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def import_args(kind, file, out, *extra):
    base = ["import", kind, str(file), "-o", str(out)]
    return base + (["--region", "quebec", "--pue", "1.1"] if kind != "grid" else []) + [str(e) for e in extra]


# --- units in cells and headers (import) ----------------------------------------------------------

def test_codecarbon_cells_in_wh_are_converted(tmp_path):
    """Before: "73627.2 Wh" was read as 73,627.2 kWh (1000x); now converted to kWh."""
    wh = {"cpu_energy": "5040 Wh", "gpu_energy": "59520 Wh", "ram_energy": "9067.2 Wh", "energy_consumed": "73627.2 Wh",
          "gpu_power": "2.48 kW", "duration": "1440 min"}
    run = read_codecarbon(codecarbon_csv(tmp_path / "emissions.csv", **wh))
    assert run.energy_kwh == pytest.approx(73.6272) and run.device_hours == pytest.approx(8 * 24)
    out = tmp_path / "run.toml"
    assert main(import_args("codecarbon", tmp_path / "emissions.csv", out)) == 0
    assert tomllib.loads(out.read_text())["reported"]["energy_mwh"] == pytest.approx(0.0736272)


def test_codecarbon_unit_in_the_header_is_converted(tmp_path):
    path = tmp_path / "emissions.csv"
    codecarbon_csv(path, energy_consumed="73627.2")
    path.write_text(path.read_text().replace("energy_consumed,", "energy_consumed [Wh],", 1))
    assert read_codecarbon(path).energy_kwh == pytest.approx(73.6272)


@pytest.mark.parametrize("cells,needles", [
    ({"energy_consumed": "73.6 kWhr"}, ["unknown unit 'kWhr'", "column 'energy_consumed'"]),
    ({"energy_consumed": "300 W"}, ["'W' is a unit of power, expected energy", "row 2"]),
    ({"gpu_power": "2480 kWh"}, ["'kWh' is a unit of energy, expected power", "column 'gpu_power'"]),
    # Wh written as bare numbers in a kWh column: 1000x what the power over the duration gives
    ({"energy_consumed": "73627.2"}, ["column 'energy_consumed'", "1,000 x what", "within a factor of 10"]),
    ({"duration": "1440"}, ["column 'gpu_energy'", "60 x what"]),  # minutes written as seconds
    ({"duration": "1e20"}, ["column 'duration'", "at most 315,576,000 s"]),  # beyond C int: was an OverflowError
    ({"timestamp": "10000-03-05T09:00:00"}, ["column 'timestamp'", "a year past 9999"]),
    ({"timestamp": "9999-12-31T23:00:00-05:00"}, ["column 'timestamp'", "between the years 1970 and 2200"]),
    ({"timestamp": "2024-03-05T09:00:00+24:00"}, ["column 'timestamp'", "UTC offset +24:00 is out of range"]),
    ({"gpu_power": "2480000 W", "gpu_energy": "59520", "energy_consumed": "59534.1072"},  # consistent, but 310 kW a GPU
     ["row 2, column 'gpu_power' / 8 GPUs", "310,000.0 W", "not physical for a100_80gb", "[0, 800] W"]),
])
def test_codecarbon_hostile_cells_are_refused(tmp_path, capsys, cells, needles):
    fixture = codecarbon_csv(tmp_path / "emissions.csv", **cells)
    refused(capsys, import_args("codecarbon", fixture, tmp_path / "run.toml"), "emissions.csv", *needles)
    only(tmp_path, "emissions.csv")


def test_utc_offset_flag_of_24_hours_is_refused(tmp_path, capsys):
    fixture = codecarbon_csv(tmp_path / "emissions.csv")
    refused(capsys, import_args("codecarbon", fixture, tmp_path / "run.toml", "--utc-offset", "+24:00"),
            "--utc-offset", "out of range")
    only(tmp_path, "emissions.csv")


def test_power_cells_with_units_are_converted(tmp_path):
    run = read_power_log(nvidia_smi_csv(tmp_path / "a.csv", ("350.5W", "0.3505 kW", "350500 mW", "350.5")))
    assert run.mean_device_power_w == pytest.approx(350.5)
    run = read_power_log(nvidia_smi_csv(tmp_path / "b.csv", ("350500", "350500", "350500"), header_unit="[mW]"))
    assert run.mean_device_power_w == pytest.approx(350.5)


def test_power_log_of_a_megawatt_per_gpu_is_refused(tmp_path, capsys):
    """Before: a mean of ~1 MW per H100 was written into a scenario; now beyond 2 x TDP is refused."""
    fixture = nvidia_smi_csv(tmp_path / "gpu.csv", ("1000000.00 W",) * 4)
    refused(capsys, import_args("power-log", fixture, tmp_path / "run.toml"), "gpu.csv", "row 2, column 'power.draw [W]'",
            "1,000,000.0 W", "not physical for h100_sxm", "[0, 1,400] W", "2 x its 700 W TDP")
    only(tmp_path, "gpu.csv")


@pytest.mark.parametrize("header,values,needles", [
    ("Carbon Intensity kgCO₂eq/kWh (LCA)", "0.051", None),  # a kg column name: converted
    ("carbon_intensity_lca [kg/kWh]", "0.051", None),  # a kg header unit: converted
    ("Carbon Intensity gCO₂eq/kWh (LCA)", "0.051 kg/kWh", None),  # a kg cell: converted
    ("Carbon Intensity gCO₂eq/kWh (LCA)", "0.051", ["every lifecycle intensity is below 2", "kg/kWh?"]),
    ("Carbon Intensity lbCO2/kWh (LCA)", "0.11", ["unknown unit 'lbCO2/kWh'"]),
    ("Carbon Intensity gCO₂eq/kWh (LCA)", "51000", ["51,000 gCO2e/kWh is beyond any grid", "[0, 2000]"]),
])
def test_grid_in_kg_per_kwh_is_converted_or_refused(tmp_path, capsys, header, values, needles):
    path = tmp_path / "grid.csv"
    rows = [f"{datetime(2024, 3, 1) + timedelta(hours=h):%Y-%m-%d %H:%M:%S},FR,{values}" for h in range(48)]
    path.write_text("\n".join([f"Datetime (UTC),Zone Id,{header}", *rows]) + "\n", encoding="utf-8")
    args = ["import", "grid", path, "--start", "2024-03-01T00:00", "--end", "2024-03-02T00:00", "-o", tmp_path / "p.toml"]
    if needles is None:
        series = read_grid_csv(path)
        assert np.allclose(series.g_per_kwh, 51.0)
        assert main([str(a) for a in args]) == 0
        assert tomllib.loads((tmp_path / "p.toml").read_text())["priors"]["grid_gco2_per_kwh"]["params"]["value"] == 51.0
    else:
        refused(capsys, args, "grid.csv", *needles)
        only(tmp_path, "grid.csv")


# --- encodings ----------------------------------------------------------------------------------------

def test_latin1_codecarbon_is_one_line(tmp_path, capsys):
    fixture = codecarbon_csv(tmp_path / "emissions.csv", encoding="latin-1", project_name="café")
    refused(capsys, import_args("codecarbon", fixture, tmp_path / "run.toml"), "emissions.csv", "not UTF-8 text",
            "byte 0xe9 on line 2", "Latin-1")
    only(tmp_path, "emissions.csv")


def test_latin1_dmon_output_is_one_line(tmp_path, capsys):
    """Before: dcgmi dmon output was decoded without a guard (a UnicodeDecodeError traceback)."""
    fixture = tmp_path / "dmon.txt"
    fixture.write_bytes("#Entity   POWER\nID        W\nGPU 0     400.0\nGPU 0     400.0  # Mesur\xe9\n".encode("latin-1"))
    refused(capsys, import_args("power-log", fixture, tmp_path / "run.toml", "--interval", "1", "--hardware", "h100_sxm"),
            "dmon.txt", "not UTF-8 text", "line 4")
    only(tmp_path, "dmon.txt")


def test_binary_file_is_one_line(tmp_path, capsys):
    fixture = tmp_path / "gpu.csv"
    fixture.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    refused(capsys, import_args("power-log", fixture, tmp_path / "run.toml"), "gpu.csv", "a binary file")
    refused(capsys, ["import", "grid", fixture], "gpu.csv", "a binary file")
    only(tmp_path, "gpu.csv")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_utf16_and_bom_files_are_decoded(tmp_path, encoding):
    plain = read_power_log(nvidia_smi_csv(tmp_path / "plain.csv"))
    other = read_power_log(nvidia_smi_csv(tmp_path / "other.csv", encoding=encoding))
    assert other.energy_kwh == pytest.approx(plain.energy_kwh) and other.gpu_name == plain.gpu_name
    assert read_codecarbon(codecarbon_csv(tmp_path / "e.csv", encoding=encoding)).energy_kwh == pytest.approx(73.6272)


# --- malformed rows -------------------------------------------------------------------------------------

@pytest.mark.parametrize("tail,needles", [
    ("2024/03/04 09:00:40.000, 0, NVI", ["row 6", "3 cells where the header has 5"]),  # cut mid-row
    ('2024/03/04 09:00:40.000, 0, "NVIDIA H100, 600 W, 97 %', ["not a readable CSV file", "unexpected end of data"]),
    ("2024/03/04 09:00:40.000, 0, " + "H" * 300_000 + ", 600 W, 97 %", ["not a readable CSV file", "field larger than"]),
])
def test_truncated_or_huge_rows_are_one_line(tmp_path, capsys, tail, needles):
    fixture = nvidia_smi_csv(tmp_path / "gpu.csv")
    with open(fixture, "a", encoding="utf-8") as fh:
        fh.write(tail)
    err = refused(capsys, import_args("power-log", fixture, tmp_path / "run.toml"), "gpu.csv", *needles)
    assert len(err) < 1000
    only(tmp_path, "gpu.csv")


# --- daylight saving: a repeated local hour --------------------------------------------------------------

def dst_log(path: Path, *, offsets: bool) -> Path:
    """600 W for 3 h across the US fall-back (2024-11-03, 02:00 EDT -> 01:00 EST): 1.8 kWh."""
    start = datetime(2024, 11, 3, 4, tzinfo=UTC)  # 00:00 EDT
    lines = ["timestamp,index,name,power.draw [W]"]
    for k in range(37):
        t = start + timedelta(minutes=5 * k)
        zone = timezone(timedelta(hours=-4 if t < datetime(2024, 11, 3, 6, tzinfo=UTC) else -5))
        local = t.astimezone(zone)
        stamp = local.isoformat() if offsets else f"{local:%Y/%m/%d %H:%M:%S}.000"
        lines.append(f"{stamp},0,NVIDIA H100 80GB HBM3,600.0")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_dst_fall_back_is_refused_not_merged(tmp_path, capsys):
    """Before: 1.8 kWh over 3 h was read as 1.2 kWh over 2 h (the repeated hour merged); now refused."""
    fixture = dst_log(tmp_path / "gpu.csv", offsets=False)
    refused(capsys, import_args("power-log", fixture, tmp_path / "run.toml"), "gpu.csv", "column 'timestamp'",
            "device 0's time", "daylight-saving fall-back", "UTC offsets")
    only(tmp_path, "gpu.csv")


def test_dst_fall_back_with_utc_offsets_is_read_right(tmp_path):
    run = read_power_log(dst_log(tmp_path / "gpu.csv", offsets=True))
    assert run.energy_kwh == pytest.approx(1.8) and run.device_hours == pytest.approx(3.0)


# --- model cards -----------------------------------------------------------------------------------------

CARD = ("---\r\nlicense: mit  # kept\r\n# a comment in the front matter\r\nco2_eq_emissions:\r\n  emissions: 1\r\n"
        "# after\r\ntags:\r\n  - nlp\r\n---\r\n\r\n# Model\r\n")


@pytest.mark.parametrize("content,needles", [
    ("---\nlicense: mit\n---\n# Mod\xe8le entra\xeen\xe9\n".encode("latin-1"), ["not UTF-8 text", "line 4", "Latin-1"]),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["a binary file"]),
    (codecs.BOM_UTF16_LE + "---\nlicense: mit\n---\n".encode("utf-16-le"), ["a UTF-16 file"]),
])
def test_unreadable_readme_is_one_line_and_untouched(tmp_path, capsys, content, needles):
    readme = tmp_path / "README.md"
    readme.write_bytes(content)
    refused(capsys, ["check", "gpt3_175b", "--draws", "512", "--model-card", readme], "README.md", *needles)
    assert readme.read_bytes() == content
    only(tmp_path, "README.md")


def test_read_only_card_is_one_line(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_bytes(CARD.encode())
    readme.chmod(stat.S_IRUSR | stat.S_IRGRP)
    try:
        refused(capsys, ["check", "gpt3_175b", "--draws", "512", "--model-card", readme], "README.md", "read-only")
        assert readme.read_bytes() == CARD.encode()
    finally:
        readme.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_bad_training_type_is_refused_with_close_matches(tmp_path, capsys):
    refused(capsys, ["check", "gpt3_175b", "--draws", "512", "--model-card", tmp_path / "card.yaml", "--training-type",
                     "finetuning"], "--training-type", "'finetuning'", "pre-training or fine-tuning", "did you mean 'fine-tuning'")
    refused(capsys, ["check", "gpt3_175b", "--draws", "512", "--model-card", tmp_path / "card.yaml", "--training-type",
                     "inference"], "--training-type", "valid: fine-tuning, pre-training")
    only(tmp_path)


def test_bom_crlf_and_comments_of_a_card_are_kept(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_bytes(codecs.BOM_UTF8 + CARD.encode())
    assert main(["check", "gpt3_175b", "--draws", "2048", "--model-card", str(readme), "--training-type", "fine-tuning",
                 "--force"]) == 0  # the card's own co2_eq_emissions is replaced only with --force
    data = readme.read_bytes()
    assert data.startswith(codecs.BOM_UTF8 + b"---\r\n")  # the BOM kept, the front matter still first
    text = data.decode("utf-8-sig")
    assert "\n" not in text.replace("\r\n", "")  # every line ending still CRLF
    for line in ("license: mit  # kept\r\n", "# a comment in the front matter\r\n", "# after\r\n", "tags:\r\n  - nlp\r\n---\r\n\r\n# Model\r\n"):
        assert line in text
    import yaml

    front = yaml.safe_load(text.split("---\r\n")[1])
    assert front["co2_eq_emissions"]["training_type"] == "fine-tuning" and front["co2_eq_emissions"]["emissions"] > 0
    assert front["license"] == "mit" and front["tags"] == ["nlp"]


@pytest.mark.parametrize("values,needle", [
    (np.full(64, -1.0), "median -1e+06 g"),
    (np.zeros(64), "median 0 g"),
    (np.array([1.0] * 63 + [np.nan]), "1 of 64 draws are not finite"),
    (np.array([1.0] * 63 + [np.inf]), "1 of 64 draws are not finite"),
])
def test_card_never_writes_negative_zero_or_non_finite_emissions(values, needle):
    scenario = carbon_mc.load_scenario("gpt3_175b")
    with pytest.raises(NumericError) as info:
        carbon_mc.claims.model_card_block(scenario, values, inputs={"grid_gco2_per_kwh": "median 429 g/kWh"})
    message = str(info.value)
    assert needle in message and "grid_gco2_per_kwh median 429 g/kWh" in message and "gpt3_175b.toml" in message
    with pytest.raises(CarbonMCError, match="did you mean 'pre-training'"):
        carbon_mc.claims.model_card_block(scenario, np.ones(4), training_type="Pre Training")


# --- plots and the report ------------------------------------------------------------------------------

NAME = r"GPT $x^2$ \frac{ $\nocmd$ a_b^c <script>alert(1)</script>"
LABEL = r"_tracker $5 \sqrt{ <b>"


@pytest.fixture
def hostile_scenario(tmp_path):
    text = (MODELS / "gpt3_175b.toml").read_text()
    text = text.replace('name = "GPT-3 175B"', f"name = '{NAME}'", 1)
    text = text.replace('label = "Carbontracker 2020: GPT-3 CO2e"', f"label = '{LABEL}'", 1)
    path = tmp_path / "hostile.toml"
    path.write_text(text)
    return path


def test_literal_labels_are_never_mathtext():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.text import Text

    from carbon_mc.plots import legend_label, literal

    for text in (NAME, LABEL, "$", "\\$", "a\\$b$", "cost $5 and $6", "x^2_i"):
        shown, math = Text(text=literal(text))._preprocess_math(literal(text))
        assert (shown, math) == (text, False)
    assert legend_label("_hidden") == " _hidden"  # matplotlib leaves labels starting with "_" out of a legend


def test_check_compare_sensitivity_plots_with_dollar_names(tmp_path, capsys, hostile_scenario):
    """Before: a name with "$" raised a mathtext ParseFatalException (a traceback) in every --plot."""
    assert main(["check", str(hostile_scenario), "--draws", "2048", "--plot", str(tmp_path / "c.png")]) == 0
    assert main(["compare", str(hostile_scenario), "gpt3_175b", "--draws", "2048", "--plot", str(tmp_path / "m.png")]) == 0
    assert main(["sensitivity", str(hostile_scenario), "--base-draws", "256", "--plot", str(tmp_path / "s.png"),
                 "--group", "$g^2_x$=grid_gco2_per_kwh,pue"]) == 0
    written = sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".png")
    assert len(written) >= 3 and all((tmp_path / n).stat().st_size > 1000 for n in written), written


def test_report_escapes_every_label(tmp_path, hostile_scenario):
    page = tmp_path / "r.html"
    assert main(["report", str(hostile_scenario), "--html", str(page), "--draws", "2048", "--base-draws", "256"]) == 0
    html = page.read_text()
    assert "<script" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "$x^2$" in html and "_tracker $5" in html


def test_check_plot_on_a_deployment(tmp_path):
    """Before: `check bloom_176b_api --plot` raised KeyError on its serving outputs."""
    plot = tmp_path / "x.png"
    assert main(["check", "bloom_176b_api", "--draws", "2048", "--plot", str(plot)]) == 0
    assert any(p.suffix == ".png" and p.stat().st_size > 1000 for p in tmp_path.iterdir())


def test_one_subprocess_run_has_no_traceback(tmp_path):
    """The same contract end to end, as a user's shell sees it."""
    fixture = nvidia_smi_csv(tmp_path / "gpu.csv", ("1000000.00 W",) * 4)
    r = subprocess.run([sys.executable, "-m", "carbon_mc.cli", *map(str, import_args("power-log", fixture, tmp_path / "o.toml"))],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "gpu.csv" in r.stderr and "not physical" in r.stderr
    only(tmp_path, "gpu.csv")
