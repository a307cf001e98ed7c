"""The simplest scaling law: a 2-parameter power law ``y = a * x**-b`` (Hestness et al. 2017 without the floor).

Synthetic laws: a in [1, 10], b in [0.2, 0.8], 20 points with x log-uniform in
[1, 1e4], 2% multiplicative noise, start (1, 0.5).  lawfit fits all laws in
one ``curve_fit`` call; scipy (lm, trf) and lmfit fit an evenly spread sample.
"""
from __future__ import annotations

import numpy as np

from ..core import Config, Model, Problem, available_peers, compare_on_sample, fmt_size, lawfit_status
from ..core import sample_indices, timed

LAW = "a*x**-b"
START = np.array([1.0, 0.5])
PEERS = ("scipy curve_fit lm", "scipy curve_fit trf", "lmfit leastsq")


def power(x, a, b):
    return a * x ** -b


def power_jac(x, a, b):
    f = x ** -b
    return np.column_stack([f, -a * np.log(x) * f])


MODEL = Model(power, power_jac)


def make(n_laws: int, n_points: int, seed: int):
    rng = np.random.default_rng(seed)
    true = np.column_stack([rng.uniform(1, 10, n_laws), rng.uniform(0.2, 0.8, n_laws)])
    x = 10 ** rng.uniform(0, 4, (n_laws, n_points))
    y = true[:, :1] * x ** -true[:, 1:] * (1 + 0.02 * rng.standard_normal((n_laws, n_points)))
    return x, y, true


def _fit_all(x, y, threads):
    from ...curve_fit import curve_fit

    popt, _pcov, status = curve_fit(LAW, {"x": x}, y, p0=START, n_threads=threads)
    return popt, status


def powerlaw(cfg: Config) -> list:
    """2-parameter power law, 20 points per law."""
    sizes = cfg.pick([50], [10_000], [1000, 100_000])
    n_sample = cfg.pick(8, 100, 200)
    points = 20
    x0, y0, _ = make(16, points, 99)
    _fit_all(x0, y0, cfg.threads)  # warm-up
    rows = []
    for n in sizes:
        x, y, true = make(n, points, cfg.seed + 3)
        seconds, (popt, status) = timed(lambda: _fit_all(x, y, cfg.threads), cfg.pick(1, 3, 3))
        idx = sample_indices(n, n_sample)
        problems = [Problem(x[i], y[i], START, alt_starts=(true[i],)) for i in idx]
        shape = {"laws": n, "points": points, "params": 2, "loss": "l2", "peer_sample": len(idx)}
        rows += compare_on_sample("powerlaw", "power law a*x**-b", fmt_size(n, points), n, points, MODEL,
                                  problems, popt[idx], seconds, lawfit_status(status),
                                  available_peers(cfg, PEERS), shape)
    return rows
