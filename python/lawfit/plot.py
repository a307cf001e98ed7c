"""Plots of fitted laws (matplotlib, an optional extra: ``pip install lawfit[plot]``).

* :func:`plot_fit` -- data and fitted curves per group, the extrapolated part
  dashed, with the bootstrap (or delta-method) band.
* :func:`plot_frontier` -- isoFLOP curves ``L(N, C/6N)`` with their optima and
  the compute-optimal frontier ``N_opt(C)``, ``D_opt(C)`` with bands.
* :func:`plot_params` -- bootstrap distributions of the parameters (the normal
  approximation from the covariance without a bootstrap).
* :func:`plot_residuals` -- residuals against the inputs and the fitted values.
* :func:`plot_are` -- an extrapolation evaluation (:func:`lawfit.evaluate`) as a heat map.

Every function returns a ``matplotlib.figure.Figure``; ``FitResult.plot(kind)``
calls them.
"""
from __future__ import annotations

import io
from typing import Optional, Sequence

import numpy as np

__all__ = ["plot", "plot_fit", "plot_frontier", "plot_params", "plot_residuals", "plot_are", "figure_png"]


def _plt():
    try:
        import matplotlib.pyplot as plt  # headless: matplotlib falls back to Agg by itself
    except ImportError as exc:  # pragma: no cover - matplotlib is an extra
        raise ImportError("lawfit's plots need matplotlib: pip install lawfit[plot]") from exc
    return plt


def figure_png(fig, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (and closed, so reports do not pile up open figures)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)  # every lawfit figure is laid out tight already
    _plt().close(fig)
    return buf.getvalue()


def plot(result, kind: str = "fit", **kwargs):
    """``kind``: ``"fit"``, ``"frontier"``, ``"params"`` or ``"residuals"``."""
    kinds = {"fit": plot_fit, "frontier": plot_frontier, "params": plot_params, "residuals": plot_residuals}
    if kind not in kinds:
        raise ValueError(f"kind must be one of {', '.join(kinds)}, got {kind!r}")
    return kinds[kind](result, **kwargs)


def _pick_groups(result, groups, max_groups: int) -> list[int]:
    if groups is None:
        return list(range(min(result.n_groups, max_groups)))
    labels = result.group_labels()
    out = []
    for g in ([groups] if isinstance(groups, (str, int, np.integer)) else groups):
        if isinstance(g, (int, np.integer)):
            out.append(int(g))
        elif str(g) in labels:
            out.append(labels.index(str(g)))
        else:
            raise ValueError(f"no group {g!r}; groups are {labels[:10]}{' ...' if len(labels) > 10 else ''}")
    return out


def _grid(n: int, ncols: Optional[int], size=(4.6, 3.5)):
    plt = _plt()
    ncols = ncols or min(3, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n]


def _log_minor():
    from matplotlib.ticker import LogLocator

    return LogLocator(base=10.0, subs=(2.0, 5.0))


def _title(fig, text: str, ncols: int) -> None:
    """A figure title wrapped to the figure's width (about 55 characters per panel)."""
    import textwrap

    fig.suptitle("\n".join(textwrap.wrap(text, max(40, 55 * ncols))), fontsize=10)


def _sci(v: float) -> str:
    if v == 0 or not np.isfinite(v):
        return f"{v:g}"
    e = int(np.floor(np.log10(abs(v))))
    m = v / 10**e
    return f"{m:.2g}e{e}" if abs(m - round(m)) > 1e-9 else f"{int(round(m))}e{e}"


def _axis_input(result, x: Optional[str]) -> int:
    """Index (in the law's inputs) of the input on the horizontal axis."""
    ins = result.inputs
    if x is not None:
        if x in ins:
            return ins.index(x)
        if x in result.x:
            return result.x.index(x)
        raise ValueError(f"x={x!r} is not an input of the law ({', '.join(result.x)})")
    if len(ins) == 1:
        return 0
    data = result.data()
    nun = [data[c].nunique() for c in result.x]
    return int(np.argmax(nun))


