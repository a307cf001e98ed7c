"""The core's per-problem point checks (batch.hpp, check_points): every kind of bad point, anywhere in a problem.

The CPU checks a problem's points in one branch-free pass (vectorised; the
pruning pass runs it once per start); a bad value in any position of any
column, y, weight or group id makes that problem, and only that one, BAD_INPUT.
"""
from __future__ import annotations

import numpy as np
import pytest

import lawfit
from lawfit.demo import make_collection
from lawfit.engine.core import solve_batch

N_LAWS, N_POINTS = 6, 37


def _batch():
    N, D, loss, _ = make_collection(N_LAWS, N_POINTS, seed=5)
    program = lawfit.laws["chinchilla"].program
    cols = program.input_matrix({"N": N.ravel(), "D": D.ravel()})
    offsets = np.arange(N_LAWS + 1, dtype=np.int64) * N_POINTS
    p0 = np.tile([2.0, 400.0, 0.3, 1000.0, 0.3], (N_LAWS, 1))
    return program, cols, loss.ravel(), offsets, p0


CASES = [(where, value) for where in ("y", "column0", "column3") for value in (np.nan, np.inf, -np.inf)]
CASES += [("weight", value) for value in (np.nan, np.inf, -1.0)] + [("group", -1)]


@pytest.mark.parametrize("evaluate_only", [False, True])
@pytest.mark.parametrize("where,value", CASES)
@pytest.mark.parametrize("position", [0, 17, N_POINTS - 1])
def test_one_bad_point_spoils_only_its_problem(where, value, position, evaluate_only):
    program, cols, y, offsets, p0 = _batch()
    weight = np.ones_like(y)
    group = np.repeat(np.arange(N_POINTS, dtype=np.int32)[None, :], N_LAWS, axis=0).ravel()
    bad_law = 3
    k = bad_law * N_POINTS + position
    if where == "y":
        y[k] = value
    elif where.startswith("column"):
        cols[int(where[-1]), k] = value
    elif where == "weight":
        weight[k] = value
    else:
        group[k] = -1
    kw = {"group": group, "problem_resample": np.zeros(N_LAWS, np.int64)} if where == "group" else {}
    sol = solve_batch(program, cols, y, offsets, p0, weight=weight, evaluate_only=evaluate_only,
                      want_jtj=not evaluate_only, **kw)
    bad = sol.status == int(lawfit.Status.BAD_INPUT)
    assert bad.tolist() == [i == bad_law for i in range(N_LAWS)]
    assert np.isnan(sol.cost[bad_law]) and np.isfinite(sol.cost[~bad]).all()


def test_a_resample_drawing_fewer_points_than_parameters_is_bad_input():
    # 5 free parameters, 6 points per law: a Poisson(1) resample leaves out each point with probability
    # 1/e, so many draw fewer than 5 distinct points; exactly those are BAD_INPUT.
    from lawfit.engine.native import bootstrap_counts

    n_laws, m = 4, 6
    N, D, loss, _ = make_collection(n_laws, m, seed=2)
    program = lawfit.laws["chinchilla"].program
    cols = program.input_matrix({"N": N.ravel(), "D": D.ravel()})
    offsets = np.arange(n_laws + 1, dtype=np.int64) * m
    law = np.repeat(np.arange(n_laws, dtype=np.int64), 50)
    resample = np.tile(np.arange(50, dtype=np.int64), n_laws)
    p0 = np.tile([2.0, 400.0, 0.3, 1000.0, 0.3], (law.size, 1))
    sol = solve_batch(program, cols, loss.ravel(), offsets, p0, problem_law=law, problem_resample=resample,
                      seed=11, evaluate_only=True, want_jtj=False)
    drawn = np.array([np.count_nonzero(bootstrap_counts(11, int(g), int(r), m)) for g, r in zip(law, resample)])
    bad = sol.status == int(lawfit.Status.BAD_INPUT)
    assert np.array_equal(bad, drawn < 5)
    assert 0 < bad.sum() < bad.size
