"""The user-facing calls, with default arguments, on the released collections, next to their scipy equivalents.

What a user runs (README, "From a table to answers"), timed as one call
(data preparation, starts, bootstrap, intervals and the result table
included; the progress line goes to a buffer), and what the same answer
costs with scipy, timed on a sample in the same run and extrapolated:

* ``user_hitchhiker``: ``lawfit.fit(d, "chinchilla", x=["N", "D"],
  y="value", by="scaled_set")`` on the Hitchhiker's collection (Choshen,
  Zhang, Andreas 2024, arXiv:2410.11840; ``load_hitchhiker_colpret(metric=
  "loss")`` without rows missing N, D, value or scaled_set: 19 scaled sets,
  53,822 rows), and the same with ``bootstrap=200``.  scipy: ``curve_fit``
  (trf, the law's bounds) per scaled set from every start of the law's
  243-point grid, the lowest cost kept; timed on k random starts per set
  (fewer for large sets) and extrapolated per set (the set's mean time per
  start x 243, summed over the sets).  For the bootstrap, ``curve_fit`` on
  each resample from the set's optimum, lawfit's own Poisson counts as
  weights (``sigma = 1/sqrt(count)``, points drawn 0 times dropped), timed
  on a few resamples per set and extrapolated the same way, plus the grid.
* ``user_evaluate``: ``lawfit.evaluate(d, family="scaled_set", run="run",
  y="value", fractions=[0.25, 1.0])`` (122 cut-offs).  scipy: ``curve_fit``
  from the full grid per cut-off; cut-offs sampled evenly across their sizes
  (sorted by points), a few random starts each; the estimate is the mean
  over sampled cut-offs of (mean time per start x 243), times the number of
  cut-offs.
* ``user_epoch``: ``lawfit.fit(df, "chinchilla_lse", y="loss")`` on Epoch's
  replication data (``load_epoch_chinchilla(replication=True)``, 240 runs),
  and with ``bootstrap=4000, ci="bca"``.  scipy: Besiroglu et al.'s recipe
  (2024, "Chinchilla Scaling: A replication attempt", arXiv:2404.10102):
  L-BFGS-B on the Huber objective (delta 1e-3, log residuals, exact
  gradient) from each of the 4,500 grid starts, timed on a random sample and
  extrapolated per start; for the bootstrap also L-BFGS-B on every resample
  (lawfit's counts as multiplicities, from the optimum) and the 240
  leave-one-out jackknife fits BCa needs, each timed on a sample.  The
  estimates are checked against the paper's E=1.82, A=482.01, B=2085.43,
  alpha=0.3478, beta=0.3658 (within 5%).
* ``user_groups``: 20,000 synthetic Chinchilla groups x 40 points
  (``lawfit.demo.make_collection``, seeded), ``lawfit.fit(df, "chinchilla",
  x=["N", "D"], y="loss", by="dataset", starts=<one point>)``, and in the
  same run ``lawfit.solve_batch`` on the same problems (inputs prepared
  outside the timing, points in the order ``fit`` uses, the law's bounds,
  J^T W J kept as ``fit`` keeps it): the note gives ``fit`` throughput /
  ``solve_batch`` throughput (issue 13's target: >= 0.8), best of 3 after a
  first call of each (timed apart, in the note: the process's first touch of
  that much memory).  scipy:
  ``curve_fit`` (trf, bounds) on an evenly spread sample of groups.

Sizes (fits) count what the user asks for: laws x starts (+ laws x
resamples, + jackknife fits).  lawfit prunes large grids by default (LM from
the 16 best starts per law; the notes say how many ran), scipy runs every
start.  The speed-up column is lawfit's throughput over scipy's (and, on
the ``solve_batch`` row, ``fit``'s over the core's).  Answers are checked as
elsewhere in the suite: against a reference polished by scipy
``least_squares`` (tolerances 1e-14, within the law's bounds), best of the
sampled starts for the scipy rows.  Without the data the rows are skipped
with the reason; ``--toy`` fits two small scaled sets and fewer resamples,
only to check that the code runs.
"""
from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass

import numpy as np

from ..core import (COST_RTOL, PARAM_RTOL, Agreement, Config, Model, Problem, Row, judge, lawfit_status,
                    quiet, reference, rel_param_diff, run_peer, sample_indices, status_counts, timed)
from ..data import dataset_dir
from . import epoch
from .chinchilla import chinchilla, chinchilla_jac

