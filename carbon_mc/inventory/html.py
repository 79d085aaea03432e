"""An inventory's report as one self-contained HTML page (inline CSS and SVG, no script, no network).

Sections: the year's totals with location- and market-based Scope 2 side by side and embodied
carbon (Scope 3) apart; the totals month by month with their 90% bands; the largest contributors
(the groups of the report's ``by`` labels, with their share of the total and of the variance); and
the shared inputs that drive the spread (each shared input's first-order share of the variance of
the location-based total). Every number comes from `inventory_report` (stored and reused as any
report is), so the page shows the numbers ``carbon-mc inventory report --json`` prints. Tables sit
in wrappers that scroll sideways on a narrow screen; figures scale to the width.

The shared inputs' shares are given-data first-order indices (Plischke, Borgonovo & Smith 2013,
"Global sensitivity measures from given data", EJOR 226:536-550): the draws of the total sorted by
the input's draws, cut into `BINS` equal-count bins, Var(bin means) / Var(total), less the
between-bin variance that noise alone gives ((bins - 1) / draws x the mean within-bin variance).
"""

from __future__ import annotations

import datetime
import html
from pathlib import Path

import numpy as np

from ..priors import PriorTable, load_priors
from ..report.html import CSS, figure_svg, html_table, number_text
from ..sampling import package_version
from .report import InventoryReport, inventory_report
from .sharing import RULES
from .store import InventoryStore
from .totals import METRICS, prepare_all, shared_draws

__all__ = ["BINS", "first_order_share", "inventory_html", "render_inventory_page", "shared_input_shares"]

BINS = 64
TOP = 15  # contributors shown
BASES = (("scope2_location_tco2e", "Scope 2, location-based"), ("scope2_market_tco2e", "Scope 2, market-based"),
         ("scope3_embodied_tco2e", "Scope 3, embodied"), ("total_location_tco2e", "total, location-based"),
         ("total_market_tco2e", "total, market-based"), ("energy_mwh", "energy"))


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def first_order_share(x: np.ndarray, y: np.ndarray, bins: int = BINS) -> float:
    """Given-data first-order share of Var(y) explained by x (Plischke et al. 2013): equal-count bins
    of x, between-bin variance of y less its noise floor, over Var(y). About 0 for an x that y does
    not depend on (to Monte Carlo error, roughly sqrt(2 bins) / draws), about 1 for y a function of x."""
    var = float(np.var(y))
    if var <= 0 or len(y) < 2 * bins:
        return 0.0
    order = np.argsort(x, kind="stable")
    parts = np.array_split(y[order], bins)
    n = len(y)
    means = np.array([p.mean() for p in parts])
    sizes = np.array([len(p) for p in parts])
    between = float(np.sum(sizes * (means - y.mean()) ** 2) / n)
    within = float(sum(np.sum((p - p.mean()) ** 2) for p in parts) / n)
    return (between - (bins - 1) / n * within) / var


def _group_rows(report: InventoryReport) -> dict[tuple, dict[str, dict]]:
    out: dict[tuple, dict[str, dict]] = {}
    for r in report.rows:
        out.setdefault(tuple(r["group"]), {})[r["metric"]] = r
    return out


def _interval(r: dict) -> str:
    return f"{number_text(r['median'])} ({number_text(r['lower'])} – {number_text(r['upper'])})"


def _totals_section(report: InventoryReport) -> str:
    total = _group_rows(report)[()]
    rows = [[_e(label), _e(total[m]["units"]), number_text(total[m]["median"]),
             f"{number_text(total[m]['lower'])} – {number_text(total[m]['upper'])}",
             number_text(total[m]["mean"]), number_text(total[m]["sd"])] for m, label in BASES]
    ci = round(100 * report.meta["ci_prob"])
    return html_table(["quantity", "units", "median", f"{ci}% interval", "mean", "sd"], rows, (0, 1))


