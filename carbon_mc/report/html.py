"""The report as one self-contained HTML page: inline CSS, figures as inline SVG, no script, no network.

One ``<section>`` per scenario (a page of its own when printed): the ranges, the distribution
figure (published figures marked only on histograms of their own scope), the claim checks, the
sensitivity ranking, the assumptions (every prior with its units and source) and the model-card
block (a training run's; a deployment has none). `render_page` takes
`carbon_mc.report.content.ScenarioReport` objects and returns the text.

Readable on any screen: every table sits in a wrapper that scrolls sideways on a narrow screen
(the page itself never does), figures scale to the width and come in two layouts (side by side on
a wide screen and in print; one panel per row in larger type below 600 px, so that their text stays
at least 9 CSS px high on a 360-390 px phone), legends sit below the plotted data, and
the figures' text is SVG text (searchable, selectable, read by screen readers) with a ``<title>``
and ``<desc>`` naming what each figure shows.
"""

from __future__ import annotations

import datetime
import html
import io
import itertools
import math
from collections.abc import Sequence

import numpy as np

from ..plots import units_label
from ..sampling import package_version
from ..scenarios.deployment import ServingScenario
from .content import LifecycleReport, ScenarioReport

__all__ = ["CSS", "figure_svg", "render_page"]

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b2631; margin: 0 auto;
       max-width: 1180px; padding: 24px; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #2471a3; padding-bottom: 4px; }