def plot_fit(result, *, groups=None, x: Optional[str] = None, extrapolate: float = 10.0, band: bool = True,
             max_groups: int = 12, max_curves: int = 8, logx: bool = True, logy: bool = False,
             ncols: Optional[int] = None, n_grid: int = 160):
    """Data and fitted curves, one panel per group.

    The horizontal axis is ``x`` (default: the input with the most distinct
    values, e.g. tokens ``D`` for training curves); for laws with more inputs
    each distinct value of the others (e.g. each model size ``N``) gets its
    own curve and colour, up to ``max_curves`` of them spread over the range
    (the other points are drawn in grey).  Curves run ``extrapolate`` times
    past the largest value in the data, dashed beyond it; the band is the
    bootstrap percentile interval of the curve (delta method without a
    bootstrap).
    """
    plt = _plt()
    gs = _pick_groups(result, groups, max_groups)
    fig, axes = _grid(len(gs), ncols)
    k = _axis_input(result, x)
    xcol = result.x[k]
    others = [c for i, c in enumerate(result.x) if i != k]
    labels = result.group_labels()
    cmap = plt.get_cmap("viridis")
    data = result.data()
    group_of_row = result.group_index
    status_names = result.params["status"].to_numpy()
    ycol = result.y
    # First every panel's curves (the grid along x, the other inputs held at each combination),
    # then one evaluation of all curves of all panels, then the drawing.
    panels, xmats, curve_group = [], [], []
    for g in gs:
        d = data[group_of_row == g]
        xv = d[xcol].to_numpy(dtype=float)
        lo_x, hi_x = np.nanmin(xv), np.nanmax(xv)
        pos = logx and lo_x > 0
        if pos:
            grid = np.geomspace(lo_x, hi_x * extrapolate, n_grid)
        else:
            grid = np.linspace(lo_x, hi_x + (hi_x - lo_x) * (extrapolate - 1), n_grid)
        if others:
            combos = d[others].drop_duplicates().sort_values(others).to_numpy(dtype=float)
            if len(combos) > max_curves:
                pick = np.unique(np.round(np.linspace(0, len(combos) - 1, max_curves)).astype(int))
                combos = combos[pick]
        else:
            combos = np.empty((1, 0))
        for combo in combos:
            pts = {c: np.full(n_grid, v) for c, v in zip(others, combo)}
            pts[xcol] = grid
            xmats.append(np.vstack([pts[c] for c in result.x]))
            curve_group.append(np.full(n_grid, g))
        panels.append((g, d, lo_x, hi_x, pos, grid, combos))
    if xmats:
        q_all = result.quantity(result.law.formula, np.hstack(xmats), np.concatenate(curve_group))
    curve = 0
    for ax, (g, d, _lo_x, hi_x, pos, grid, combos) in zip(axes, panels):
        member = np.zeros(len(d), dtype=bool)
        curve_lo, curve_hi = [], []
        for ci, combo in enumerate(combos):
            q = {key: v[curve * n_grid:(curve + 1) * n_grid] for key, v in q_all.items()}
            curve += 1
            color = cmap(ci / max(1, len(combos) - 1) * 0.9) if len(combos) > 1 else "C0"
            sel = np.ones(len(d), dtype=bool)
            for c, v in zip(others, combo):
                sel &= np.isclose(d[c].to_numpy(dtype=float), v, rtol=1e-12, atol=0)
            member |= sel
            label = ", ".join(f"{c}={_sci(v)}" for c, v in zip(others, combo)) or None
            ax.scatter(d.loc[sel, xcol], d.loc[sel, ycol], s=10, color=color, alpha=0.7, zorder=3, label=label)
            sx = d.loc[sel, xcol].to_numpy(dtype=float)
            g_hi = np.nanmax(sx) if sx.size else hi_x
            inside = grid <= g_hi * (1 + 1e-9)
            fin = q["estimate"][np.isfinite(q["estimate"])]
            if fin.size:
                curve_lo.append(fin.min())
                curve_hi.append(fin.max())
            ax.plot(grid[inside], q["estimate"][inside], color=color, lw=1.6, zorder=4)
            ax.plot(grid[~inside], q["estimate"][~inside], color=color, lw=1.4, ls="--", zorder=4)
            if band and np.isfinite(q["low"]).any():
                ax.fill_between(grid, q["low"], q["high"], color=color, alpha=0.18, lw=0, zorder=2)
        if (~member).any():
            ax.scatter(d.loc[~member, xcol], d.loc[~member, ycol], s=6, color="0.7", alpha=0.6, zorder=1,
                       label="other runs")
        ax.axvline(hi_x, color="0.6", lw=0.8, ls=":", zorder=1)
        if pos:
            ax.set_xscale("log")
            # Minor ticks at 2 and 5 of each decade, not at every integer: each tick is a
            # matplotlib object laid out and drawn, and on a grid of log panels they were
            # half of the figure's time.
            ax.xaxis.set_minor_locator(_log_minor())
        if logy:
            ax.set_yscale("log")
            ax.yaxis.set_minor_locator(_log_minor())
        ylo, yhi = np.nanmin(d[ycol]), np.nanmax(d[ycol])
        span = yhi - ylo if yhi > ylo else abs(yhi) + 1e-12
        if curve_lo:  # show the extrapolated curves, within reason
            ylo = max(min(ylo, min(curve_lo)), ylo - span)
            yhi = min(max(yhi, max(curve_hi)), yhi + span)
        pad = 0.08 * (yhi - ylo if yhi > ylo else span)
        if not logy:
            ax.set_ylim(ylo - pad, yhi + pad)
        title = labels[g]
        if not result.converged[g]:
            title += f"  [{status_names[g]}]"
        elif not result.identified[g]:
            title += "  [not identifiable]"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xcol)
        ax.set_ylabel(ycol)
        ax.grid(True, which="major", alpha=0.3)
        if len(combos) > 1 or (~member).any():
            ax.legend(fontsize=7, loc="best", frameon=False)
    law = result.law
    interval = "bootstrap" if result.n_resamples else "delta-method"
    _title(fig, f"{law.name or 'law'}: {law.formula}   (dashed: extrapolation; band: {interval} "
                f"{100 * result.level:g}%)", len(axes) if len(axes) < 3 else 3)
    fig.tight_layout()
    return fig