#: Besiroglu et al. (2024, arXiv:2404.10102): their Approach-3 estimates on the 240 runs.
PUBLISHED = {"E": 1.82, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
PUBLISHED_RTOL = 0.05
GROUP_START = {"E": [1.7], "A": [400.0], "alpha": [0.34], "B": [410.0], "beta": [0.28]}
SCIPY_CF = "scipy curve_fit (trf, bounds)"
SCIPY_LBFGSB = "scipy L-BFGS-B (Besiroglu)"
MODEL = Model(chinchilla, chinchilla_jac)  # l2; Problem.weight = Poisson counts
MODEL_PARAMS = ("E", "A", "alpha", "B", "beta")


# ----------------------------------------------------------------------------- helpers


def _call(fn):
    """Run a user call; its progress line and bar (stderr) go to a buffer, as they cost the same."""
    with contextlib.redirect_stderr(io.StringIO()):
        return fn()


def _timed_call(fn, repeat: int):
    return timed(lambda: _call(fn), repeat)


def _threads(cfg: Config) -> dict:
    """``n_threads`` only when ``--threads`` asks for it (the user's default otherwise)."""
    return {} if cfg.threads is None else {"n_threads": cfg.threads}


def _bounds(law):
    lo = np.array([law.bounds.get(p, (-np.inf, np.inf))[0] for p in law.params], float)
    hi = np.array([law.bounds.get(p, (-np.inf, np.inf))[1] for p in law.params], float)
    return lo, hi


def _groups(res):
    """Each group's (x (2, n), y) of a FitResult, in its group order."""
    data = res.data()
    x_all = np.vstack([data[c].to_numpy(float) for c in res.x])
    y_all = data[res.y].to_numpy(float)
    offsets = np.concatenate([[0], np.cumsum(res.params["n_points"].to_numpy(np.int64))])
    return [(x_all[:, s:e], y_all[s:e]) for s, e in zip(offsets[:-1], offsets[1:])]


def _estimates(res) -> np.ndarray:
    return res.params[list(res.param_names)].to_numpy(float)


def _curve_fit(x, y, p0, lo, hi, weight=None):
    """scipy ``curve_fit`` with the law's bounds (trf); Poisson counts as sigma = 1/sqrt(count).

    Returns (parameters or None, seconds).
    """
    from scipy.optimize import curve_fit

    t0 = time.perf_counter()
    sigma = None
    if weight is not None:
        keep = weight > 0
        x, y, sigma = x[:, keep], y[keep], 1.0 / np.sqrt(weight[keep])
    try:
        p, _ = curve_fit(chinchilla, x, y, p0=np.clip(p0, lo, hi), sigma=sigma, bounds=(lo, hi))
    except Exception:  # noqa: BLE001 - RuntimeError, ValueError, TypeError (too few points), LinAlgError
        p = None
    seconds = time.perf_counter() - t0
    return (p if p is not None and np.all(np.isfinite(p)) else None), seconds


def _polish_bounded(prob: Problem, start, lo, hi):
    from scipy.optimize import least_squares

    sw = np.ones_like(prob.y) if prob.weight is None else np.sqrt(prob.weight)
    try:
        r = least_squares(lambda p: sw * MODEL.residual(prob, p), np.clip(start, lo, hi),
                          jac=lambda p: sw[:, None] * chinchilla_jac(prob.x, *p), bounds=(lo, hi),
                          method="trf", x_scale="jac", ftol=1e-14, xtol=1e-14, gtol=1e-14, max_nfev=2000)
    except (ValueError, np.linalg.LinAlgError):
        return None
    return r.x if np.all(np.isfinite(r.x)) else None


def reference_bounded(problems, candidates, lo, hi, min_points: int = 5):
    """Reference (parameters, cost) per problem for the l2 Chinchilla law within the law's bounds.

    The lowest-cost candidate (each tool's answer; the problem's own starts)
    is polished with bounded ``least_squares`` (tolerances 1e-14); the
    polished point replaces it only when it is not worse.  Problems with
    fewer points than ``min_points`` (the parameters) get no reference: they
    are not compared.
    """
    S, P = len(problems), len(lo)
    ref = np.full((S, P), np.nan)
    ref_cost = np.full(S, np.inf)
    with quiet():
        for i, prob in enumerate(problems):
            n = int(np.sum(prob.weight > 0)) if prob.weight is not None else len(prob.y)
            if n < min_points:
                continue
            cands = [np.asarray(c[i], float) for c in candidates if np.all(np.isfinite(c[i]))]
            cands += [np.asarray(prob.p0, float), *[np.asarray(a, float) for a in prob.alt_starts]]
            cands = [np.clip(c, lo, hi) for c in cands]
            best = min(cands, key=lambda p: MODEL.cost(prob, p))
            for p in (best, _polish_bounded(prob, best, lo, hi)):
                if p is None:
                    continue
                c = MODEL.cost(prob, p)
                if c < ref_cost[i]:
                    ref[i], ref_cost[i] = p, c
    return ref, ref_cost


@dataclass
class Judged(Agreement):
    """An :class:`~lawfit.bench.core.Agreement` that names its accuracy metric."""

    metric: str = "max rel param diff"


def _compare(model: Model, problems, params, ref, ref_cost, by_cost: bool = False) -> Judged:
    """core.compare's rule (parameters within PARAM_RTOL or cost within COST_RTOL of the reference).

    The accuracy is the largest relative parameter difference, or with
    ``by_cost`` the largest relative cost excess over the reference (for laws
    whose optimum is degenerate: A = 0 at its bound leaves alpha free).
    """
    params = np.atleast_2d(np.asarray(params, float))
    have = np.isfinite(ref_cost)
    returned = np.all(np.isfinite(params), axis=1)
    d = rel_param_diff(params, ref)
    cost = np.array([model.cost(p, q) if r else np.inf for p, q, r in zip(problems, params, returned)])
    with np.errstate(all="ignore"):
        excess = (cost - ref_cost) / np.maximum(np.abs(ref_cost), 1e-300)
    agree = have & returned & ((d <= PARAM_RTOL) | (excess <= COST_RTOL))
    if by_cost:
        finite = have & returned & np.isfinite(excess)
        worst = float(max(0.0, np.max(excess[finite]))) if finite.any() else float("inf")
        return Judged(worst, agree, returned, have, metric="max rel cost excess")
    finite = have & np.isfinite(d)
    worst = float(np.max(d[finite])) if finite.any() else float("inf")
    return Judged(worst, agree, returned, have)


def _row(bench, problem, size, tool, n_fits, points, seconds, timed_fits, a: Judged, status, note, shape):
    return Row(bench, problem, size, tool, int(n_fits), float(points), n_fits / seconds, float(seconds),
               int(timed_fits), a.metric, a.max_rel_param_diff, a.agree, a.compared, a.check,
               status, note, None, dict(shape))


def _scipy_status(ok) -> str:
    return status_counts(np.asarray(ok, bool)) + " (sampled fits)"


def _best_per_group(params_by_group, problems):
    """Lowest-cost converged answer of each group's sampled fits (NaN where none)."""
    out = np.full((len(problems), len(MODEL_PARAMS)), np.nan)
    for g, (plist, prob) in enumerate(zip(params_by_group, problems)):
        plist = [p for p in plist if p is not None]
        if plist:
            out[g] = min(plist, key=lambda p: MODEL.cost(prob, p))
    return out


def _per_group_sample(sizes, budget: int, k_max: int) -> np.ndarray:
    """Starts (or resamples) to time per group: about ``budget`` points' worth, 1 to ``k_max``."""
    return np.clip(budget // np.maximum(np.asarray(sizes), 1), 1, k_max).astype(int)


# ----------------------------------------------------------------------------- data


def _hitchhiker(cfg: Config, section: str):
    folder = dataset_dir(cfg.data_dir, "hitchhiker_colpret")
    if folder is None:
        cfg.skip(section, "hitchhiker_colpret not found (set LAWFIT_DATA or --data)")
        return None
    try:
        from ...datasets import load_hitchhiker_colpret

        d = load_hitchhiker_colpret(folder, metric="loss").dropna(subset=["N", "D", "value", "scaled_set"])
    except (ImportError, FileNotFoundError, ValueError) as exc:
        cfg.skip(section, f"cannot read hitchhiker_colpret: {exc}")
        return None
    if cfg.scale == "toy":  # two small sets of 3+ runs (fewest runs, then rows), only to check that the code runs
        per = d.groupby("scaled_set").agg(runs=("run", "nunique"), rows=("value", "size"))
        per = per[per["runs"] >= 3].sort_values(["runs", "rows"])
        d = d[d["scaled_set"].isin(per.index[:2])]
    return d


def _fmt_n(n) -> str:
    return f"{int(n):,}"


# ----------------------------------------------------------------------------- Hitchhiker


def user_hitchhiker(cfg: Config) -> list:
    """lawfit.fit on the Hitchhiker collection by scaled set (Chinchilla, 243 starts), and with bootstrap=200."""
    from ... import fit, laws

    d = _hitchhiker(cfg, "user_hitchhiker")
    if d is None:
        return []
    law = laws["chinchilla"]
    lo, hi = _bounds(law)
    grid = law.start_grid()
    S = len(grid)
    R = cfg.pick(20, 200, 200)
    kw = dict(x=["N", "D"], y="value", by="scaled_set", **_threads(cfg))
    t_fit, res = _timed_call(lambda: fit(d, "chinchilla", **kw), cfg.pick(1, 2, 3))
    t_boot, boot = _timed_call(lambda: fit(d, "chinchilla", bootstrap=R, **kw), cfg.pick(1, 1, 1))
    t_predict, _ = _timed_call(lambda: boot.predict(d), 1)  # every row, with its bootstrap interval
    groups = _groups(res)
    G = len(groups)
    sizes = np.array([len(y) for _, y in groups])
    est = _estimates(res)
    rng = np.random.default_rng(cfg.seed)

    # scipy: k random grid starts per scaled set.
    k = _per_group_sample(sizes, cfg.pick(300, 2_000, 20_000), cfg.pick(1, 4, 24))
    sc_params, sc_times, sc_ok = [], [], []
    with quiet():
        for g, (x, y) in enumerate(groups):
            ps, ts = [], []
            for s in np.sort(rng.choice(S, k[g], replace=False)):
                p, sec = _curve_fit(x, y, grid[s], lo, hi)
                ps.append(p)
                ts.append(sec)
                sc_ok.append(p is not None)
            sc_params.append(ps)
            sc_times.append(np.mean(ts))
    est_grid = float(S * np.sum(sc_times))
    problems = [Problem(x, y, est[g] if np.all(np.isfinite(est[g])) else grid[0]) for g, (x, y) in enumerate(groups)]
    sc_best = _best_per_group(sc_params, problems)
    ref, ref_cost = reference_bounded(problems, [est, sc_best], lo, hi)
    a_lf = _compare(MODEL, problems, est, ref, ref_cost, by_cost=True)
    a_sc = _compare(MODEL, problems, sc_best, ref, ref_cost, by_cost=True)
    judge([a_lf, a_sc])

    n_run = getattr(res.multistart, "n_run", None)
    ran = f"LM from {int(np.sum(n_run)):,} of {G * S:,} starts (default pruning); " if n_run is not None else ""
    size = f"{G} laws x {S} starts ({_fmt_n(sizes.sum())} pts)"
    problem = 'fit(hitchhiker, "chinchilla", by="scaled_set")'
    shape = {"laws": G, "starts": S, "points_total": int(sizes.sum()), "points_max": int(sizes.max()),
             "loss": "l2", "call": "lawfit.fit defaults", "scipy_sample": int(k.sum()), "data": "hitchhiker_colpret"}
    ratio = est_grid / t_fit
    rows = [
        _row("user_hitchhiker", problem, size, "lawfit.fit", G * S, np.median(sizes), t_fit, G * S, a_lf,
             lawfit_status(res.status), f"{ran}whole call, best of {cfg.pick(1, 2, 3)}; {ratio:,.0f}x scipy", shape),
        _row("user_hitchhiker", problem, size, SCIPY_CF, G * S, np.median(sizes), est_grid, int(k.sum()), a_sc,
             _scipy_status(sc_ok),
             f"timed on {int(k.sum())} of {G * S:,} (set, start) pairs ({k.min()}-{k.max()} random starts per "
             f"set); per set: mean time per start x {S}, summed over sets; best of the sampled starts vs "
             f"reference", shape),
    ]

    # Bootstrap: scipy on lawfit's own resamples, from the set's optimum.
    br = boot.bootstrap_result
    reps = br.params.replicates  # (G, R, P)
    est_b = _estimates(boot)
    kb = _per_group_sample(sizes, cfg.pick(300, 1_000, 10_000), cfg.pick(1, 2, 10))
    b_problems, b_lawfit, b_scipy, b_ok, b_times = [], [], [], [], []
    with quiet():
        for g, (x, y) in enumerate(groups):
            start = est_b[g] if np.all(np.isfinite(est_b[g])) else grid[0]
            ts = []
            for r in sample_indices(R, kb[g], seed=cfg.seed + g):
                w = np.asarray(br.counts(g, int(r)), float)
                p, sec = _curve_fit(x, y, start, lo, hi, weight=w)
                ts.append(sec)
                b_problems.append(Problem(x, y, start, weight=w))
                b_lawfit.append(reps[g, r])
                b_scipy.append(p if p is not None else np.full(len(lo), np.nan))
                b_ok.append(p is not None)
            b_times.append(np.mean(ts))
    est_boot = est_grid + float(R * np.sum(b_times))
    b_lawfit, b_scipy = np.array(b_lawfit), np.array(b_scipy)
    bref, bref_cost = reference_bounded(b_problems, [b_lawfit, b_scipy], lo, hi)
    ab_lf = _compare(MODEL, b_problems, b_lawfit, bref, bref_cost, by_cost=True)
    ab_sc = _compare(MODEL, b_problems, b_scipy, bref, bref_cost, by_cost=True)
    judge([ab_lf, ab_sc])
    lost = int(np.sum(~ab_lf.returned_mask & ab_lf.have_mask))
    worse = int(np.sum(ab_lf.returned_mask & ab_lf.have_mask & ~ab_lf.agree_mask))
    n_b = G * (S + R)
    size_b = f"{G} laws x ({S} starts + {R} resamples)"
    problem_b = f'fit(hitchhiker, "chinchilla", by="scaled_set", bootstrap={R})'
    shape_b = dict(shape, resamples=R, scipy_sample_resamples=int(kb.sum()))
    rows += [
        _row("user_hitchhiker", problem_b, size_b, "lawfit.fit", n_b, np.median(sizes), t_boot, n_b, ab_lf,
             "replicates: " + lawfit_status(br.status.ravel()),
             f"whole call, once; accuracy on {len(b_problems)} sampled resamples (lawfit's replicate vs scipy "
             f"on the same counts)" + (f", {lost} failed by lawfit where a solution exists" if lost else "")
             + (f", {worse} converged above the reference cost" if worse else "")
             + f"; {est_boot / t_boot:,.0f}x scipy; then predict(all {len(d):,} rows, with intervals) "
             f"{t_predict:.2f} s", shape_b),
        _row("user_hitchhiker", problem_b, size_b, SCIPY_CF, n_b, np.median(sizes), est_boot,
             int(k.sum() + kb.sum()), ab_sc, _scipy_status(b_ok),
             f"grid as above + per set: mean time per resample x {R} ({int(kb.sum())} resamples timed, "
             f"{kb.min()}-{kb.max()} per set), from the set's optimum, Poisson counts as sigma=1/sqrt(count)",
             shape_b),
    ]
    cfg.extra.setdefault("userflow", {})["hitchhiker"] = {
        "fit_seconds": t_fit, "bootstrap_seconds": t_boot, "predict_seconds": t_predict,
        "scipy_grid_seconds_est": est_grid,
        "scipy_bootstrap_seconds_est": est_boot, "sets": G, "rows": int(len(d))}
    return rows


# ----------------------------------------------------------------------------- evaluate


def user_evaluate(cfg: Config) -> list:
    """lawfit.evaluate on the Hitchhiker collection (fractions 0.25 and 1: 122 cut-offs, 243 starts each)."""
    from ... import evaluate, laws

    d = _hitchhiker(cfg, "user_evaluate")
    if d is None:
        return []
    law = laws["chinchilla"]
    lo, hi = _bounds(law)
    grid = law.start_grid()
    S = len(grid)
    t_ev, ev = _timed_call(lambda: evaluate(d, family="scaled_set", run="run", y="value", fractions=[0.25, 1.0]),
                           cfg.pick(1, 1, 1))
    res = ev.fit
    groups = _groups(res)
    G = len(groups)
    sizes = np.array([len(y) for _, y in groups])
    est = _estimates(res)
    rng = np.random.default_rng(cfg.seed + 1)
    by_size = np.argsort(sizes, kind="stable")
    idx = by_size[sample_indices(G, cfg.pick(3, 8, 30))]
    k = cfg.pick(1, 2, 8)
    sc_params, per_cut, sc_ok = [], [], []
    with quiet():
        for c in idx:
            x, y = groups[c]
            ps, ts = [], []
            for s in rng.choice(S, k, replace=False):
                p, sec = _curve_fit(x, y, grid[s], lo, hi)
                ps.append(p)
                ts.append(sec)
                sc_ok.append(p is not None)
            sc_params.append(ps)
            per_cut.append(S * np.mean(ts))
    est_sc = float(G * np.mean(per_cut))
    problems = [Problem(groups[c][0], groups[c][1], est[c] if np.all(np.isfinite(est[c])) else grid[0])
                for c in idx]
    sc_best = _best_per_group(sc_params, problems)
    ref, ref_cost = reference_bounded(problems, [est[idx], sc_best], lo, hi, min_points=len(lo))
    a_lf = _compare(MODEL, problems, est[idx], ref, ref_cost, by_cost=True)
    a_sc = _compare(MODEL, problems, sc_best, ref, ref_cost, by_cost=True)
    judge([a_lf, a_sc])
    n = G * S
    problem = 'evaluate(hitchhiker, family="scaled_set", fractions=[0.25, 1.0])'
    size = f"{G} cut-offs x {S} starts ({_fmt_n(sizes.sum())} pts)"
    shape = {"laws": G, "starts": S, "points_total": int(sizes.sum()), "points_median": int(np.median(sizes)),
             "loss": "l2", "call": "lawfit.evaluate defaults", "scipy_cutoffs": len(idx), "scipy_starts_each": k}
    n_run = getattr(res.multistart, "n_run", None)
    ran = f"LM from {int(np.sum(n_run)):,} of {n:,} starts; " if n_run is not None else ""
    small = int(np.sum(sizes[idx] < len(lo)))
    rows = [
        _row("user_evaluate", problem, size, "lawfit.evaluate", n, np.median(sizes), t_ev, n, a_lf,
             lawfit_status(res.status),
             f"{ran}whole call (fit + ARE table), once; accuracy on {len(idx)} sampled cut-offs"
             + (f" ({small} with < {len(lo)} points not compared)" if small else "")
             + f"; {est_sc / t_ev:,.0f}x scipy", shape),
        _row("user_evaluate", problem, size, SCIPY_CF, n, np.median(sizes), est_sc, len(idx) * k, a_sc,
             _scipy_status(sc_ok),
             f"timed on {len(idx)} cut-offs (evenly spread by size) x {k} random starts; estimate: mean over "
             f"them of (mean time per start x {S}) x {G} cut-offs; best of the sampled starts vs reference",
             shape),
    ]
    cfg.extra.setdefault("userflow", {})["evaluate"] = {"seconds": t_ev, "scipy_seconds_est": est_sc,
                                                        "cutoffs": G}
    return rows


# ----------------------------------------------------------------------------- Epoch


def _to_epoch_order(res) -> np.ndarray:
    """chinchilla_lse parameters (any order) -> epoch.py's (a, b, e, alpha, beta), per row."""
    names = list(res.param_names)
    return np.array([names.index(p) for p in epoch.PARAMS])


def user_epoch(cfg: Config) -> list:
    """lawfit.fit(Epoch's 240 runs, "chinchilla_lse"), and with bootstrap=4000, ci="bca"."""
    from ... import fit

    folder = dataset_dir(cfg.data_dir, "epoch_chinchilla")
    if folder is None:
        cfg.skip("user_epoch", "epoch_chinchilla not found (set LAWFIT_DATA or --data)")
        return []
    try:
        from ...datasets import load_epoch_chinchilla

        df = load_epoch_chinchilla(folder, replication=True)
    except (ImportError, FileNotFoundError, ValueError) as exc:
        cfg.skip("user_epoch", f"cannot read epoch_chinchilla: {exc}")
        return []
    R = cfg.pick(50, 4000, 4000)
    kw = _threads(cfg)
    t_fit, res = _timed_call(lambda: fit(df, "chinchilla_lse", y="loss", **kw), cfg.pick(1, 3, 5))
    t_boot, boot = _timed_call(lambda: fit(df, "chinchilla_lse", y="loss", bootstrap=R, ci="bca", **kw),
                               cfg.pick(1, 1, 2))
    (x_nat, y_nat), = _groups(res)
    x, y = np.log(x_nat), np.log(y_nat)
    order = _to_epoch_order(res)
    est = _estimates(res)[:, order]  # (1, 5) as (a, b, e, alpha, beta)
    M = len(y)

    # Besiroglu et al.: L-BFGS-B from a random sample of the 4,500 grid starts.
    starts = epoch.grid()
    S = len(starts)
    idx = sample_indices(S, cfg.pick(8, 60, 450), seed=cfg.seed)
    sc, ok, sec = run_peer("scipy L-BFGS-B", epoch.MODEL, [Problem(x, y, starts[i]) for i in idx])
    est_grid = sec / len(idx) * S
    costs = epoch._costs(x, y, sc)
    sc_best = sc[np.argmin(costs)] if np.isfinite(costs).any() else np.full(5, np.nan)
    law = [Problem(x, y, epoch.published_start())]
    with quiet():
        ref, ref_cost = reference(epoch.MODEL, law, [est, sc_best[None, :]])
    a_lf = _compare(epoch.MODEL, law, est, ref, ref_cost)
    a_sc = _compare(epoch.MODEL, law, sc_best[None, :], ref, ref_cost)
    judge([a_lf, a_sc])
    nat = epoch.natural(est[0])
    off = {k: abs(nat[k] - v) / v for k, v in PUBLISHED.items()}
    near = all(o <= PUBLISHED_RTOL for o in off.values())
    if not near:
        a_lf.check = "FAIL"
    hits = int(np.sum(costs <= ref_cost[0] * (1 + COST_RTOL)))
    n_run = getattr(res.multistart, "n_run", None)
    ran = f"LM from {int(np.sum(n_run)):,} of {S:,} starts; " if n_run is not None else ""
    pub = (f"E={nat['E']:.3f} A={nat['A']:.0f} B={nat['B']:.0f} alpha={nat['alpha']:.4f} beta={nat['beta']:.4f} "
           f"vs Besiroglu et al. 1.82, 482, 2085, 0.3478, 0.3658: "
           + ("within" if near else "NOT within") + f" {PUBLISHED_RTOL:.0%}")
    problem = 'fit(epoch, "chinchilla_lse")'
    size = f"1 law x {S:,} starts x {M} pts"
    shape = {"laws": 1, "starts": S, "points": M, "loss": "huber", "delta": epoch.DELTA, "residual": "log",
             "call": "lawfit.fit defaults", "scipy_sample_starts": len(idx), "data": "epoch_chinchilla"}
    rows = [
        _row("user_epoch", problem, size, "lawfit.fit", S, M, t_fit, S, a_lf, lawfit_status(res.status),
             f"{ran}whole call, best of {cfg.pick(1, 3, 5)}; {pub}; {est_grid / t_fit:,.0f}x scipy", shape),
        _row("user_epoch", problem, size, SCIPY_LBFGSB, S, M, est_grid, len(idx), a_sc, _scipy_status(ok),
             f"timed on {len(idx)} random starts of {S:,}, time per start x {S:,}; optimum reached by "
             f"{hits}/{len(idx)}; best of them vs reference", shape),
    ]

    # The bootstrap: every resample from the optimum, plus the jackknife BCa needs.
    br = boot.bootstrap_result
    reps = br.params.replicates[0][:, order]  # (R, 5)
    start = ref[0] if np.all(np.isfinite(ref[0])) else est[0]
    ridx = sample_indices(R, cfg.pick(3, 20, 100), seed=cfg.seed + 1)
    b_problems = [Problem(x, y, start, weight=np.asarray(br.counts(0, int(r)), float)) for r in ridx]
    b_sc, b_ok, b_sec = run_peer("scipy L-BFGS-B", epoch.MODEL, b_problems)
    J = int(br.jack_params.shape[0]) if br.jack_params is not None else M
    jidx = sample_indices(M, cfg.pick(2, 10, 40), seed=cfg.seed + 2)
    j_problems = []
    for j in jidx:
        w = np.ones(M)
        w[j] = 0.0
        j_problems.append(Problem(x, y, start, weight=w))
    _j_sc, j_ok, j_sec = run_peer("scipy L-BFGS-B", epoch.MODEL, j_problems)
    est_boot = est_grid + b_sec / len(ridx) * R + j_sec / len(jidx) * J
    with quiet():
        bref, bref_cost = reference(epoch.MODEL, b_problems, [reps[ridx], b_sc])
    ab_lf = _compare(epoch.MODEL, b_problems, reps[ridx], bref, bref_cost)
    ab_sc = _compare(epoch.MODEL, b_problems, b_sc, bref, bref_cost)
    judge([ab_lf, ab_sc])
    n_b = S + R + J
    problem_b = f'fit(epoch, "chinchilla_lse", bootstrap={R}, ci="bca")'
    size_b = f"1 law x ({S:,} starts + {R:,} resamples + {J} jackknife)"
    shape_b = dict(shape, resamples=R, jackknife=J, scipy_sample_resamples=len(ridx), scipy_sample_jackknife=len(jidx))
    lo_b, hi_b = boot.params[["alpha_low", "alpha_high"]].to_numpy(float)[0]
    rows += [
        _row("user_epoch", problem_b, size_b, "lawfit.fit", n_b, M, t_boot, n_b, ab_lf,
             "replicates: " + lawfit_status(br.status.ravel()),
             f"whole call, best of {cfg.pick(1, 1, 2)}; BCa 95% alpha [{lo_b:.4f}, {hi_b:.4f}]; accuracy on "
             f"{len(ridx)} sampled resamples (replicate vs scipy on the same counts); {est_boot / t_boot:,.0f}x scipy",
             shape_b),
        _row("user_epoch", problem_b, size_b, SCIPY_LBFGSB, n_b, M, est_boot, len(idx) + len(ridx) + len(jidx),
             ab_sc, _scipy_status(np.r_[b_ok, j_ok]),
             f"grid as above + {len(ridx)} resamples (time x {R:,}) + {len(jidx)} leave-one-out fits "
             f"(time x {J}), from the optimum; default stopping rule", shape_b),
    ]
    cfg.extra.setdefault("userflow", {})["epoch"] = {
        "estimate": nat, "published": PUBLISHED, "within_rtol": near, "fit_seconds": t_fit,
        "bootstrap_seconds": t_boot, "scipy_grid_seconds_est": est_grid, "scipy_bootstrap_seconds_est": est_boot}
    return rows


# ----------------------------------------------------------------------------- many groups


def make_groups(n: int, m: int, seed: int):
    """Synthetic Chinchilla groups (lawfit.demo), each group's points sorted by (N, D, loss)."""
    from ...demo import make_collection

    N, D, loss, true = make_collection(n, m, seed=seed)
    order = np.lexsort((loss, D, N))  # along the last axis: the order lawfit.fit puts a group's rows in
    take = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
    return take(N), take(D), take(loss), true


def user_groups(cfg: Config) -> list:
    """20,000 Chinchilla groups x 40 points: lawfit.fit(by="dataset") vs lawfit.solve_batch on the same problems."""
    import pandas as pd

    from ... import fit, laws, solve_batch

    n, m = cfg.pick(200, 20_000, 20_000), 40
    N, D, loss, true = make_groups(n, m, cfg.seed + 13)
    df = pd.DataFrame({"dataset": np.repeat(np.arange(n), m), "N": N.ravel(), "D": D.ravel(), "loss": loss.ravel()})
    law = laws["chinchilla"]
    lo, hi = _bounds(law)
    program = law.program
    cols = program.input_matrix({"N": N.ravel(), "D": D.ravel()})
    y = loss.ravel()
    offsets = np.arange(n + 1, dtype=np.int64) * m
    start = np.array([GROUP_START[p][0] for p in law.params])
    p0 = np.tile(start, (n, 1))
    kw = _threads(cfg)

    def run_fit():
        return _call(lambda: fit(df, "chinchilla", x=["N", "D"], y="loss", by="dataset", starts=GROUP_START, **kw))

    def run_core():  # what fit runs for a one-point grid: bounds, J^T W J kept, device as fit's default
        return solve_batch(program, cols, y, offsets, p0, lower=lo, upper=hi, want_jtj=True, device="auto", **kw)

    # The first full-size call of each, timed on its own: it pays for the process's first touch of
    # the input matrix's and outputs' memory (fresh pages); the ratio compares the calls after it.
    t_first_fit, _ = timed(run_fit)
    t_first_core, _ = timed(run_core)
    t_fit = t_core = np.inf
    for _ in range(cfg.pick(1, 3, 3)):  # interleaved, so that a busy machine slows both alike
        s, res = timed(run_fit)
        t_fit = min(t_fit, s)
        s, sol = timed(run_core)
        t_core = min(t_core, s)
    est = _estimates(res)
    same = bool(np.array_equal(est, sol.params, equal_nan=True))
    idx = sample_indices(n, cfg.pick(5, 40, 200))
    problems = [Problem(np.vstack([N[i], D[i]]), loss[i], start, alt_starts=(true[i],)) for i in idx]
    sc = np.full((len(idx), 5), np.nan)
    ok = np.zeros(len(idx), bool)
    t_sc = 0.0
    with quiet():
        for j, prob in enumerate(problems):
            p, sec = _curve_fit(prob.x, prob.y, start, lo, hi)
            t_sc += sec
            if p is not None:
                sc[j], ok[j] = p, True
    ref, ref_cost = reference_bounded(problems, [est[idx], sc], lo, hi)
    a_fit = _compare(MODEL, problems, est[idx], ref, ref_cost)
    a_core = _compare(MODEL, problems, sol.params[idx], ref, ref_cost)
    a_sc = _compare(MODEL, problems, sc, ref, ref_cost)
    judge([a_fit, a_core, a_sc])
    ratio = t_core / t_fit
    est_sc = t_sc / len(idx) * n
    problem = 'fit(df, "chinchilla", by="dataset", starts=<1 point>)'
    size = f"{n:,} laws x {m} pts"
    shape = {"laws": n, "points": m, "starts": 1, "loss": "l2", "seed": cfg.seed + 13, "scipy_sample": len(idx)}
    rep = cfg.pick(1, 3, 3)
    rows = [
        _row("user_groups", problem, size, "lawfit.fit", n, m, t_fit, n, a_fit, lawfit_status(res.status),
             f"whole call (table in, FitResult out), best of {rep} after a first call of {t_first_fit:.3f} s "
             f"(the core's first: {t_first_core:.3f} s); accuracy on {len(idx)} sampled groups; "
             f"{est_sc / t_fit:,.0f}x scipy", shape),
        _row("user_groups", problem, size, "lawfit.solve_batch (core)", n, m, t_core, n, a_core,
             lawfit_status(sol.status),
             f"fit / solve_batch throughput = {ratio:.2f} (issue 13's target >= 0.8); same problems, inputs "
             f"prepared outside the timing, best of {rep}; answers identical to fit's: {same}", shape),
        _row("user_groups", problem, size, SCIPY_CF, n, m, est_sc, len(idx), a_sc, _scipy_status(ok),
             f"timed on {len(idx)} of {n:,} groups (evenly spread), time per fit x {n:,}", shape),
    ]
    cfg.extra.setdefault("userflow", {})["groups"] = {"fit_seconds": t_fit, "solve_batch_seconds": t_core,
                                                      "first_fit_seconds": t_first_fit,
                                                      "first_solve_batch_seconds": t_first_core,
                                                      "fit_over_solve_batch_throughput": ratio,
                                                      "answers_identical": same, "scipy_seconds_est": est_sc}
    return rows
