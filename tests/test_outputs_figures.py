"""Figures legible at the size they are shown: readable labels, legends off the data, a phone layout that keeps its type.

A narrow figure is shown at most 336 CSS px wide on a 360 px phone (the report's 12 px padding each
side); SVG text of s points is drawn s * 4/3 CSS px high at full size, so its smallest type of
`smallest` points stays at least 9 CSS px high when the figure is at most
smallest * 4/3 * 336 / (9 * 96) inches wide.
"""

import matplotlib
import numpy as np
import pytest

import carbon_mc

matplotlib.use("Agg")

PHONE_PX, MIN_PX = 336, 9.0


def texts(fig):
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]


def tight_width_in(fig) -> float:
    fig.canvas.draw()
    return fig.get_tightbbox(fig.canvas.get_renderer()).width


def below_axes(fig) -> None:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        if ax.get_visible() and ax.get_legend() is not None:
            legend = ax.get_legend().get_window_extent(renderer)
            assert legend.y1 <= ax.get_window_extent(renderer).y0 + 1
            label = ax.xaxis.label.get_window_extent(renderer)
            assert legend.y1 <= label.y0 + 1  # under the x label too, not over it


@pytest.fixture(scope="module")
def checks():
    return carbon_mc.check_claims("models/serving/bloom_176b_api.toml", num_draws=2048, seed=0)


def test_the_narrow_layout_keeps_its_type_at_a_phones_width(checks):
    from carbon_mc.plots.distribution import plot_on_scope

    fig = plot_on_scope(checks, narrow=True)
    smallest = min(t.get_fontsize() for t in texts(fig))
    assert smallest >= 10.0
    assert tight_width_in(fig) <= smallest * 4 / 3 * PHONE_PX / (MIN_PX * 96)  # 5.19 in at 10 pt
    assert len([ax for ax in fig.axes if ax.get_visible()]) == len({(c.quantity, c.accounting["grid_basis"]) for c in checks}) \
        or len(fig.axes) >= 2
    below_axes(fig)
    # one panel per row: every panel starts at the same x
    assert len({round(ax.get_position().x0, 3) for ax in fig.axes if ax.get_visible()}) == 1


def test_wide_layout_legends_sit_below_the_x_labels(checks):
    from carbon_mc.plots.distribution import plot_on_scope

    fig = plot_on_scope(checks)
    below_axes(fig)
    assert min(t.get_fontsize() for t in texts(fig)) >= 7.5  # 10 CSS px at full size


def test_life_cycle_figure():
    from carbon_mc.plots.lifecycle import cumulative_tco2e, plot_lifecycle

    np.testing.assert_allclose(cumulative_tco2e(np.array([10.0, 20.0]), np.array([1.0, 2.0]), np.array([0.0, 5.0])),
                               [[10.0, 20.0], [15.0, 30.0]])
    ds = carbon_mc.lifecycle("bloom_176b", "bloom_176b_api", num_draws=2048, seed=0)
    for narrow in (False, True):
        fig = plot_lifecycle(ds, narrow=narrow)
        below_axes(fig)
        labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert any("break-even" in x for x in labels) and any("18 days" in x for x in labels)
        if narrow:
            smallest = min(t.get_fontsize() for t in texts(fig))
            assert tight_width_in(fig) <= smallest * 4 / 3 * PHONE_PX / (MIN_PX * 96)


def test_comparison_figure_names_its_quantity_readably():
    from carbon_mc.plots.claims import plot_comparison

    c = carbon_mc.compare("llama31_8b", "llama31_70b", num_draws=2048, seed=0)
    fig = plot_comparison(c)
    xlabels = [ax.get_xlabel() for ax in fig.axes]
    assert xlabels[0] == "ratio B / A of total emissions, operational plus embodied"
    assert xlabels[1] == "B - A of total emissions, operational plus embodied (t CO2e)"
    assert not any("total_tco2e" in x for x in xlabels)
