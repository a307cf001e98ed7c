"""A released collection fitted at once: every family x cut-off law of the Hitchhiker's ColPret data.

Choshen, Zhang and Andreas (2024, "A Hitchhiker's Guide to Scaling Law
Estimation", arXiv:2410.11840) study how well laws fitted on part of a model
family predict the rest.  From their collection (``hitchhiker_colpret``, the
long table: one row per model, checkpoint and loss metric) this benchmark
builds one law per

* family: a (``scaled_set``, ``metric``) pair, checkpoints before 1e10 tokens
  dropped (the paper's ``cut_beginning``);
* cut-off: only checkpoints up to a fraction f in {0.1, 0.2, ..., 1} of each
  model's final token count, and for families of several model sizes also
  without the h largest sizes, h = 0 ... 4 while 3 sizes remain.

Laws are fitted as ColPret fits them: in log space, the law in log-sum-exp
form with a Huber loss (delta = 1e-3) on log y.  A family with >= 3 model
sizes gets the Chinchilla law ``LSE(a - alpha log N, b - beta log D, e)``
started from ColPret's datablations fit (a=6.2554, b=7.3050, e=0.6255,
alpha=beta=0.3527); a family with fewer sizes gets one learning curve
``LSE(b - beta log D, e)`` per model, started from its own data (E = 0.9 min
y, beta = 0.3, B through the first point).  A law needs at least 8
(Chinchilla) or 6 (curve) points.  lawfit fits each law form's whole
collection in one ``solve_batch`` call; the peers, scipy least_squares
(huber) and L-BFGS-B on the Huber objective, fit an evenly spread sample and
their time is extrapolated by points (laws range from 6 to 44,000 points).
Many of these laws are ill-posed (one learning curve does not pin down an
irreducible loss), so every tool reports failures; the check only counts a
failure against a tool where another tool solved that law.
"""
from __future__ import annotations

import numpy as np

from ..core import Config, Model, Problem, available_peers, compare, judge, lawfit_status, reference
from ..core import Row, run_peer, sample_indices, status_counts, timed
from ..data import load_colpret_long
from .epoch import DELTA, LAW as CHINCHILLA, MODEL as CHINCHILLA_MODEL, PARAMS as CHINCHILLA_PARAMS

CUT_BEGINNING = 1e10
FRACTIONS = tuple(np.round(np.arange(0.1, 1.01, 0.1), 1))
MAX_HELD_OUT = 4
#: ColPret's initial guess (from the datablations fit), as (a, b, e, alpha, beta).
COLPRET_START = np.array([6.255414, 7.3049974, 0.6254804, 0.3526596, 0.3526596])
CURVE = "log(exp(b - beta*log(D)) + exp(e))"
CURVE_PARAMS = ["b", "e", "beta"]
PEERS = ("scipy least_squares", "scipy L-BFGS-B")


def curve(x, b, e, beta):
    """log(B D^-beta + E) on x = log D, stable."""
    v = b - beta * x
    m = np.maximum(v, e)
    return m + np.log(np.exp(v - m) + np.exp(e - m))


def curve_jac(x, b, e, beta):
    f = curve(x, b, e, beta)
    wv, we = np.exp(b - beta * x - f), np.exp(e - f)
    return np.column_stack([wv, we, -wv * x])


def curve_start(D, y):
    E = 0.9 * np.min(y)
    i = np.argmin(D)
    B = max(y[i] - E, 1e-3) * D[i] ** 0.3
    return np.array([np.log(B), np.log(E), 0.3])


def build_laws(df):
    """The two collections: chinchilla laws [(key, N, D, y)] and curve laws [(key, D, y)]."""
    df = df[np.isfinite(df["value"]) & (df["value"] > 0) & (df["tokens_seen"] >= CUT_BEGINNING)
            & np.isfinite(df["num_params_numeric"]) & df["scaled_set"].notna()]
    chin, curves, seen = [], [], set()
    for (fam, metric), g in df.groupby(["scaled_set", "metric"], sort=True):
        g = g.sort_values(["num_params_numeric", "tokens_seen"])
        N = g["num_params_numeric"].to_numpy(float)
        D = g["tokens_seen"].to_numpy(float)
        y = g["value"].to_numpy(float)
        model = g["model_name"].to_numpy()
        final = g.groupby("model_name")["tokens_seen"].transform("max").to_numpy(float)
        sizes = np.unique(N)
        for f in FRACTIONS:
            keep_f = D <= f * final * (1 + 1e-12)
            if len(sizes) >= 3:
                for h in range(0, min(MAX_HELD_OUT, len(sizes) - 3) + 1):
                    keep = keep_f & (N <= sizes[len(sizes) - 1 - h])
                    if keep.sum() < 8 or len(np.unique(N[keep])) < 3:
                        continue
                    key = (fam, metric, f, h)
                    sig = (fam, metric, h, keep.tobytes())
                    if sig not in seen:
                        seen.add(sig)
                        chin.append((key, N[keep], D[keep], y[keep]))
            else:
                for m in np.unique(model):
                    keep = keep_f & (model == m)
                    if keep.sum() < 6:
                        continue
                    sig = (fam, metric, m, keep.tobytes())
                    if sig not in seen:
                        seen.add(sig)
                        curves.append(((fam, metric, m, f), D[keep], y[keep]))
    return chin, curves


