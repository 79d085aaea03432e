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
    # ranges, checks, ranking, assumptions per scenario, and one factor table per claim that states its method
    method_tables = text.count("factor of estimate / claim")
    assert outline.svgs >= 2 and outline.tables == 2 * 4 + method_tables
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


# --- deployments, and a page mixing a training run with a deployment -----------------------------
@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    path = tmp_path_factory.mktemp("mixed") / "mixed.html"
    assert main(["report", "gpt3_175b", "models/serving/bloom_176b_api.toml", "--html", str(path), "--draws", "6000",
                 "--base-draws", "256"]) == 0
    return path.read_text()


def test_a_deployment_has_its_own_section(mixed):
    outline = Outline()
    outline.feed(mixed)
    api = next(h for h in outline.headings if h.startswith("BLOOM 176B API"))
    first = outline.headings.index(api)
    assert outline.headings[first + 1:first + 1 + len(SECTIONS)] == SECTIONS and "GPT-3 175B" in outline.headings
    section = mixed[mixed.index(f'id="{api}"'):]
    for shown in ("energy per request", "total emissions per request", "per day of deployment", "deployment emissions",
                  "accelerators and host (IT, no PUE)"):  # per request, per day, totals, and the scopes of its figures
        assert shown in section, shown
    assert "Luccioni et al. 2022: ~19 kg CO2e per day" in section and "inside the central 90% interval" in section
    assert "No model card" in section and "<pre>co2_eq_emissions" not in section
    assert "deployment (serving)" in section and "230,768 requests" in section


# --- readable everywhere: read from the page's HTML and CSS -------------------------------------
def test_tables_scroll_legends_sit_off_the_data_svg_text_is_text(mixed):
    assert re.search(r"\.table-scroll \{[^}]*overflow-x: auto", mixed)
    tables = re.findall(r"<table>", mixed)
    wrapped = re.findall(r'<div class="table-scroll"><table>', mixed)
    assert tables and len(wrapped) == len(tables)  # every table in a wrapper that scrolls on its own
    assert re.search(r"figure svg \{[^}]*max-width: 100%", mixed)
    svgs = re.findall(r"<svg.*?</svg>", mixed, re.S)
    assert len(svgs) == 4  # each scenario's distribution in two layouts: wide (desktop, print) and narrow (phone)
    for svg in svgs:
        opening = svg[:svg.index(">")]
        assert 'role="img"' in opening and "aria-labelledby" in opening
        assert re.search(r"<title id=\"fig\d+-title\">Distribution of", svg) and "<desc id=" in svg
        assert "<text" in svg and "median" in re.sub(r"<[^>]+>", " ", svg)  # legend text as SVG text, not glyph paths
    # Sobol' table: readable long names, the code name below in small type
    assert re.search(r"<td class=\"text\">grid carbon intensity[^<]*<br><code class=\"name\">grid_gco2_per_kwh</code>", mixed, re.I) \
        or "<code class=\"name\">grid_gco2_per_kwh</code>" in mixed


def test_legend_is_below_the_axes():
    import matplotlib

    matplotlib.use("Agg")
    checks = carbon_mc.check_claims("gpt3_175b", num_draws=2000, seed=0)
    from carbon_mc.plots.distribution import plot_on_scope

    fig = plot_on_scope(checks)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        if ax.get_visible() and ax.get_legend() is not None:
            legend, frame = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
            assert legend.y1 <= frame.y0 + 1  # entirely below the plotting area: never over bars or marks


FIGURE_TEXT = ("const sizes=[];for(const svg of document.querySelectorAll('figure svg')){if(!svg.getClientRects().length)continue;"
               "for(const t of svg.querySelectorAll('text')){if(!t.textContent.trim())continue;const m=t.getScreenCTM();"
               "sizes.push(parseFloat(getComputedStyle(t).fontSize)*Math.hypot(m.a,m.b));}}")


