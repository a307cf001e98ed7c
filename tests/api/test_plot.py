"""Plots render (and look right: see the notes in lawfit.plot) and reports embed them."""
import base64
import re

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from lawfit.api import fit  # noqa: E402
from lawfit.plot import figure_png, plot_are  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def runs():
    rng = np.random.default_rng(1)
    rows = []
    for fam, dE in (("a", 0.0), ("b", 0.15)):
        for N in [5e7, 1e8, 2e8, 4e8, 8e8]:
            D = np.geomspace(1e9, 80 * N, 12)
            L = (1.69 + dE + 406.4 * N**-0.34 + 410.7 * D**-0.28) * (1 + 0.004 * rng.standard_normal(D.size))
            rows.append(pd.DataFrame({"family": fam, "run": f"{fam}{N:g}", "N": N, "D": D, "loss": L}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def res():
    return fit(runs(), "chinchilla", y="loss", by="family", bootstrap=100, progress=False)


@pytest.mark.parametrize("kind, n_axes", [("fit", 2), ("frontier", 2), ("params", 10), ("residuals", 2)])
def test_every_plot_renders(res, kind, n_axes):
    fig = res.plot(kind)
    assert len([ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]) == n_axes
    png = figure_png(fig)
    assert png.startswith(PNG) and len(png) > 10_000


def test_fit_plot_draws_data_curves_extrapolation_and_bands(res):
    fig = res.plot("fit", extrapolate=10.0)
    ax = fig.axes[0]
    solid = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(solid) == 5 and len(dashed) == 5  # one curve per model size, fitted and extrapolated parts
    d_max = res.data().query("family == 'a'")["D"].max()
    assert max(ln.get_xdata().max() for ln in dashed) == pytest.approx(10 * d_max)
    assert len(ax.collections) >= 10  # 5 scatters + 5 bootstrap bands
    assert ax.get_xscale() == "log"
    figure_png(fig)


def test_params_plot_without_bootstrap_shows_the_normal_approximation():
    r = fit(runs(), "chinchilla", y="loss", by="family", progress=False)
    fig = r.plot("params", params=["alpha", "beta"])
    assert len(fig.axes) == 4
    figure_png(fig)
    with pytest.raises(ValueError, match="kind must be one of"):
        r.plot("pie")


@pytest.mark.slow
def test_html_report_is_self_contained_with_tables_and_images(tmp_path, res):
    out = res.report(tmp_path / "report.html")
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>")
    for heading in ("What was fitted", "Parameters", "Fit quality and status", "Derived quantities",
                    "Compute-optimal frontier", "Plots"):
        assert heading in text
    assert text.count("<table") >= 5 and "<td class=\"l\">a</td>" in text and "CONVERGED" in text
    images = re.findall(r"<img alt='(\w+)' src='data:image/png;base64,([A-Za-z0-9+/=]+)'>", text)
    assert [k for k, _ in images] == ["fit", "frontier", "params", "residuals"]
    assert all(base64.b64decode(b).startswith(PNG) for _, b in images)
    assert "src='http" not in text and 'src="http' not in text


def test_markdown_report_writes_the_images_beside_it(tmp_path, res):
    out = res.report(tmp_path / "report.md", plots=("fit",))
    text = out.read_text()
    assert "| group | E | A | alpha | B | beta |" in text
    assert "![fit](report_files/fit.png)" in text
    assert (tmp_path / "report_files" / "fit.png").read_bytes().startswith(PNG)


def test_are_heat_map():
    from lawfit.evaluate import evaluate

    rows = []
    for N in [1e8, 2e8, 4e8, 8e8, 1.6e9]:
        D = np.geomspace(1e9, 1e11, 15)
        rows.append(pd.DataFrame({"family": "f", "run": f"m{N:g}", "N": N, "D": D,
                                  "loss": 1.7 + 400 * N**-0.34 + 410 * D**-0.28}))
    ev = evaluate(pd.concat(rows), n_models=[2, 3, 4], fractions=[0.5, 1.0], progress=False, prune=16)
    fig = plot_are(ev)
    assert fig.axes[0].get_images()[0].get_array().shape == (3, 2)
    assert figure_png(ev.plot()).startswith(PNG)


def test_frontier_plot_shows_identified_groups_only():
    """A group the data cannot determine (two model sizes) has no frontier: the isoFLOP panel
    defaults to the first identified group, the frontier panel draws only identified groups with
    limits from their curves (not from bands clipped at 1e-300), and says so when there is none."""
    import matplotlib.pyplot as plt

    d = runs()
    two = d[(d["family"] == "a") & d["N"].isin([5e7, 1e8])].assign(family="a0")  # sorts first
    res = fit(pd.concat([two, d[d["family"] == "b"]], ignore_index=True), "chinchilla", y="loss", by="family",
              progress=False)
    assert list(res.identified) == [False, True]
    fig = res.plot("frontier")
    iso, front = fig.axes[:2]
    assert iso.get_title().endswith("b")
    labels = [h.get_label() for h in front.get_lines()]
    assert labels and all(lab.endswith(" b") for lab in labels)
    lo, hi = front.get_ylim()
    assert 1e3 < lo < hi < 1e20
    plt.close(fig)
    fig = fit(two, "chinchilla", y="loss", progress=False).plot("frontier")
    assert "no group's frontier is identified" in " ".join(t.get_text() for t in fig.axes[1].texts)
    plt.close(fig)


def test_frontier_plot_leaves_out_failed_groups():
    """A group whose fit failed (BAD_INPUT: too few rows) is not judged for identifiability, and has no
    frontier either: no legend entry, no curve."""
    import matplotlib.pyplot as plt

    d = runs()
    import lawfit

    tiny = d[d["family"] == "a"].head(3).assign(family="a0")  # 3 rows for 5 parameters; sorts first
    with pytest.warns(lawfit.LawfitWarning, match="1 BAD_INPUT"):
        res = fit(pd.concat([tiny, d[d["family"] == "b"]], ignore_index=True), "chinchilla", y="loss",
                  by="family", progress=False)
    assert list(res.converged) == [False, True]
    fig = res.plot("frontier")
    iso, front = fig.axes[:2]
    assert iso.get_title().endswith("b")
    labels = [h.get_label() for h in front.get_lines()]
    assert labels and all(lab.endswith(" b") for lab in labels), labels
    plt.close(fig)


def test_log_axes_have_minor_ticks_at_2_and_5_only(res):
    """Minor ticks of the fit grid's log axes at 2 and 5 of each decade (each tick is an object that
    matplotlib lays out and draws: every integer made a 12-panel figure twice as slow)."""
    fig = res.plot("fit")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    minor = ax.xaxis.get_minor_locator()
    lo, hi = ax.get_xlim()
    ticks = [t for t in minor.tick_values(lo, hi) if lo <= t <= hi]
    mantissas = {round(t / 10 ** np.floor(np.log10(t)), 6) for t in ticks}
    assert mantissas <= {2.0, 5.0} and mantissas
    import matplotlib.pyplot as plt

    plt.close(fig)
