"""Robust-fitting benchmark: Chinchilla Approach 3 on Epoch's data, lawfit vs scipy.

    python bench/bench_robust.py [--scipy-starts 300] [--scipy-fd-starts 100]
                                 [--scipy-resamples 50] [--check-resamples 8]
                                 [--repeat 3] [--out DIR]

The analysis of Besiroglu et al. (2024, "Chinchilla Scaling: A replication
attempt"): Huber loss (delta = 1e-3) on log-loss residuals of
L = LSE(a - alpha log N, b - beta log D, e), from the 4,500-start grid
alpha, beta in {0, 0.5, ..., 2}, e in {-1, ..., 1}, a, b in {0, 5, ..., 25},
then 4,000 bootstrap resamples.  In one run it times

* lawfit: the 4,500-start grid (every start run to convergence, and with
  ``prune=100``), the 4,000 resamples, and the full analysis end to end
  (grid + resamples + jackknife + percentile and BCa intervals);
* scipy.optimize.minimize(method="L-BFGS-B") on the same Huber objective,
  per start, on a random sample of the grid's starts (with a finite-difference
  gradient as in Epoch's notebook, and with an analytic gradient), and per
  resample from the optimum — extrapolated to 4,500 starts and 4,000
  resamples (mean per-start time x count, +- its standard error: per-start
  times are heavy-tailed, from 1 ms to 0.3 s) and labelled as such;
* the pruning check: ``--check-resamples`` resamples fitted from all 4,500
  starts, compared with the same resamples fitted from the full-data optimum.

Prints Markdown tables; writes seed, shapes, versions and timings as JSON to
``--out`` (default bench/results/).  Needs scipy and the data in
../shared/data/epoch_chinchilla (or $LAWFIT_DATA).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import lawfit
from lawfit.bench.report import simple_table as table
from lawfit.engine.core import default_threads
from lawfit.bootstrap import bootstrap
from lawfit.multistart import fit_multistart

LSE = "log(exp(a - alpha*log(N)) + exp(b - beta*log(D)) + exp(e))"
PARAMS = ["a", "b", "e", "alpha", "beta"]
GRID = {"a": np.arange(0, 26, 5.0), "b": np.arange(0, 26, 5.0), "e": np.arange(-1, 1.01, 0.5),
        "alpha": np.arange(0, 2.01, 0.5), "beta": np.arange(0, 2.01, 0.5)}
DELTA = 1e-3
SEED = 42
N_RESAMPLES = 4000
# Compute-optimal allocation (Hoffmann et al. 2022, eq. 4): N_opt = G (C/6)^(beta/(alpha+beta)),
# D_opt = (C/6)^(alpha/(alpha+beta)) / G, G = (alpha A / (beta B))^(1/(alpha+beta)); at Chinchilla's
# training compute C = 5.76e23 FLOP.
G = "((alpha*exp(a)/(beta*exp(b)))**(1/(alpha + beta)))"
C_CHINCHILLA = 5.76e23
DERIVED = {"E": "exp(e)", "A": "exp(a)", "B": "exp(b)", "alpha": "alpha", "beta": "beta",
           "a = beta/(alpha+beta)": "beta/(alpha + beta)",
           "N_opt(5.76e23)": f"{G} * (C/6)**(beta/(alpha + beta))",
           "D_opt(5.76e23)": f"(C/6)**(alpha/(alpha + beta)) / {G}",
           "D_opt/N_opt (5.76e23)": f"(C/6)**((alpha - beta)/(alpha + beta)) / {G}**2"}
BESIROGLU = {"E": (1.817, 1.769, 1.871), "A": (482.01, 285, 744), "B": (2085.43, 1042, 5810),
             "alpha": (0.348, 0.317, 0.373), "beta": (0.366, 0.331, 0.415)}
HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def load_epoch():
    root = os.environ.get("LAWFIT_DATA")
    base = Path(root) if root else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    folder = base / "epoch_chinchilla"
    if not folder.is_dir():
        raise SystemExit(f"Epoch Chinchilla data not found at {folder} (set LAWFIT_DATA)")
    from lawfit.datasets import load_epoch_chinchilla

    df = load_epoch_chinchilla(folder, replication=True)  # the 240 runs Besiroglu et al. kept
    return df["N"].to_numpy(float), df["D"].to_numpy(float), df["loss"].to_numpy(float)


def best_of(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


# ------------------------------------------------------------------ scipy reference
def scipy_objective(logN, logD, logL):
    """The Huber objective and (value, gradient), written as fast as numpy allows
    (a stabilised log-sum-exp and one pass for the gradient), so the comparison is fair."""

    def terms(p):
        a, b, e, alpha, beta = p
        z1, z2 = a - alpha * logN, b - beta * logD
        m = np.maximum(np.maximum(z1, z2), e)
        w1, w2, w3 = np.exp(z1 - m), np.exp(z2 - m), np.exp(e - m)
        s = w1 + w2 + w3
        r = logL - (m + np.log(s))
        ar = np.abs(r)
        return np.where(ar <= DELTA, 0.5 * r * r, DELTA * (ar - 0.5 * DELTA)).sum(), r, s, w1, w2, w3

    def f(p):
        return terms(p)[0]

    def f_and_grad(p):
        value, r, s, w1, w2, w3 = terms(p)
        dr = -np.clip(r, -DELTA, DELTA) / s  # d huber / d pred, times 1/s for the softmax weights
        return value, np.array([np.dot(dr, w1), np.dot(dr, w2), np.dot(dr, w3),
                                -np.dot(dr * w1, logN), -np.dot(dr * w2, logD)])

    return f, f_and_grad


def scipy_starts(starts, logN, logD, logL, analytic: bool):
    """L-BFGS-B (scipy's defaults) from each start: (x, cost) rows and per-start seconds."""
    from scipy.optimize import minimize

    f, fg = scipy_objective(logN, logD, logL)
    out = np.full((len(starts), 6), np.nan)
    secs = np.empty(len(starts))
    for k, p0 in enumerate(starts):
        t0 = time.perf_counter()
        res = minimize(fg, p0, jac=True, method="L-BFGS-B") if analytic else \
            minimize(f, p0, method="L-BFGS-B")
        secs[k] = time.perf_counter() - t0
        out[k, :5], out[k, 5] = res.x, res.fun
    return out, secs


def extrapolate(secs: np.ndarray, n: int) -> tuple[float, float]:
    """Total for n draws from the sampled per-item times, and its standard error."""
    return n * secs.mean(), n * secs.std(ddof=1) / np.sqrt(secs.size)


# ------------------------------------------------------------------ lawfit
def lawfit_grid(x, y, prune=None, device="cpu"):
    return fit_multistart(LSE, x, y, GRID, params=PARAMS, loss="huber", delta=DELTA, prune=prune,
                          device=device)


def full_analysis(x, y, device="cpu"):
    fit = lawfit_grid(x, y, device=device)
    boot = bootstrap(fit, N_RESAMPLES, seed=SEED)
    rows = {}
    for name, expr in DERIVED.items():
        r = boot.derived(expr, {"C": [C_CHINCHILLA]} if "C" in expr else None)
        plo, phi = r.interval(0.95)
        blo, bhi = r.interval(0.95, method="bca")
        rows[name] = {"estimate": float(r.estimate[0, 0]), "se": float(r.stderr()[0, 0]),
                      "pct_lo": float(plo[0, 0]), "pct_hi": float(phi[0, 0]),
                      "bca_lo": float(blo[0, 0]), "bca_hi": float(bhi[0, 0])}
    return fit, boot, rows




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scipy-starts", type=int, default=300,
                    help="grid starts timed with scipy (per-start times are heavy-tailed: keep it large)")
    ap.add_argument("--scipy-fd-starts", type=int, default=100,
                    help="of those, starts also timed with a finite-difference gradient")
    ap.add_argument("--scipy-resamples", type=int, default=50, help="resamples timed with scipy")
    ap.add_argument("--check-resamples", type=int, default=8,
                    help="resamples also fitted from all 4,500 starts (pruning check)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(Path(__file__).with_name("results")))
    args = ap.parse_args()
    try:
        import scipy
    except ImportError:
        raise SystemExit("this benchmark compares against scipy: pip install scipy")
    info = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
            "threads": default_threads(), "lawfit": lawfit.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "device": args.device, "seed": SEED, "loadavg": os.getloadavg()}

    N, D, loss = load_epoch()
    x, y = {"N": N, "D": D}, np.log(loss)
    logN, logD = np.log(N), np.log(D)
    lawfit_grid(x, y, prune=10, device=args.device)  # warm-up

    # --- lawfit timings
    t_grid, fit = best_of(lambda: lawfit_grid(x, y, device=args.device), args.repeat)
    t_prune, fit_p = best_of(lambda: lawfit_grid(x, y, prune=100, device=args.device), args.repeat)
    t_boot, boot_nojk = best_of(lambda: bootstrap(fit, N_RESAMPLES, seed=SEED, jackknife=False), args.repeat)
    t_full, (fit_f, boot, rows) = best_of(lambda: full_analysis(x, y, device=args.device), args.repeat)
    assert np.allclose(fit_p.cost, fit.cost, rtol=1e-8), "pruned grid lost the optimum"
    np.testing.assert_array_equal(boot.params.replicates, boot_nojk.params.replicates)

    # --- pruning check: the first K resamples from all 4,500 starts
    K = args.check_resamples
    t_check, chk = best_of(lambda: bootstrap(fit, K, seed=SEED, starts="grid", jackknife=False), 1)
    rel = chk.cost[0] / boot.cost[0, :K] - 1
    dparam = np.abs(chk.params.replicates[0] - boot.params.replicates[0, :K]).max()
    t_unpruned = t_grid + t_check / K * N_RESAMPLES

    # --- scipy
    rng = np.random.default_rng(0)
    from lawfit.multistart import grid_starts
    all_starts = grid_starts(GRID, PARAMS)
    sample = all_starts[rng.choice(len(all_starts), args.scipy_starts, replace=False)]
    sc_fd, secs_fd = scipy_starts(sample[:args.scipy_fd_starts], logN, logD, y, analytic=False)
    sc_an, secs_an = scipy_starts(sample, logN, logD, y, analytic=True)
    # scipy from our best grid start (does it reach the same optimum?)
    sc_best, _ = scipy_starts(all_starts[fit.best_start[0]][None], logN, logD, y, analytic=True)
    # scipy bootstrap: multinomial resamples from the optimum (the classical bootstrap)
    from scipy.optimize import minimize
    R = args.scipy_resamples
    secs_boot = np.empty(R)
    for r in range(R):
        idx = rng.integers(0, y.size, y.size)
        _, fg = scipy_objective(logN[idx], logD[idx], y[idx])
        t0 = time.perf_counter()
        minimize(fg, fit.params[0], jac=True, method="L-BFGS-B")
        secs_boot[r] = time.perf_counter() - t0

    est = {"E": np.exp(fit.params[0, 2]), "A": np.exp(fit.params[0, 0]), "B": np.exp(fit.params[0, 1]),
           "alpha": fit.params[0, 3], "beta": fit.params[0, 4]}
    scipy_grid_fd, se_fd = extrapolate(secs_fd, 4500)
    scipy_grid_an, se_an = extrapolate(secs_an, 4500)
    scipy_boot, se_boot = extrapolate(secs_boot, N_RESAMPLES)
    timing = [
        {"what": "one law, 4,500-start grid (every start to convergence)", "lawfit s": t_grid,
         "scipy s": f"{scipy_grid_an:,.0f} +- {se_an:,.0f} (extrap. from {len(sample)} starts; analytic "
                    f"grad) / {scipy_grid_fd:,.0f} +- {se_fd:,.0f} (finite-diff grad, {len(secs_fd)} starts)",
         "speed-up": f"{scipy_grid_an / t_grid:,.0f}x / {scipy_grid_fd / t_grid:,.0f}x"},
        {"what": "same grid, prune=100 (objective at all 4,500, LM from best 100)", "lawfit s": t_prune,
         "scipy s": "", "speed-up": f"{scipy_grid_an / t_prune:,.0f}x / {scipy_grid_fd / t_prune:,.0f}x"},
        {"what": "4,000 resamples from the full-data optimum", "lawfit s": t_boot,
         "scipy s": f"{scipy_boot:,.1f} +- {se_boot:,.1f} (extrap. from {R} resamples)", "speed-up": f"{scipy_boot / t_boot:,.0f}x"},
        {"what": "full analysis: grid + 4,000 resamples + jackknife + percentile/BCa intervals",
         "lawfit s": t_full, "scipy s": f"{scipy_grid_an + scipy_boot:,.1f} (extrap., no jackknife)",
         "speed-up": f"{(scipy_grid_an + scipy_boot) / t_full:,.0f}x"},
        {"what": f"unpruned: 4,500 starts x (1 + 4,000 resamples) (extrap. from {K} resamples)",
         "lawfit s": t_unpruned, "scipy s": f"{scipy_grid_an * (1 + N_RESAMPLES):,.0f} (extrap.)",
         "speed-up": ""},
    ]
    print(f"## Chinchilla Approach 3 on Epoch's 240 runs ({info['threads']} threads, "
          f"device {args.device}, load average {info['loadavg'][0]:.2f})\n")
    print(table(timing, ["what", "lawfit s", "scipy s", "speed-up"]))
    print(f"\nTargets: grid < 0.3 s: {'met' if t_grid < 0.3 else 'NOT met'} "
          f"(pruned: {'met' if t_prune < 0.3 else 'NOT met'}); full analysis < 60 s: "
          f"{'met' if t_full < 60 else 'NOT met'}.")
    print(f"Pruning check: {K} resamples from all 4,500 starts vs from the optimum: max relative cost "
          f"difference {np.abs(rel).max():.1e} (grid better by > 1e-6 in {int(np.sum(rel < -1e-6))}), "
          f"max parameter difference {dparam:.1e}.")
    print(f"Grid: {fit.n_converged[0]:,} of 4,500 starts converged; basin count {fit.basin_count[0]} "
          f"(within 1e-6 of the best cost); prune=100 kept the optimum (basin {fit_p.basin_count[0]}).")
    print(f"scipy L-BFGS-B: best of the {len(sample)} sampled starts has cost {np.nanmin(sc_an[:, 5]):.6g} "
          f"(analytic) / {np.nanmin(sc_fd[:, 5]):.6g} (finite-diff) vs lawfit's {fit.cost[0]:.6g}; from "
          f"lawfit's best start scipy reaches {sc_best[0, 5]:.6g} at "
          f"E={np.exp(sc_best[0, 2]):.4f}, alpha={sc_best[0, 3]:.4f}, beta={sc_best[0, 4]:.4f}.\n")

    res_rows = []
    for name, r in rows.items():
        pub = BESIROGLU.get(name)
        res_rows.append({
            "quantity": name, "lawfit": r["estimate"], "Besiroglu": pub[0] if pub else "",
            "lawfit 95% percentile": f"{r['pct_lo']:.4g} - {r['pct_hi']:.4g}",
            "lawfit 95% BCa": f"{r['bca_lo']:.4g} - {r['bca_hi']:.4g}",
            "Besiroglu 95%": f"{pub[1]:.4g} - {pub[2]:.4g}" if pub else "",
            "lawfit boot SE": r["se"], "Hoffmann": HOFFMANN.get(name, ""),
        })
    print(f"## Estimates and intervals ({N_RESAMPLES:,} resamples, seed {SEED}; "
          f"{int(boot.n_failed[0])} failed)\n")
    print(table(res_rows, ["quantity", "lawfit", "Besiroglu", "lawfit 95% percentile", "lawfit 95% BCa",
                           "Besiroglu 95%", "lawfit boot SE", "Hoffmann"]))
    h = HOFFMANN
    hp = np.array([[np.log(h["A"]), np.log(h["B"]), np.log(h["E"]), h["alpha"], h["beta"]]])
    at_h = fit_multistart(LSE, x, y, hp, params=PARAMS, loss="huber", delta=DELTA, prune=1)
    print(f"\nHoffmann et al.'s estimates: Huber objective {at_h.start_cost[0, 0]:.6g} "
          f"= {at_h.start_cost[0, 0] / fit.cost[0]:.1f}x the optimum; LM started there converges to "
          f"E={np.exp(at_h.params[0, 2]):.4f}, alpha={at_h.params[0, 3]:.4f}, beta={at_h.params[0, 4]:.4f} "
          f"(cost {at_h.cost[0]:.6g}).")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"robust_{time.strftime('%Y%m%d_%H%M%S')}.json"
    path.write_text(json.dumps({
        "info": info, "shape": {"points": int(y.size), "starts": 4500, "resamples": N_RESAMPLES},
        "lawfit_seconds": {"grid": t_grid, "grid_prune100": t_prune, "bootstrap": t_boot, "full": t_full,
                           "unpruned_extrapolated": t_unpruned, "check_grid_resamples": t_check},
        "scipy_seconds": {"per_start_fd": secs_fd.tolist(), "per_start_analytic": secs_an.tolist(),
                          "per_resample": secs_boot.tolist(), "grid_fd_extrapolated": scipy_grid_fd,
                          "grid_analytic_extrapolated": scipy_grid_an, "bootstrap_extrapolated": scipy_boot},
        "pruning_check": {"resamples": K, "max_rel_cost_diff": float(np.abs(rel).max()),
                          "max_param_diff": float(dparam)},
        "estimates": {k: float(v) for k, v in est.items()}, "intervals": rows,
        "basin_count": int(fit.basin_count[0]),
    }, indent=2))
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
