"""The multistart's pruning pass evaluates only the cost (batch.hpp, fit_problem): same bits as the full evaluation.

``solve_batch(evaluate_only=True)`` without J^T W J outputs accumulates no
gradient; with ``want_jtj=True`` it runs the full evaluation.  The costs and
statuses of the two must be identical for every loss and residual space, on the
interpreter and on the catalog's compiled code (whose fused path the cost-only
pass leaves), with bootstrap counts, weights, and starts where the law is not
finite.
"""
from __future__ import annotations

import numpy as np
import pytest

import lawfit
from lawfit.demo import make_collection
from lawfit.engine.core import solve_batch


def _batch(seed: int = 3, n_laws: int = 12, n_points: int = 37):
    N, D, loss, _ = make_collection(n_laws, n_points, seed=seed)
    program = lawfit.laws["chinchilla"].program
    cols = program.input_matrix({"N": N.ravel(), "D": D.ravel()})
    offsets = np.arange(n_laws + 1, dtype=np.int64) * n_points
    rng = np.random.default_rng(seed)
    starts = np.column_stack([rng.uniform(0.5, 3, 40), 10 ** rng.uniform(1, 4, 40), rng.uniform(0.05, 0.9, 40),
                              10 ** rng.uniform(1, 5, 40), rng.uniform(0.05, 0.9, 40)])
    starts[3] = [1.0, 1e300, -5.0, 1e3, 0.3]  # A N^5 overflows: not evaluable
    starts[7, 2] = np.nan                     # not a start: BAD_INPUT
    law = np.repeat(np.arange(n_laws, dtype=np.int64), len(starts))
    p0 = np.tile(starts, (n_laws, 1))
    return program, cols, loss.ravel(), offsets, law, p0


@pytest.mark.parametrize("jit", [False, "auto"])
@pytest.mark.parametrize("loss,residual", [("l2", "linear"), ("huber", "log"), ("soft_l1", "linear"),
                                           ("cauchy", "log"), ("arctan", "linear")])
def test_cost_only_pass_equals_the_full_evaluation(jit, loss, residual):
    program, cols, y, offsets, law, p0 = _batch()
    weight = np.random.default_rng(1).uniform(0.5, 2.0, y.size)
    resample = np.where(np.arange(law.size) % 3 == 0, -1, np.arange(law.size) % 5).astype(np.int64)
    common = dict(problem_law=law, loss=loss, delta=0.05, residual=residual, weight=weight,
                  problem_resample=resample, seed=7, evaluate_only=True, jit=jit)
    fast = solve_batch(program, cols, y, offsets, p0, want_jtj=False, **common)
    full = solve_batch(program, cols, y, offsets, p0, want_jtj=True, **common)
    assert np.array_equal(fast.cost, full.cost, equal_nan=True)
    assert np.array_equal(fast.status, full.status)
    assert np.array_equal(fast.nfev, full.nfev)
    statuses = set(np.unique(fast.status).tolist())
    assert {int(lawfit.Status.NOT_RUN), int(lawfit.Status.NON_FINITE), int(lawfit.Status.BAD_INPUT)} <= statuses