h3 { margin-top: 1.6em; color: #2471a3; }
.table-scroll { overflow-x: auto; max-width: 100%; margin: 8px 0 16px; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; margin: 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #d5d8dc; padding: 4px 10px; text-align: right; vertical-align: top; }
th { background: #eaf2f8; } td.text, th.text { text-align: left; } td.source { text-align: left; font-size: 0.85em; max-width: 420px; }
figure { margin: 8px 0; max-width: 100%; } figure svg { max-width: 100%; height: auto; display: block; }
figure.narrow { display: none; }
@media (max-width: 600px) { figure.wide { display: none; } figure.narrow { display: block; } }
section.lifecycle figure.wide svg { max-width: 760px; }
figcaption { font-size: 0.85em; color: #566573; }
pre { background: #f4f6f7; border: 1px solid #d5d8dc; padding: 10px; white-space: pre-wrap; font-size: 0.85em; }
.facts { color: #566573; } .verdict { font-weight: 600; } footer { margin-top: 32px; font-size: 0.8em; color: #566573; }
section.scenario + section.scenario { break-before: page; margin-top: 48px; }
code.name { font-size: 0.8em; color: #566573; }
@media (max-width: 600px) { body { padding: 12px; } th, td { padding: 4px 6px; } td.source { min-width: 240px; } }
@media print { body { max-width: none; } .table-scroll { overflow: visible; } figure.wide { display: block; }
               figure.narrow { display: none; } }
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def number_text(x: float) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if x == 0:
        return "0"
    if 1e3 <= abs(x) < 1e9:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def html_table(header: list[str], rows: list[list[str]], text_columns: tuple[int, ...] = (0,), source_column: int | None = None) -> str:
    def cls(i: int) -> str:
        return ' class="source"' if i == source_column else ' class="text"' if i in text_columns else ""

    head = "".join(f"<th{cls(i)}>{_e(h)}</th>" for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<div class="table-scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def figure_svg(fig, *, title: str | None = None, description: str | None = None) -> str:
    """A matplotlib figure as inline SVG markup (the ``<svg>`` element only), then closes it.

    Text stays text (``svg.fonttype`` "none": ``<text>`` elements, not glyph paths); `title` and
    `description` become the figure's ``<title>`` and ``<desc>`` (role "img", labelled by them).
    """
    import matplotlib
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    svg = text[text.index("<svg"):]
    if title is None and description is None:
        return svg
    end = svg.index(">") + 1
    uid = f"fig{next(_FIGURE_IDS)}"
    labels = " ".join(x for x, v in ((f"{uid}-title", title), (f"{uid}-desc", description)) if v)
    opening = svg[:end - 1] + f' role="img" aria-labelledby="{labels}">'
    inner = (f'<title id="{uid}-title">{_e(title)}</title>' if title else "") + (
        f'<desc id="{uid}-desc">{_e(description)}</desc>' if description else "")
    return opening + inner + svg[end:]


_FIGURE_IDS = itertools.count(1)


def _facts(r: ScenarioReport) -> str:
    s = r.scenario
    parts = ["deployment (serving)" if r.is_deployment else "training run", f"hardware {s.hardware}"]
    if r.is_deployment:
        replicas = getattr(s, "replicas", None)
        per_replica = getattr(s, "devices_per_replica", None)
        if replicas and per_replica:
            parts.append(f"{replicas:,.0f} replica(s) of {per_replica:,.0f} devices")
        for label, value in (("requests", getattr(s, "requests", None)), ("days", getattr(s, "days", None))):
            if value:
                parts.append(f"{value:,.0f} {label}")
        for key in ("stack", "load"):  # weighted choices, drawn per draw
            weights = s.choice_weights(key) if isinstance(s, ServingScenario) else []
            if weights:
                parts.append(f"{key} " + ", ".join(f"{c} {w:.3g}" for c, w in weights) + " (drawn per draw)")
    else:
        if getattr(s, "devices", None):
            parts.append(f"{s.devices:,.0f} devices")
        if getattr(s, "device_hours", None):
            parts.append(f"{s.device_hours:,.0f} device-hours")
    parts += [f"{k} {v}" for k, v in (("grid region", s.region), ("data centre", s.datacenter), ("year", s.year)) if v]
    source = f"<br>Run facts: {_e(s.source)}" if s.source else ""
    return f'<p class="facts">{_e("; ".join(parts))}{source}</p>'


def _ranges(r: ScenarioReport) -> str:
    rows = []
    for name in r.run.variables:
        s = r.run.summary[name]

        def stat(k, s=s):
            return float(s.sel(stat=k))

        meta = r.run.output_table[name]
        rows.append([_e(meta.long_name), _e(units_label(meta.units)), number_text(stat("median")),
                     f"{number_text(stat('p5'))} – {number_text(stat('p95'))}",
                     f"{number_text(stat('hdi90_lower'))} – {number_text(stat('hdi90_upper'))}",
                     number_text(stat("mean")), number_text(stat("sd"))])
    return html_table(["quantity", "units", "median", "90% interval (5–95%)", "90% HDI", "mean", "sd"], rows, (0, 1))


def _distribution(r: ScenarioReport) -> str:
    """The distribution figure twice: side by side for a wide screen, one panel per row in larger type for a phone.

    CSS shows one of the two (`CSS`: ``figure.narrow`` below 600 px, ``figure.wide`` above and in print).
    """
    from ..plots.distribution import plot_on_scope, plot_outputs

    name = r.scenario.name
    if r.checks:
        caption = "Each published figure is marked only on the distribution of its own scope (quantity, grid basis, PUE)."
        marked = "; ".join(f"{c.claim.label or 'claim'} {number_text(c.claim_value)} {c.units} at percentile {c.percentile:.1f}"
                           for c in r.checks)
        description = (f"Histograms of {name}'s draws, one panel per scope, with the median, the 90% interval and each "
                       f"published figure marked: {marked}.")

        def make(narrow: bool):
            return plot_on_scope(r.checks, narrow=narrow)
    else:
        shown = ["total_gco2e_per_request", "total_kgco2e_per_day"] if r.is_deployment else ["operational_tco2e", "total_tco2e"]
        shown = [name for name in shown if r.run.draws is not None and name in r.run.draws]  # no per-day figure without traffic
        caption = "The scenario carries no published figure to mark."
        description = f"Histograms of {name}'s draws of {' and '.join(shown)}, with the median and the 90% interval."

        def make(narrow: bool):
            return plot_outputs(r.run.draws, shown, narrow=narrow)
    title = f"Distribution of {name}'s footprint"
    return "".join(f'<figure class="distribution {layout}">{figure_svg(make(layout == "narrow"), title=title, description=description)}'
                   f"<figcaption>{_e(caption)}</figcaption></figure>" for layout in ("wide", "narrow"))


def _checks(r: ScenarioReport) -> str:
    from ..plots.distribution import scope_title

    if not r.checks:
        return "<p>No claim to check: the scenario has no [reported] figures or [[claims]].</p>"
    rows = []
    for c in r.checks:
        p = f"{c.prob_at_least:.3f}" if c.prob_at_least > 0 else f"0 of {c.num_draws:,}"
        ratio = (f"{number_text(c.ratio_median)} ({number_text(c.ratio_interval[0])}–{number_text(c.ratio_interval[1])})"
                 if math.isfinite(c.ratio_median) else "–")
        rows.append([_e(c.claim.label or "claim"), f"{number_text(c.claim_value)} {_e(c.units)}", _e(scope_title(c).replace("\n", "; ")),
                     f"{c.percentile:.1f}", p, ratio, f'<span class="verdict">{_e(c.verdict)}</span>'])
    table = html_table(["claim", "value", "checked against", "percentile", "P(true ≥ claim)", "claim / median (90%)", "verdict"],
                   rows, (0, 2, 6))
    return table + "".join(_method_checks(c) for c in r.checks if c.method is not None)


def _method_checks(c) -> str:
    """A claim that states its method: its arithmetic verdict, its physics verdict in words, and the gap
    between the estimate and the claim factor by factor (geometric means and 90% intervals of the same draws)."""
    m = c.method
    a, d = m.arithmetic, m.decomposition
    head = (f"<h4>{_e(c.claim.label or 'claim')}: how the figure was computed</h4>"
            f"<p>Method: {_e(m.method.name or 'the card’s own inputs')} ({_e(m.method.description)}).</p>"
            f'<p><b>Arithmetic:</b> {_e(a.sentence)}.</p><p><b>Physics:</b> <span class="verdict">{_e(m.summary)}</span>.</p>')
    if d is None:
        return head + (f"<p>No decomposition: {_e(m.reason)}.</p>" if m.reason else "")
    rows = [[_e(f.label), "" if f.card is None else number_text(f.card), "" if f.estimate is None else number_text(f.estimate),
             f"{f.geometric_mean:.3g}", f"{f.interval[0]:.3g} – {f.interval[1]:.3g}", "yes" if f.counted else "no"]
            for f in d.factors]
    rows.append([f"<b>estimate / claim</b> ({_e(d.estimate_quantity)})", "", "", f"<b>{d.ratio_geometric_mean:.3g}</b>",
                 f"{d.ratio_interval[0]:.3g} – {d.ratio_interval[1]:.3g}", ""])
    note = ("<p>Each factor is a ratio per draw (the estimate’s value over the card’s); the factors multiply to "
            "estimate / claim in every draw, and their geometric means multiply to its geometric mean. "
            f"On its own method (the parts it leaves out removed) the figure sits at percentile {d.own_method_percentile:.1f}.</p>")
    return head + html_table(["factor of estimate / claim", "card", "estimate (median)", "× (geometric mean)", "90% interval",
                          "counted by the card"], rows, (0, 5)) + note


def _ranking(r: ScenarioReport) -> str:
    a = r.sensitivity_attrs
    names = {x["name"]: x["long_name"] for x in r.assumptions}

    def readable(key: str) -> str:
        parts = [p.strip() for p in str(key).split(",")]  # a group of inputs is named by its members
        long = "; ".join(names.get(p, p.replace("_", " ")) for p in parts)
        return f'{_e(long)}<br><code class="name">{_e(key)}</code>'

    rows = [[readable(row["input"]), f"{row['ST']:.3f}", f"{row['ST_lower']:.3f} – {row['ST_upper']:.3f}", f"{row['S1']:.3f}",
             f"{row['S1_lower']:.3f} – {row['S1_upper']:.3f}"] for row in r.ranking]
    output = r.run.output_table[r.sensitivity_output].long_name if r.sensitivity_output in r.run.output_table else r.sensitivity_output
    note = (f"<p>Sobol' indices of {_e(output)} (Saltelli design, {a['num_base']:,} base rows, {a['num_evaluations']:,} "
            f"evaluations; {float(a['conf_level']):.0%} bootstrap intervals from {a['num_resamples']:,} resamples). "
            "ST: share of the variance involving the input; S1: its share alone.</p>")
    return note + html_table(["input", "total order ST", "interval", "first order S1", "interval"], rows)


def _assumptions(r: ScenarioReport) -> str:
    rows = []
    for a in r.assumptions:
        interval = "fixed" if a["distribution"] == "fixed" else (
            f"{number_text(a['p5'])} – {number_text(a['p95'])}" if not a["components"] else "joint: " + ", ".join(a["components"]))
        variant = a["variant"] + (f" ({a['year']})" if a["year"] else "")
        rows.append([_e(a["long_name"]), _e(units_label(a["units"])), _e(a["distribution"]), _e(variant),
                     number_text(a["median"]), _e(interval), _e(a["source"])])
    return html_table(["input", "units", "distribution", "variant", "median", "90% interval", "source"], rows, (0, 1, 2, 3), 6)


SAMPLERS = {"qmc": "randomized quasi-Monte Carlo, scrambled Sobol' points", "mc": "Monte Carlo"}


def _model_card(r: ScenarioReport) -> str:
    if r.model_card is None:
        return ("<p>No model card: a Hugging Face <code>co2_eq_emissions</code> block reports a training run's "
                "emissions, and this is a deployment.</p>")
    return (f"<p>A Hugging Face <code>co2_eq_emissions</code> block from the same draws as the ranges and the claim "
            f"checks (<code>emissions</code>: operational CO2e in grams).</p><pre>{_e(r.model_card)}</pre>")


def _section(r: ScenarioReport) -> str:
    info = r.run.info
    how = SAMPLERS.get(info["method"], info["method"])
    uses = "the ranges, the distribution and the claim checks" + ("" if r.model_card is None else " and the model card")
    drawn = (f"{info['num_draws']:,} draws ({how}), seed {r.run.seed}: {uses} all come from these draws "
             "(a claim on another accounting basis from the same uniforms)")
    return (f'<section class="scenario" id="{_e(r.scenario.name)}"><h2>{_e(r.scenario.name)}</h2>{_facts(r)}'
            f"<h3>Ranges</h3><p>{_e(drawn)}.</p>{_ranges(r)}"
            f"<h3>Distribution</h3>{_distribution(r)}"
            f"<h3>Claim checks</h3>{_checks(r)}"
            f"<h3>What drives the spread</h3>{_ranking(r)}"
            f"<h3>Assumptions</h3>{_assumptions(r)}"
            f"<h3>Model card</h3>{_model_card(r)}</section>")


LIFECYCLE_ROWS = ("training_tco2e", "serving_tco2e", "lifecycle_tco2e", "training_share_fraction", "serving_share_fraction",
                  "break_even_days", "break_even_requests")


def _lifecycle_section(life: LifecycleReport) -> str:
    """A model's life: training once, then serving for the deployment's period, as distributions."""
    from ..plots.lifecycle import plot_lifecycle

    ds = life.draws
    tr, sv = life.training, life.serving

    def row(label: str, units: str, x) -> list[str]:
        x = np.asarray(x, np.float64)
        p5, median, p95 = (float(v) for v in np.quantile(x, [0.05, 0.5, 0.95]))
        return [_e(label), _e(units), number_text(median), f"{number_text(p5)} – {number_text(p95)}", number_text(float(np.mean(x)))]

    rows = []
    for name in LIFECYCLE_ROWS:
        var = ds[name]
        units = var.attrs["units"]
        if units == "1" and name.endswith("_fraction"):
            rows.append(row(var.attrs["long_name"], "%", var.values * 100))
        elif name == "break_even_requests":
            rows.append(row(var.attrs["long_name"], "requests", var.values))
        else:
            rows.append(row(var.attrs["long_name"], units_label(units), var.values))
    per_day_t = ds["serving_tco2e"].values / life.days
    rows.insert(2, row("serving emissions per day of the deployment (kg CO2e)", "kg", per_day_t * 1e3))
    rows.insert(3, row("serving emissions per year of the same use (t CO2e)", "t", per_day_t * 365.0))
    table = html_table(["quantity", "units", "median", "90% interval (5–95%)", "mean"], rows, (0, 1))
    how = (f"{ds.attrs['num_draws']:,} draws, seed {ds.attrs['seed']}: {ds.attrs['sampler']}. The training figures are the "
           f"very draws of {tr.name}'s section; inputs both phases draw from the same prior ({ds.attrs['shared_inputs'] or 'none'}) "
           "take one draw for both.")
    even = float(np.median(ds["break_even_days"].values))
    description = (f"Cumulative CO2e of {tr.name} plus {sv.name} against days of serving: median and 90% interval, the "
                   f"training alone (median {number_text(float(np.median(ds['training_tco2e'].values)))} t), the deployment's "
                   f"period of {number_text(life.days)} days and the median break-even after {number_text(even)} days of serving.")
    title = f"Life cycle of {tr.name} and {sv.name}"
    figures = "".join(f'<figure class="lifecycle {layout}">'
                      f"{figure_svg(plot_lifecycle(ds, narrow=layout == 'narrow'), title=title, description=description)}"
                      "<figcaption>Training once, then serving at the deployment's rate: the emissions since training "
                      "began.</figcaption></figure>" for layout in ("wide", "narrow"))
    uid = "lifecycle-" + "-".join(x.replace(" ", "_") for x in (tr.name, sv.name))
    facts = (f"{tr.name} trained once, then served as {sv.name} for {number_text(life.days)} days (the deployment's period); "
             "break-even: the days, and the requests, of serving that emit as much as the training.")
    return (f'<section class="scenario lifecycle" id="{_e(uid)}"><h2>{_e(title)}</h2><p class="facts">{_e(facts)}</p>'
            f"<h3>Totals, shares and break-even</h3><p>{_e(how)}</p>{table}"
            f"<h3>Emissions over the model's life</h3>{figures}</section>")


def render_page(reports: list[ScenarioReport], *, title: str | None = None, lifecycles: Sequence[LifecycleReport] = ()) -> str:
    """The whole page: a title, one section per scenario, one per life cycle, and a footer naming carbon-mc's version and the date."""
    title = title or "Carbon footprint: " + ", ".join(r.scenario.name for r in reports)
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{_e(title)}</h1><p class=\"facts\">Distributions, not point estimates: every uncertain input is a prior "
            "with units and a cited source, pushed through the carbon model by (quasi-)Monte Carlo.</p>"
            + "".join(_section(r) for r in reports)
            + "".join(_lifecycle_section(life) for life in lifecycles)
            + f"<footer>carbon-mc {_e(package_version('carbon-mc'))}, {_e(when)}.</footer></body></html>\n")