def plot_frontier(result, *, C=None, group=None, n_iso: int = 5, n_grid: int = 200):
    """IsoFLOP curves and the compute-optimal frontier of laws with ``N_opt`` and ``D_opt``.

    Left: the law's loss along isoFLOP lines ``D = C/(6N)`` for ``n_iso``
    budgets spanning the data (of ``group``, default the first group whose
    parameters the data determine), its minimum ``N_opt(C)`` marked, and data
    points within 25% of each budget.  Right: ``N_opt(C)`` and ``D_opt(C)`` of
    up to 8 identified groups, with bands (a group that is not identified has
    no frontier: see ``result.identified_reason``).
    """
    plt = _plt()
    if not result.has_frontier:
        result.frontier(C=[1.0])  # raises the explanatory error
    ins = result.inputs
    if "N" not in ins or "D" not in ins:
        raise ValueError("the isoFLOP plot needs a law with inputs N and D")
    # Groups with a frontier: converged (a failed fit is not judged for identifiability) and identified.
    identified = np.flatnonzero(result.identified & result.converged)
    if group is not None:
        g = _pick_groups(result, group, 1)[0]
    else:
        g = int(identified[0]) if identified.size else 0
    data = result.data()
    d = data[result.group_index == g]
    ncol, dcol = result.x[ins.index("N")], result.x[ins.index("D")]
    Cd = 6.0 * d[ncol].to_numpy(dtype=float) * d[dcol].to_numpy(dtype=float)
    c_lo, c_hi = np.nanmin(Cd), np.nanmax(Cd)
    if C is None:
        C = np.geomspace(c_lo, c_hi * 1e3, 40)
    C = np.asarray(C, dtype=float)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    budgets = np.geomspace(c_lo, c_hi, n_iso) if c_hi > c_lo else np.array([c_lo])
    cmap = plt.get_cmap("plasma")
    n_min = np.nanmin(d[ncol]) / 10
    n_max = np.nanmax(d[ncol]) * 10
    # Every isoFLOP curve in one evaluation, and N_opt at every budget in one call.
    Ns = np.geomspace(n_min, n_max, n_grid)
    pts = {"N": np.tile(Ns, len(budgets)), "D": np.repeat(budgets, n_grid) / (6 * np.tile(Ns, len(budgets)))}
    q_all = result.quantity(result.law.formula, np.vstack([pts[n] for n in ins]),
                            np.full(n_grid * len(budgets), g), inputs=ins)
    opt = result.derived("N_opt", C=budgets)
    n_opt = opt["N_opt"].to_numpy().reshape(result.n_groups, len(budgets))[g]
    for i, cb in enumerate(budgets):
        color = cmap(0.85 * i / max(1, len(budgets) - 1))
        q = {key: v[i * n_grid:(i + 1) * n_grid] for key, v in q_all.items()}
        ax1.plot(Ns, q["estimate"], color=color, lw=1.5, label=f"C={_sci(cb)}")
        if np.isfinite(q["low"]).any():
            ax1.fill_between(Ns, q["low"], q["high"], color=color, alpha=0.15, lw=0)
        if np.isfinite(n_opt[i]):
            ax1.axvline(n_opt[i], color=color, lw=0.8, ls=":")
        with np.errstate(divide="ignore", invalid="ignore"):
            near = np.abs(np.log(Cd / cb)) < np.log(1.25)
        ax1.scatter(d.loc[near, ncol], d.loc[near, result.y], color=color, s=14, zorder=3, edgecolor="k", lw=0.3)
    ax1.set_xscale("log")
    ax1.set_xlabel(f"{ncol} (model size)")
    ax1.set_ylabel(result.y)
    ys = d[result.y].to_numpy(dtype=float)
    pad = 0.2 * (np.nanmax(ys) - np.nanmin(ys) + 1e-12)
    ax1.set_ylim(np.nanmin(ys) - pad, np.nanmax(ys) + pad)
    ax1.set_title(f"isoFLOP curves: {result.group_labels()[g]}", fontsize=10)
    ax1.legend(fontsize=7, frameon=False)
    ax1.grid(True, alpha=0.3)
    fr = result.frontier(C=C)
    labels = result.group_labels()
    shown = identified[:8]
    for k in shown.tolist():
        sel = np.arange(len(fr)) // len(C) == k if result.by else np.ones(len(fr), dtype=bool)
        f = fr[sel]
        color = f"C{k}"
        for name, ls in (("N_opt", "-"), ("D_opt", "--")):
            ax2.plot(f["C"], f[name], color=color, ls=ls, lw=1.5,
                     label=f"{name} {labels[k]}" if result.n_groups > 1 else name)
            if np.isfinite(f[f"{name}_low"]).any():
                ax2.fill_between(f["C"], f[f"{name}_low"].clip(lower=1e-300), f[f"{name}_high"],
                                 color=color, alpha=0.15, lw=0)
    ax2.axvspan(c_lo, c_hi, color="0.85", alpha=0.5, lw=0, label="compute in the data")
    ax2.set_xscale("log")
    if shown.size:
        ax2.set_yscale("log")
        # Limits from the curves, not the bands: a Wald band whose lower end is <= 0 would
        # stretch the log axis down to its clip at 1e-300.
        est = fr.loc[np.isin(np.arange(len(fr)) // len(C), shown) if result.by else slice(None),
                     ["N_opt", "D_opt"]].to_numpy(dtype=float)
        est = est[np.isfinite(est) & (est > 0)]
        if est.size:
            ax2.set_ylim(est.min() / 30, est.max() * 30)
    else:  # nothing to draw: say why instead of an empty log axis
        ax2.set_xlim(C.min(), C.max())
        ax2.set_yticks([])
        ax2.text(0.5, 0.5, "no group's frontier is identified\n(see result.identified_reason)",
                 transform=ax2.transAxes, ha="center", va="center", fontsize=9)
    ax2.set_xlabel("compute C = 6ND (FLOP)")
    ax2.set_ylabel("compute-optimal N (solid), D (dashed)")
    ax2.set_title("compute-optimal frontier", fontsize=10)
    ax2.legend(fontsize=7, frameon=False)
    ax2.grid(True, which="major", alpha=0.3)
    law = result.law
    fig.suptitle(f"{law.name or 'law'}: {law.formula}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_params(result, *, params: Optional[Sequence[str]] = None, groups=None, max_groups: int = 6,
                bins: int = 40):
    """Bootstrap distributions of the parameters: rows are groups, columns parameters.

    The estimate is a solid line, the interval dashed.  Without a bootstrap
    the normal approximation from the covariance is drawn instead.
    """
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    names = list(params) if params is not None else [p for p in result.param_names]
    unknown = [p for p in names if p not in result.param_names]
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; the law has {result.param_names}")
    gs = _pick_groups(result, groups, max_groups)
    labels = result.group_labels()
    fig, axes = plt.subplots(len(gs), len(names), figsize=(2.7 * len(names), 2.1 * len(gs) + 0.5),
                             squeeze=False)
    for r, g in enumerate(gs):
        for c, p in enumerate(names):
            ax = axes[r, c]
            j = result.param_names.index(p)
            est, lo, hi = result.estimates[g, j], result.low[g, j], result.high[g, j]
            if result.replicates is not None:
                v = result.replicates[g, :, j]
                v = v[np.isfinite(v)]
                if v.size:
                    ax.hist(v, bins=bins, color="C0", alpha=0.75)
            elif np.isfinite(result.stderr[g, j]) and result.stderr[g, j] > 0:
                se = result.stderr[g, j]
                t = np.linspace(est - 4 * se, est + 4 * se, 200)
                ax.plot(t, np.exp(-0.5 * ((t - est) / se) ** 2), color="C0")
            ax.axvline(est, color="k", lw=1.2)
            for b in (lo, hi):
                if np.isfinite(b):
                    ax.axvline(b, color="C3", lw=1, ls="--")
            if r == 0:
                ax.set_title(p, fontsize=10)
            if c == 0:
                ax.set_ylabel(labels[g], fontsize=9)
            # Counts say nothing across panels: no y ticks; three x ticks. Fewer tick objects to lay
            # out and draw (most of a 30-panel figure's time).
            ax.set_yticks([])
            ax.xaxis.set_major_locator(MaxNLocator(3))
            ax.tick_params(labelsize=7)
    how = f"bootstrap ({result.n_resamples} resamples)" if result.replicates is not None else "normal approximation"
    fig.suptitle(f"parameter distributions: {how}; dashed: {100 * result.level:g}% interval", fontsize=10)
    fig.tight_layout()
    return fig


def plot_residuals(result, *, groups=None, x: Optional[str] = None, max_groups: int = 10):
    """Residuals (in the fitted space) against an input and against the fitted values."""
    plt = _plt()
    res = result.residuals()
    gs = _pick_groups(result, groups, max_groups)
    k = _axis_input(result, x)
    xcol = result.x[k]
    labels = result.group_labels()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    grp = result.group_index
    for i, g in enumerate(gs):
        sel = grp == g
        kw = dict(s=9, alpha=0.7, color=f"C{i % 10}", label=labels[g])
        a1.scatter(res.loc[sel, xcol], res.loc[sel, "residual"], **kw)
        a2.scatter(res.loc[sel, "fitted"], res.loc[sel, "residual"], **kw)
    space = "log f - log y" if result.settings.get("residual") == "log" else "f - y"
    for ax, lab in ((a1, xcol), (a2, "fitted")):
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xlabel(lab)
        ax.set_ylabel(f"residual ({space})")
        ax.grid(True, alpha=0.3)
    if (res[xcol] > 0).all():
        a1.set_xscale("log")
    if len(gs) > 1:
        a2.legend(fontsize=7, frameon=False, loc="best")
    fig.suptitle(f"residuals: {result.law.name or result.law.formula}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_are(evaluation, *, index: str = "n_models", columns: str = "fraction", stat: str = "median",
             ax=None):
    """Heat map of the absolute relative error of an extrapolation evaluation.

    Cells hold the ``stat`` ("median" or "mean") ARE over families, in percent.
    """
    plt = _plt()
    table = evaluation.pivot(index=index, columns=columns, stat=stat)
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.0 + 0.9 * table.shape[1], 1.0 + 0.5 * table.shape[0]))
    else:
        fig = ax.figure
    v = 100 * table.to_numpy(dtype=float)
    vmax = np.nanpercentile(v, 95) if np.isfinite(v).any() else 1.0
    im = ax.imshow(v, cmap="viridis_r", aspect="auto", vmin=0, vmax=vmax)
    for (i, j), val in np.ndenumerate(v):
        if np.isfinite(val):
            ax.text(j, i, f"{val:.1f}", ha="center", va="center", fontsize=8,
                    color="w" if val > 0.5 * np.nanmax(v) else "k")
    ax.set_xticks(range(table.shape[1]))
    ax.set_xticklabels([f"{c:g}" if isinstance(c, float) else str(c) for c in table.columns])
    ax.set_yticks(range(table.shape[0]))
    ax.set_yticklabels([str(r) for r in table.index])
    ax.set_xlabel(columns.replace("_", " "))
    ax.set_ylabel(index.replace("_", " "))
    ax.set_title(f"{stat} ARE (%) predicting the largest model", fontsize=10)
    fig.colorbar(im, ax=ax, label="ARE (%)")
    fig.tight_layout()
    return fig
