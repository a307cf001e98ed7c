"""The embedded demo: a synthetic collection of Chinchilla laws fitted in one batch.

Each law is L = E + A / N**alpha + B / D**beta (Hoffmann et al. 2022, eq. 2),
with true parameters scattered around Besiroglu et al.'s (2024) replication
estimates, N log-uniform in [1e7, 1e10], D in [1e9, 1e12] and 1% multiplicative
noise.  The demo prints recovered versus true parameters and the time taken,
next to scipy's curve_fit on a sample of the same laws when scipy is installed.
"""
from __future__ import annotations

import time

import numpy as np

from .engine.core import default_threads
from .status import is_converged, summarize_status
from .curve_fit import curve_fit

CHINCHILLA = "E + A/N**alpha + B/D**beta"
PARAMS = ("E", "A", "alpha", "B", "beta")
START = np.array([2.0, 400.0, 0.3, 1000.0, 0.3])


def make_collection(n_laws: int = 1000, n_points: int = 40, seed: int = 0, noise: float = 0.01):
    """Synthetic laws: (N, D) of shape (n_laws, n_points), loss, and the true parameters."""
    rng = np.random.default_rng(seed)
    true = np.column_stack([
        rng.uniform(1.6, 2.0, n_laws),       # E
        rng.uniform(350.0, 600.0, n_laws),   # A
        rng.uniform(0.30, 0.40, n_laws),     # alpha
        rng.uniform(1500.0, 2500.0, n_laws), # B
        rng.uniform(0.32, 0.42, n_laws),     # beta
    ])
    N = 10 ** rng.uniform(7, 10, (n_laws, n_points))
    D = 10 ** rng.uniform(9, 12, (n_laws, n_points))
    E, A, alpha, B, beta = (true[:, i : i + 1] for i in range(5))
    loss = (E + A / N**alpha + B / D**beta) * (1 + noise * rng.standard_normal((n_laws, n_points)))
    return N, D, loss, true


def fit_collection(N, D, loss, n_threads=None, jit="auto"):
    """Fit every law of the collection in one batch; returns popt, pcov, status.

    ``jit`` as :func:`lawfit.curve_fit`'s, whose default it is: the demo's law is the catalog's
    ``chinchilla`` program, so it runs the code compiled into the package; ``jit=False`` interprets
    (the same answers, bit for bit)."""
    return curve_fit(CHINCHILLA, {"N": N, "D": D}, loss, p0=START, n_threads=n_threads, jit=jit)


def scipy_fits(N, D, loss, n_sample: int, **kwargs):
    """Fit the first n_sample laws with scipy.optimize.curve_fit(method='lm') in a loop.

    ``kwargs`` go to curve_fit (tolerances, ``jac``).  Returns (params, seconds);
    rows where scipy raised are NaN.
    """
    from scipy.optimize import curve_fit as scipy_curve_fit

    def chinchilla(x, E, A, alpha, B, beta):
        return E + A / x[0] ** alpha + B / x[1] ** beta

    out = np.full((n_sample, 5), np.nan)
    t0 = time.perf_counter()
    for k in range(n_sample):
        try:
            out[k] = scipy_curve_fit(chinchilla, np.vstack([N[k], D[k]]), loss[k], p0=START, method="lm",
                                     **kwargs)[0]
        except RuntimeError:
            pass
    return out, time.perf_counter() - t0


def run(n_laws: int = 1000, n_points: int = 40, seed: int = 0, n_threads=None, scipy_sample: int = 100) -> str:
    """Run the demo and return the printed report."""
    N, D, loss, true = make_collection(n_laws, n_points, seed)
    fit_collection(N[:10], D[:10], loss[:10], n_threads)  # warm-up (imports, tracing)
    t0 = time.perf_counter()
    popt, pcov, status = fit_collection(N, D, loss, n_threads)
    elapsed = time.perf_counter() - t0
    ok = is_converged(status)
    lines = [
        f"lawfit demo: {n_laws:,} Chinchilla laws L = {CHINCHILLA}, {n_points} points each, "
        f"1% noise, seed {seed}",
        f"fitted in {elapsed * 1e3:.1f} ms on {n_threads or default_threads()} thread(s): "
        f"{n_laws / elapsed:,.0f} fits/s; {summarize_status(status)}",
        "",
        f"{'param':>6} {'true (median)':>14} {'fit (median)':>14} {'median |rel err|':>17} {'median stderr/|p|':>18}",
    ]
    stderr = np.sqrt(np.diagonal(pcov, axis1=1, axis2=2))
    for i, name in enumerate(PARAMS):
        rel = np.abs(popt[ok, i] / true[ok, i] - 1)
        lines.append(
            f"{name:>6} {np.median(true[:, i]):>14.4g} {np.median(popt[ok, i]):>14.4g} "
            f"{np.median(rel):>17.3%} {np.median(stderr[ok, i] / np.abs(popt[ok, i])):>18.3%}"
        )
    if scipy_sample <= 0:
        return "\n".join(lines)
    try:
        sample = min(scipy_sample, n_laws)
        ref, t_scipy = scipy_fits(N, D, loss, sample)
    except ImportError:
        lines += ["", "scipy is not installed: no comparison."]
    else:
        both = np.isfinite(ref).all(axis=1) & ok[:sample]
        agree = np.max(np.abs(popt[:sample][both] / ref[both] - 1)) if both.any() else np.nan
        rate_scipy = sample / t_scipy
        lines += [
            "",
            f"scipy.optimize.curve_fit(method='lm') on {sample} of the same laws: {rate_scipy:,.0f} fits/s "
            f"-> lawfit is {n_laws / elapsed / rate_scipy:,.0f}x faster; "
            f"max relative parameter difference where both converge: {agree:.1e}",
        ]
    return "\n".join(lines)
