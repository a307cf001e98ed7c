"""The multistart's pruning pass evaluates only the cost (batch.hpp, fit_problem): the full evaluation's cost bits.

``solve_batch(evaluate_only=True)`` without J^T W J outputs accumulates no
gradient; with ``want_jtj=True`` it runs the full evaluation.  The costs of the
two must be identical for every loss and residual space, on the interpreter and
on the catalog's compiled code, with bootstrap counts, weights, and starts where
the law is not finite.  The statuses differ only where the cost is finite and
the Jacobian is not: the cost-only pass cannot see that, so the driver
(engine.starts) confirms the starts it chooses with a full evaluation and
chooses exactly the starts that ranking by full evaluations would.
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
    assert np.array_equal(fast.status, full.status)  # no start here has a finite cost and a non-finite Jacobian
    assert np.array_equal(fast.nfev, full.nfev)
    statuses = set(np.unique(fast.status).tolist())
    assert {int(lawfit.Status.NOT_RUN), int(lawfit.Status.NON_FINITE), int(lawfit.Status.BAD_INPUT)} <= statuses


def _power_with_origin():
    """a (x - x0)^b on data including x = 0: from x0 = 0 the cost is finite, d/dx0 is not."""
    from lawfit.catalog import Law

    law = Law("a*(x - x0)**b", inputs=["x"], params=["a", "x0", "b"])
    x = np.linspace(0.0, 10.0, 40)
    y = 2.0 * x ** 0.5 + np.random.default_rng(0).normal(0, 0.01, x.size)
    starts = np.array([[2.0, 0.0, 0.5], [1.0, -0.5, 0.7], [1.5, -0.2, 0.6], [3.0, -1.0, 0.4]])
    return law, x, y, starts


def test_a_start_with_a_finite_cost_and_no_jacobian_is_never_chosen():
    law, x, y, starts = _power_with_origin()
    cols = law.program.input_matrix({"x": x})
    offsets = np.array([0, x.size], np.int64)
    laws_of = np.zeros(len(starts), np.int64)
    fast = solve_batch(law.program, cols, y, offsets, starts, problem_law=laws_of, evaluate_only=True,
                       want_jtj=False)
    full = solve_batch(law.program, cols, y, offsets, starts, problem_law=laws_of, evaluate_only=True,
                       want_jtj=True)
    assert np.array_equal(fast.cost, full.cost)
    assert fast.status[0] == int(lawfit.Status.NOT_RUN) and full.status[0] == int(lawfit.Status.NON_FINITE)
    assert fast.cost[0] == fast.cost.min()  # the best cost: the cost alone would choose it
    # The driver does not: prune=1 runs LM from the best start LM can start from.
    chosen = law.fit(x, y, starts=starts, prune=1)
    without = law.fit(x, y, starts=starts[1:], prune=1)
    from lawfit.status import is_converged

    assert chosen.status == without.status and is_converged([chosen.status])[0]
    assert chosen.params == without.params
    # In the driver's own record the start is not run at all, as when a full evaluation ranked the starts.
    from lawfit.engine.data import Data
    from lawfit.engine.options import Options
    from lawfit.engine.starts import run_starts

    P = len(law.params)
    out = run_starts(Data(law.program, cols, y, offsets), starts, Options(), lower=np.full((1, P), -np.inf),
                     upper=np.full((1, P), np.inf), fixed=np.zeros(P, bool), prune=1)
    assert out.all_status[0, 0] == int(lawfit.Status.NOT_RUN) and out.n_run.tolist() == [1]
    assert out.best_start.tolist() == [int(np.nanargmin(np.where(full.status == 0, full.cost, np.nan)))]


def test_confirmed_order_is_the_ranking_by_full_evaluations():
    from lawfit.engine.starts import _confirmed_order

    rng = np.random.default_rng(4)
    L, S = 30, 40
    cost = rng.uniform(0, 1, (L, S))
    cost[rng.random((L, S)) < 0.1] = np.nan              # not evaluable at all
    no_jacobian = rng.random((L, S)) < 0.3               # finite cost, no Jacobian
    no_jacobian[:3] = np.isfinite(cost[:3])              # laws where LM can start nowhere
    k_law = rng.integers(1, S + 1, L)
    asked = []

    def evaluable(law_i, start_i):
        asked.append(len(law_i))
        return ~no_jacobian[law_i, start_i]

    order, excluded = _confirmed_order(cost, k_law, evaluable)
    reference = np.argsort(np.where(np.isfinite(cost) & ~no_jacobian, cost, np.inf), axis=1, kind="stable")
    for law in range(L):
        k = k_law[law]
        if k < S:  # the chosen starts, in order, are those of the full ranking
            assert np.array_equal(order[law, :k], reference[law, :k]), law
        else:      # every start runs: nothing to confirm
            assert not excluded[law].any()
    assert sum(asked) < L * S  # not a full evaluation of every start
    k_law[:3] = 5
    order, excluded = _confirmed_order(cost, k_law, evaluable)
    for law in range(3):  # LM can start nowhere: every start of finite cost was tried and excluded
        assert np.array_equal(excluded[law], np.isfinite(cost[law]))