def _over_time(monthly: InventoryReport) -> str:
    import matplotlib.pyplot as plt

    groups = {k: v for k, v in _group_rows(monthly).items() if k}
    months = sorted(groups)
    if not months:
        return "<p>No periods.</p>"
    ci = round(100 * monthly.meta["ci_prob"])
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = np.arange(len(months))
    for (metric, label), colour in zip(BASES[:3], ("#2471a3", "#27ae60", "#a04000"), strict=True):
        med = [groups[m][metric]["median"] for m in months]
        ax.fill_between(x, [groups[m][metric]["lower"] for m in months], [groups[m][metric]["upper"] for m in months],
                        color=colour, alpha=0.2, linewidth=0)
        ax.plot(x, med, color=colour, marker="o", markersize=3, label=f"{label}: median, {ci}% band")
    ax.set_xticks(x, [m[0] for m in months], rotation=45, ha="right", fontsize=9)
    ax.set_yscale("log")
    ax.set_ylabel("t CO2e per month (log scale)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2, fontsize=9, frameon=False)
    svg = figure_svg(fig, title="Emissions month by month",
                     description=f"Monthly medians with {ci}% bands of location-based and market-based Scope 2 and "
                                 f"embodied Scope 3 emissions, {months[0][0]} to {months[-1][0]}.")
    rows = [[_e(m[0]), *(_interval(groups[m][metric]) for metric, _ in BASES[:4]), str(groups[m]["total_location_tco2e"]["entries"])]
            for m in months]
    table = html_table(["month", *(f"{label}, t" for _, label in BASES[:4]), "entries"], rows)
    return (f'<figure class="over-time">{svg}<figcaption>Each month carries the entries that ran in it (an entry '
            f"spanning months is split by its days); bands are central {ci}% intervals.</figcaption></figure>{table}")


def _contributors(report: InventoryReport, top: int) -> str:
    import matplotlib.pyplot as plt

    groups = [(k, v) for k, v in _group_rows(report).items() if k]
    if not groups:
        return "<p>The report is the total only: give labels to group by (<code>--by team</code>).</p>"
    groups.sort(key=lambda kv: -kv[1]["total_location_tco2e"]["mean"])
    shown = groups[:top]
    by = list(report.by)
    rows = [[*(_e(v) for v in k), _interval(v["scope2_location_tco2e"]), _interval(v["scope2_market_tco2e"]),
             _interval(v["scope3_embodied_tco2e"]), _pct(v["total_location_tco2e"]["share_of_total"]),
             _pct(v["total_location_tco2e"]["share_of_variance"]), str(v["total_location_tco2e"]["entries"])] for k, v in shown]
    header = [*by, "location-based, t", "market-based, t", "embodied, t", "share of total", "share of variance", "entries"]
    table = html_table(header, rows, tuple(range(len(by))))
    height = 0.9 + 0.32 * len(shown)
    fig, ax = plt.subplots(figsize=(8, height))
    y = np.arange(len(shown))[::-1]
    names = [" / ".join(k) for k, _ in shown]
    ax.barh(y + 0.18, [100 * (v["total_location_tco2e"]["share_of_total"] or 0) for _, v in shown], 0.36, color="#2471a3",
            label="share of the total (mean)")
    ax.barh(y - 0.18, [100 * (v["total_location_tco2e"]["share_of_variance"] or 0) for _, v in shown], 0.36, color="#a04000",
            label="share of the variance")
    ax.set_yticks(y, names, fontsize=9)
    ax.set_xlabel("% of the location-based total (Scope 2 + 3)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.65 / height), ncol=2, fontsize=9, frameon=False)
    svg = figure_svg(fig, title="Largest contributors",
                     description=f"The {len(shown)} largest groups by {', '.join(by)}: share of the total and share of its "
                                 "variance (covariance allocation: the shares add up to 100%).")
    more = f" ({len(groups) - len(shown)} smaller groups not shown.)" if len(groups) > len(shown) else ""
    return (f'<figure class="contributors">{svg}<figcaption>Share of the variance: Cov(group, total) / Var(total); a group '
            f"whose inputs move with the others carries more of the spread than of the mean.{_e(more)}</figcaption></figure>"
            f"{table}")


def _stream_label(stream: str) -> tuple[str, str]:
    name, _, rest = stream.partition("@")
    return name, rest.partition("#")[0]


def _drivers(shares: list[tuple[str, int, float]], draws: int) -> str:
    if not shares:
        return "<p>No input is shared between entries under this report's sharing rules: every entry's spread is its own.</p>"
    rows = [[f"<code>{_e(_stream_label(s)[0])}</code>", _e(_stream_label(s)[1]), str(n), _pct(v)] for s, n, v in shares]
    explained = sum(v for _, _, v in shares)
    noise = np.sqrt(2 * BINS) / draws
    return (html_table(["shared input", "variant (place, class)", "entries sharing it", "first-order share of the variance"], rows, (0, 1))
            + f"<p>Together {_pct(explained)} of the variance of the location-based total; the rest comes from each run's "
              f"own inputs (MFU, overheads) and from interactions. Each share is a given-data first-order index "
              f"({BINS} bins of {draws:,} draws; Monte Carlo error about {_pct(noise)}).</p>")


def render_inventory_page(main: InventoryReport, monthly: InventoryReport, shares: list[tuple[str, int, float]], *,
                          title: str | None = None, top: int = TOP) -> str:
    """The page from a report grouped by labels (`main`), one by month (`monthly`) and the shared inputs'
    shares [(stream, entries sharing it, share)]."""
    meta = main.meta
    title = title or f"Inventory: {meta['entries']} entries"
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sharing = ", ".join(meta["sharing"]) or "none"
    facts = (f"{meta['entries']} entries, {meta['num_draws']:,} Monte Carlo draws, seed {meta['seed']}; inputs shared under "
             f"the rules {sharing} are drawn once per draw for every entry that shares them, every other input per entry. "
             f"Reports {main.report_id} (by {', '.join(main.by) or 'total'}) and {monthly.report_id} (by month) in the "
             f"database; priors {meta['priors_sha256'][:12]}.")
    body = (f"<h2>Totals</h2><p>{_e(facts)}</p>"
            "<p>Scope 2 location- and market-based side by side (GHG Protocol Scope 2 Guidance, dual reporting); "
            "embodied carbon of the hardware (Scope 3) apart.</p>" + _totals_section(main)
            + "<h2>Over time</h2>" + _over_time(monthly)
            + "<h2>Largest contributors</h2>" + _contributors(main, top)
            + "<h2>Shared inputs that drive the spread</h2>" + _drivers(shares, meta["num_draws"]))
    return ("<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}td.text {{ white-space: nowrap; }}</style></head><body><h1>{_e(title)}</h1>{body}"
            f"<footer>carbon-mc {_e(package_version('carbon-mc'))}, {_e(when)}.</footer></body></html>\n")


def shared_input_shares(db: str | Path, *, num_draws: int = 20_000, seed: int = 0, sharing=tuple(RULES), ci_prob: float = 0.9,
                        save: bool = True, reuse: bool = True, priors: PriorTable | None = None,
                        monthly: InventoryReport | None = None) -> list[tuple[str, int, float]]:
    """[(shared stream, entries sharing it, first-order share of the variance of the location-based total)],
    largest first: which shared inputs drive the inventory's spread (`first_order_share` on the same
    draws as the report's; `monthly`: the report by month with its draws, computed if not given).

    Raises:
      InputError: as `inventory_report`.
    """
    table = priors or load_priors()
    if monthly is None or monthly.draws is None:
        monthly = inventory_report(db, by="month", keep_draws=True, num_draws=num_draws, seed=seed, sharing=sharing,
                                   ci_prob=ci_prob, save=save, reuse=reuse, priors=table)
    assert monthly.draws is not None  # keep_draws
    total = np.zeros(num_draws)
    for cell in sorted(monthly.draws):
        values = monthly.draws[cell]
        total = total + values[METRICS.index("scope2_location_tco2e")] + values[METRICS.index("scope3_embodied_tco2e")]
    with InventoryStore(db) as store:
        entries = [e for _, e in store.entries()]
    prepared = prepare_all(entries, table, tuple(monthly.meta["sharing"]))
    users: dict[str, int] = {}
    for p in prepared.values():
        for stream in p.plan.values():
            if stream is not None:
                users[stream] = users.get(stream, 0) + 1
    inputs = shared_draws(list(prepared.values()), num_draws=num_draws, seed=seed)
    return sorted(((s, users[s], first_order_share(v, total)) for s, v in inputs.items() if np.ptp(v) > 0), key=lambda t: -t[2])


def inventory_html(db: str | Path, *, by=("team",), num_draws: int = 20_000, seed: int = 0, sharing=tuple(RULES),
                   ci_prob: float = 0.9, save: bool = True, reuse: bool = True, priors: PriorTable | None = None,
                   title: str | None = None, top: int = TOP) -> tuple[str, InventoryReport]:
    """(the HTML page, the report by `by`) of the inventory in `db`; the reports by `by` and by month are
    computed (or read back) by `inventory_report` with the same settings, so the page and ``--json`` agree.

    Raises:
      InputError: as `inventory_report`.
    """
    table = priors or load_priors()
    kw = {"num_draws": num_draws, "seed": seed, "sharing": sharing, "ci_prob": ci_prob, "save": save, "reuse": reuse,
          "priors": table}
    main = inventory_report(db, by=by, **kw)
    monthly = inventory_report(db, by="month", keep_draws=True, **kw)
    shares = shared_input_shares(db, monthly=monthly, **kw)
    return render_inventory_page(main, monthly, shares, title=title, top=top), main