def _solve(program, x_rows, ys, p0, threads):
    """One batch: the laws concatenated (ragged), Huber on log y."""
    from ...engine.core import solve_batch

    sizes = np.array([len(y) for y in ys], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    cols = program.input_matrix(dict(zip(program.input_names, x_rows)))
    return solve_batch(program, cols, np.log(np.concatenate(ys)), offsets, p0, loss="huber", delta=DELTA,
                       want_jtj=False, n_threads=threads)


def colpret(cfg: Config) -> list:
    """Every family x cut-off law of ColPret, each law form in one batch."""
    from ...status import is_converged
    from ...formula import compile_law

    got = load_colpret_long(cfg.data_dir)
    if got is None:
        cfg.skip("colpret", "hitchhiker_colpret not found (set LAWFIT_DATA or --data)")
        return []
    df, source = got
    chin, curves = build_laws(df)
    if cfg.scale == "toy":
        chin, curves = chin[:20], curves[:20]
    n_sample = cfg.pick(5, 40, 200)
    forms = [
        ("Chinchilla 5p", compile_law(CHINCHILLA, inputs=["N", "D"], params=CHINCHILLA_PARAMS),
         CHINCHILLA_MODEL,
         [np.concatenate([law[1] for law in chin]), np.concatenate([law[2] for law in chin])] if chin else [],
         [np.vstack([np.log(N), np.log(D)]) for _, N, D, _ in chin], [y for *_, y in chin],
         np.tile(COLPRET_START, (len(chin), 1))),
        ("learning curve 3p", compile_law(CURVE, inputs=["D"], params=CURVE_PARAMS),
         Model(curve, curve_jac, loss="huber", delta=DELTA),
         [np.concatenate([law[1] for law in curves])] if curves else [],
         [np.log(D) for _, D, _ in curves], [y for *_, y in curves],
         np.array([curve_start(D, y) for _, D, y in curves]).reshape(-1, 3)),
    ]
    rows = []
    total_laws = len(chin) + len(curves)
    for label, program, model, x_rows, xs, ys, p0 in forms:
        if not ys:
            continue
        _solve(program, [x[: len(ys[0])] for x in x_rows], ys[:1], p0[:1], cfg.threads)  # warm-up
        seconds, sol = timed(lambda: _solve(program, x_rows, ys, p0, cfg.threads), cfg.pick(1, 2, 3))
        params = np.where(is_converged(sol.status)[:, None], sol.params, np.nan)
        n = len(ys)
        sizes = np.array([len(y) for y in ys])
        idx = sample_indices(n, n_sample)
        problems = [Problem(xs[i], np.log(ys[i]), p0[i]) for i in idx]
        peers = {name: run_peer(name, model, problems) for name in available_peers(cfg, PEERS)}
        ref, ref_cost = reference(model, problems, [params[idx]] + [r[0] for r in peers.values()])
        agreements = {"lawfit": compare(model, problems, params[idx], ref, ref_cost)}
        agreements.update({name: compare(model, problems, r[0], ref, ref_cost) for name, r in peers.items()})
        judge(list(agreements.values()))
        size = f"{n:,} laws x {int(np.median(sizes)):,} pts (median; {int(sizes.sum()):,} in all)"
        keys = [law[0] for law in (chin if label.startswith("Chinchilla") else curves)]
        shape = {"laws": n, "points_median": int(np.median(sizes)), "points_total": int(sizes.sum()),
                 "points_max": int(sizes.max()), "params": int(p0.shape[1]), "loss": "huber", "delta": DELTA,
                 "residual": "log", "data": source, "families": len({k[:2] for k in keys}),
                 "collection_laws": total_laws, "peer_sample": len(idx)}
        problem = f"ColPret {label}, huber d=1e-3, log"
        a = agreements["lawfit"]
        rows.append(Row("colpret", problem, size, "lawfit", n, float(np.median(sizes)), n / seconds, seconds, n,
                        "max rel param diff", a.max_rel_param_diff, a.agree, a.compared, a.check,
                        lawfit_status(sol.status), f"accuracy on {len(idx)} sampled laws; data: {source}",
                        None, shape))
        for name, (_pp, ok, sec) in peers.items():
            a = agreements[name]
            est = sec / sizes[idx].sum() * sizes.sum()  # laws differ in size: extrapolate by points
            rows.append(Row("colpret", problem, size, name, n, float(np.median(sizes)), n / est, est, len(idx),
                            "max rel param diff", a.max_rel_param_diff, a.agree, a.compared, a.check,
                            status_counts(ok), f"timed on {len(idx)} of {n:,} laws, time extrapolated by points",
                            None, shape))
    return rows
