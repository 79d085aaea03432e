"""`carbon-mc report`: a self-contained page, checked as text and in a real browser (headless Chromium)."""

import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
import yaml

import carbon_mc
from carbon_mc.cli import main
from carbon_mc.plots.distribution import HIST_COLOR, MARK_COLORS, scope_groups

SECTIONS = ["Ranges", "Distribution", "Claim checks", "What drives the spread", "Assumptions", "Model card"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Outline(HTMLParser):
    """Headings, tables, figures and every external reference of a page."""

    def __init__(self):
        super().__init__()
        self.headings, self.tables, self.svgs, self.external, self.scripts = [], 0, 0, [], 0
        self._tag = None

    def handle_starttag(self, tag, attrs):
        self._tag = tag
        self.tables += tag == "table"
        self.svgs += tag == "svg"
        self.scripts += tag == "script"
        for key, value in attrs:
            if key in ("src", "href") and value and not value.startswith(("#", "data:")):
                self.external.append(value)

    def handle_data(self, data):
        if self._tag in ("h1", "h2", "h3") and data.strip():
            self.headings.append(data.strip())
        self._tag = None


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", "bloom_176b", "gpt3_175b", "--html", str(path), "--draws", "8000", "--base-draws", "512"]) == 0
    return path


def test_page_is_self_contained_with_every_section(page):
    text = page.read_text()
    outline = Outline()
    outline.feed(text)
    assert outline.external == [] and outline.scripts == 0 and "<link" not in text  # no network, no script
    assert outline.headings.count("Claim checks") == 2 and "BLOOM 176B" in outline.headings and "GPT-3 175B" in outline.headings
    first = outline.headings.index("BLOOM 176B")
    assert outline.headings[first + 1:first + 1 + len(SECTIONS)] == SECTIONS
    assert outline.svgs >= 2 and outline.tables == 2 * 4  # ranges, checks, ranking, assumptions per scenario
    card = re.search(r"<pre>(co2_eq_emissions:.*?)</pre>", text, re.S).group(1).replace("&quot;", '"').replace("&#x27;", "'")
    assert yaml.safe_load(card)["co2_eq_emissions"]["emissions"] > 0
    assert "Luccioni, Viguier, Ligozat 2022" in text and "g/kWh" in text  # assumptions carry sources and units


def test_published_figures_only_on_their_own_scope():
    groups = scope_groups(carbon_mc.check_claims("bloom_176b", num_draws=4000, seed=0))
    by_quantity = {g[0].quantity: [c.claim.label for c in g] for g in groups}
    assert by_quantity["accelerator_operational_tco2e"] == ["Luccioni et al. 2022: dynamic CO2e only"]  # 24.7 t, GPUs only
    assert all("dynamic" not in label for label in by_quantity["total_tco2e"])
    gpt3 = scope_groups(carbon_mc.check_claims("gpt3_175b", num_draws=4000, seed=0))
    assert all(c.quantity == g[0].quantity and c.accounting == g[0].accounting for g in gpt3 for c in g)
    assert "total_tco2e" not in {c.quantity for g in gpt3 for c in g if "operational" in c.claim.label.lower()}


def test_report_errors_are_one_line(tmp_path, capsys):
    assert main(["report", "bloom_176b", "--html", str(tmp_path / "r.pdf")]) == 2
    assert main(["report", "no_such_scenario", "--html", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("carbon-mc: error:") for line in err)
    assert list(tmp_path.iterdir()) == []


# --- in a real browser ------------------------------------------------------------------------
def chromium(*args, url):
    """Run headless Chromium on `url`; (stdout, the console messages it logged)."""
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--enable-logging=stderr",
           "--v=0", *args, url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True)
    return done.stdout, [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


def near(pixels: np.ndarray, hex_color: str, tol: int = 6) -> np.ndarray:
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    return np.all(np.abs(pixels[..., :3].astype(int) - rgb) <= tol, axis=-1)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs Debian's package)")
def test_page_in_headless_chromium(page, tmp_path):
    from PIL import Image

    # the console check catches errors: a page with a failing script is seen failing
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>console.error('deliberate'); missing();</script></body></html>")
    _, messages = chromium("--dump-dom", url=bad.as_uri())
    assert any("deliberate" in m for m in messages) and any("ReferenceError" in m for m in messages)

    dom, messages = chromium("--dump-dom", url=page.as_uri())
    assert messages == []  # no console error (nor any console message) on the report
    outline = Outline()
    outline.feed(dom)
    assert [h for h in outline.headings if h in SECTIONS] == SECTIONS * 2 and outline.svgs >= 2

    shot = tmp_path / "shot.png"
    _, messages = chromium("--window-size=1280,2400", f"--screenshot={shot}", url=page.as_uri())
    assert messages == []
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (2400, 1280)
    top, figure_band = pixels[:200], pixels[500:1000]
    assert (top < 100).all(axis=-1).sum() > 500  # the title's dark text is drawn
    bars = near(figure_band, HIST_COLOR)
    assert bars.sum() > 20_000  # the histograms' bars fill part of the figure band
    columns = np.flatnonzero(bars.any(axis=0))
    assert columns.min() < 640 < columns.max()  # two panels, left and right
    assert near(figure_band, MARK_COLORS[0]).sum() > 100  # a published figure's mark is drawn
    assert (pixels[1000:2400] != 255).any(axis=-1).mean() > 0.05  # the tables below are rendered, not blank
