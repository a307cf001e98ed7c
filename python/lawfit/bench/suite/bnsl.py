"""Broken neural scaling law with one break (Caballero et al. 2023, "Broken Neural Scaling Laws", eq. 1).

``y = a + b * x**(-c0) * (1 + (x/d1)**(1/f1))**(-c1*f1)``: a power law with
exponent c0 that bends to exponent c0 + c1 around x = d1, with sharpness f1.
Written as a lawfit formula (6 parameters, no hand-written derivatives).
Synthetic laws: a in [0.5, 1], b in [5, 20], c0 in [0.1, 0.4], c1 in [0.2, 0.6],
d1 = 10**U(2, 4), f1 in [0.2, 1]; 60 points with x log-uniform in [1, 1e6],
1% multiplicative noise.  Every tool starts each law from the same point, the
true parameters scaled by 1 + 0.1 N(0, 1) (a local fit, as after a grid search).
"""
from __future__ import annotations

import numpy as np

from ..core import Config, Model, Problem, available_peers, compare_on_sample, fmt_size, lawfit_status
from ..core import sample_indices, timed

LAW = "a + b*x**(-c0) * (1 + (x/d1)**(1/f1))**(-c1*f1)"
PARAMS = ["a", "b", "c0", "c1", "d1", "f1"]
PEERS = ("scipy curve_fit lm", "scipy curve_fit trf", "lmfit leastsq")


def bnsl(x, a, b, c0, c1, d1, f1):
    return a + b * x ** (-c0) * (1 + (x / d1) ** (1 / f1)) ** (-c1 * f1)


MODEL = Model(bnsl)


def make(n_laws: int, n_points: int, seed: int):
    rng = np.random.default_rng(seed)
    true = np.column_stack([
        rng.uniform(0.5, 1.0, n_laws), rng.uniform(5, 20, n_laws), rng.uniform(0.1, 0.4, n_laws),
        rng.uniform(0.2, 0.6, n_laws), 10 ** rng.uniform(2, 4, n_laws), rng.uniform(0.2, 1.0, n_laws),
    ])
    x = np.sort(10 ** rng.uniform(0, 6, (n_laws, n_points)), axis=1)
    y = bnsl(x, *(true[:, i : i + 1] for i in range(6))) * (1 + 0.01 * rng.standard_normal((n_laws, n_points)))
    p0 = true * (1 + 0.1 * rng.standard_normal(true.shape))
    return x, y, true, p0


def _fit_all(x, y, p0, threads):
    from ...curve_fit import curve_fit

    popt, _pcov, status = curve_fit(LAW, {"x": x}, y, p0=p0, n_threads=threads, param_names=PARAMS)
    return popt, status


def bnsl_fit(cfg: Config) -> list:
    """BNSL with one break, 60 points per law."""
    sizes = cfg.pick([30], [1000], [10_000])
    n_sample = cfg.pick(6, 60, 200)
    points = 60
    x0, y0, _, p00 = make(8, points, 99)
    _fit_all(x0, y0, p00, cfg.threads)  # warm-up
    rows = []
    for n in sizes:
        x, y, true, p0 = make(n, points, cfg.seed + 4)
        seconds, (popt, status) = timed(lambda: _fit_all(x, y, p0, cfg.threads), cfg.pick(1, 3, 3))
        idx = sample_indices(n, n_sample)
        problems = [Problem(x[i], y[i], p0[i], alt_starts=(true[i],)) for i in idx]
        shape = {"laws": n, "points": points, "params": 6, "loss": "l2", "peer_sample": len(idx),
                 "start": "true * (1 + 0.1 N(0,1))"}
        rows += compare_on_sample("bnsl", "BNSL, 1 break, 6p", fmt_size(n, points), n, points, MODEL,
                                  problems, popt[idx], seconds, lawfit_status(status),
                                  available_peers(cfg, PEERS), shape)
    return rows
