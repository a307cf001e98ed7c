"""Robust losses: Chinchilla laws with outliers under huber, soft_l1, cauchy and arctan.

40 points per law from ``lawfit.demo.make_collection``; in each law 10% of
the points are corrupted (loss multiplied by U(1.1, 1.3)).  The loss scale
is delta = 0.05 (the clean noise is about 0.025).  lawfit runs one batch per
loss through the core (``solve_batch(loss=..., delta=...)``, scipy's
Triggs-corrected Gauss-Newton); the peers are
``scipy.optimize.least_squares(loss=..., f_scale=delta)`` and, for huber,
L-BFGS-B on the Huber objective with its exact gradient.
"""
from __future__ import annotations

import numpy as np

from ..core import Config, Model, Problem, available_peers, compare_on_sample, fmt_size, lawfit_status
from ..core import sample_indices, timed
from .chinchilla import LAW, START, chinchilla, chinchilla_jac

DELTA = 0.05


def make(n_laws: int, seed: int):
    from ...demo import make_collection

    N, D, loss, true = make_collection(n_laws, 40, seed=seed)
    rng = np.random.default_rng(seed + 1000)
    bad = rng.random(loss.shape) < 0.10
    loss = np.where(bad, loss * rng.uniform(1.1, 1.3, loss.shape), loss)
    return N, D, loss, true


def robust(cfg: Config) -> list:
    """Chinchilla + 10% outliers under each robust loss."""
    from ...engine.core import solve_batch
    from ...status import is_converged
    from ...formula import compile_law

    losses = cfg.pick(["huber"], ["huber", "soft_l1", "cauchy", "arctan"], ["huber", "soft_l1", "cauchy", "arctan"])
    n = cfg.pick(30, 1000, 10_000)
    n_sample = cfg.pick(5, 40, 100)
    program = compile_law(LAW, inputs=["N", "D"])
    N, D, y, true = make(n, cfg.seed + 5)
    cols = program.input_matrix({"N": N.ravel(), "D": D.ravel()})
    offsets = np.arange(n + 1, dtype=np.int64) * 40
    p0 = np.tile(START, (n, 1))
    idx = sample_indices(n, n_sample)
    rows = []
    for loss in losses:
        def fit():
            return solve_batch(program, cols, y.ravel(), offsets, p0, loss=loss, delta=DELTA,
                               want_jtj=False, n_threads=cfg.threads)

        fit()  # warm-up
        seconds, sol = timed(fit, cfg.pick(1, 3, 3))
        lf = np.where(is_converged(sol.status)[:, None], sol.params, np.nan)
        model = Model(chinchilla, chinchilla_jac, loss=loss, delta=DELTA)
        problems = [Problem(np.vstack([N[i], D[i]]), y[i], START, alt_starts=(true[i],)) for i in idx]
        peers = ["scipy least_squares"] + (["scipy L-BFGS-B"] if loss == "huber" else [])
        shape = {"laws": n, "points": 40, "params": 5, "loss": loss, "delta": DELTA, "outliers": 0.10,
                 "peer_sample": len(idx)}
        rows += compare_on_sample("robust", f"Chinchilla + outliers, {loss} d={DELTA:g}", fmt_size(n, 40),
                                  n, 40, model, problems, lf[idx], seconds, lawfit_status(sol.status),
                                  available_peers(cfg, peers), shape)
    return rows