def _measured(page_text: str, tmp_path, width: int) -> dict:
    """The page as Chromium lays it out `width` CSS px wide: page, figure and table widths, and the rendered size of
    every text of the figures shown (font size times the SVG's scale on screen, in CSS px).

    Headless Chromium keeps its window at least 500 px wide, so the page is laid out in an iframe of
    `width` px (its own viewport: media queries and innerWidth see `width`); a test-only copy of the
    page carries the probe script, and the frame page reads its result (file pages may read each
    other with --allow-file-access-from-files).
    """
    probe = ("<script>const d=document.documentElement;const t=[...document.querySelectorAll('.table-scroll')];" + FIGURE_TEXT +
             "document.title=JSON.stringify({page:d.scrollWidth,view:window.innerWidth,"
             "svg:Math.max(...[...document.querySelectorAll('figure svg')].filter(s=>s.getClientRects().length)"
             ".map(s=>s.getBoundingClientRect().right)),"
             "figures:[...document.querySelectorAll('figure')].filter(f=>f.getClientRects().length).map(f=>f.className),"
             "text:sizes.length,smallest:Math.min(...sizes),"
             "wrappers:Math.max(...t.map(w=>w.getBoundingClientRect().right))});</script>")
    copy = tmp_path / f"probe_{width}.html"
    copy.write_text(page_text.replace("</body>", probe + "</body>"))
    frame = tmp_path / f"frame_{width}.html"
    frame.write_text(f'<!DOCTYPE html><html><head><title>-</title></head><body style="margin:0">'
                     f'<iframe src="{copy.name}" style="border:0;width:{width}px;height:3000px"></iframe>'
                     "<script>window.onload=()=>{document.title=frames[0].document.title;}</script></body></html>")
    dom, _ = chromium(f"--window-size={max(width, 500)},900", "--allow-file-access-from-files", "--virtual-time-budget=10000",
                      "--dump-dom", url=frame.as_uri())
    import json

    return json.loads(html_unescape(re.search(r"<title>(.*?)</title>", dom, re.S).group(1)))


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs Debian's package)")
@pytest.mark.parametrize("width", [1280, 390])
def test_no_sideways_scroll_of_the_page_in_chromium(mixed, tmp_path, width):
    m = _measured(mixed, tmp_path, width)
    assert m["view"] == width, m  # laid out at this width, not at the window's minimum
    assert m["page"] <= m["view"] + 1, m  # only the tables' wrappers scroll sideways, never the page
    assert m["svg"] <= m["view"] + 1 and m["wrappers"] <= m["view"] + 1, m
    shot = tmp_path / f"shot_{width}.png"
    chromium(f"--window-size={max(width, 500)},1600", "--allow-file-access-from-files", f"--screenshot={shot}",
             url=(tmp_path / f"frame_{width}.html").as_uri())
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB"))[:, :width]
    assert (pixels[:300] < 100).all(axis=-1).sum() > 200  # the title is drawn
    assert (pixels[:, width - 2:] == 255).all()  # nothing drawn at the frame's right edge: no text cut off there


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs Debian's package)")
@pytest.mark.parametrize(("width", "layout", "smallest"), [(1280, "wide", 9.0), (390, "narrow", 9.0), (360, "narrow", 9.0)])
def test_figure_text_is_legible_at_each_width(mixed, tmp_path, width, layout, smallest):
    m = _measured(mixed, tmp_path, width)
    assert m["figures"] == [f"distribution {layout}"] * 2, m  # one layout of each figure shown: wide, or narrow on a phone
    assert m["text"] > 50 and m["smallest"] >= smallest, m  # every tick, label and legend text at >= 9 CSS px


def test_print_shows_the_wide_figures(mixed):
    css = re.search(r"@media print \{(.*?)\}\s*\}", mixed, re.S).group(1)
    assert "figure.wide { display: block; }" in css and "figure.narrow { display: none;" in css
