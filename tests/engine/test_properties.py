"""Property tests (hypothesis) of the public fitting API.

Invariances a correct least-squares solver has whatever the data: the order of
the points does not matter, scaling y scales the linear parameters, a batch
fits each problem as a single fit would, held parameters never move, a fit
restarted at its solution stops within a few evaluations, more starts never
give a worse best cost, and results are bit-identical across runs and thread
counts.  The compiled interpreter's values and derivatives are checked on
random formulas against the numpy reference evaluator and finite differences (the reference
evaluator itself is checked in test_formula.py).
"""
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import lawfit
from lawfit import Status, _core
from lawfit.engine.core import solve_batch
from lawfit.formula import compile_law

CONVERGED = [int(s) for s in (Status.CONVERGED_FTOL, Status.CONVERGED_XTOL,
                              Status.CONVERGED_FTOL_XTOL, Status.CONVERGED_GTOL)]
LAW = "a*exp(-b*x) + c"
TIGHT = {"ftol": 1e-12, "xtol": 1e-12}  # both fits end at the minimum, not near it

# derandomize + no example database: every run (and CI) tries the same examples.
SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=40,
                    suppress_health_check=[HealthCheck.too_slow])


def standard_errors(pcov):
    return np.sqrt(np.abs(np.diagonal(pcov, axis1=-2, axis2=-1)))


def assert_same_fit(got, expected, pcov):
    """Equal up to what ftol = 1e-12 resolves: 1e-4 of a standard error (or 1e-7 relative)."""
    tol = 1e-7 * np.abs(expected) + 1e-4 * standard_errors(pcov)
    assert np.all(np.abs(got - expected) <= tol), (got, expected, tol)


def fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LawfitWarning / OptimizeWarning for failed rows
        return lawfit.curve_fit(*args, **kwargs)


@st.composite
def decay_problems(draw, min_points=10, max_points=60):
    """x, y of a noisy exponential decay, the true parameters and a start near them."""
    a = draw(st.floats(0.5, 5.0))
    b = draw(st.floats(0.3, 2.0))
    c = draw(st.floats(-1.0, 1.0))
    m = draw(st.integers(min_points, max_points))
    noise = a * draw(st.sampled_from([1e-3, 1e-2, 3e-2]))  # well-determined: noise below the signal
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = np.sort(rng.uniform(0.0, 5.0, m))
    y = a * np.exp(-b * x) + c + noise * rng.standard_normal(m)
    p0 = np.array([a, b, c]) * (1 + rng.uniform(-0.3, 0.3, 3)) + rng.uniform(-0.1, 0.1, 3)
    return x, y, np.array([a, b, c]), p0


# ------------------------------------------------------------------ invariances


@SETTINGS
@given(decay_problems(), st.integers(0, 2**32 - 1))
def test_permuting_points_leaves_the_fit_unchanged(problem, seed):
    x, y, _, p0 = problem
    perm = np.random.default_rng(seed).permutation(x.size)
    popt, pcov, status = fit(LAW, [x, x[perm]], [y, y[perm]], p0=p0, **TIGHT)
    assert all(s in CONVERGED for s in status), status
    assert_same_fit(popt[1], popt[0], pcov[0])
    np.testing.assert_allclose(standard_errors(pcov[1]), standard_errors(pcov[0]), rtol=1e-5)


@SETTINGS
@given(decay_problems(), st.sampled_from([-1e3, -2.5, 1e-3, 0.5, 7.0, 1e4]))
def test_scaling_y_scales_the_linear_parameters(problem, scale):
    # y = a exp(-b x) + c  ->  s y = (s a) exp(-b x) + (s c): a and c scale, b does not;
    # the covariance scales as D pcov D with D = diag(s, 1, s).
    x, y, _, p0 = problem
    d = np.array([scale, 1.0, scale])
    p0s = np.stack([p0, p0 * d])
    popt, pcov, status = fit(LAW, [x, x], [y, scale * y], p0=p0s, **TIGHT)
    assert all(s in CONVERGED for s in status), status
    expected = pcov[0] * np.outer(d, d)
    assert_same_fit(popt[1], popt[0] * d, expected)
    np.testing.assert_allclose(standard_errors(pcov[1]), standard_errors(expected), rtol=1e-5)


@SETTINGS
@given(st.lists(decay_problems(min_points=2, max_points=40), min_size=1, max_size=8),
       st.lists(st.sampled_from(["ok", "ok", "ok", "nan", "short"]), min_size=8, max_size=8))
def test_batched_equals_individual(problems, spoil):
    xs, ys, p0s = [], [], []
    for (x, y, _, p0), how in zip(problems, spoil):
        y = y.copy()
        if how == "nan":
            y[len(y) // 2] = np.nan
        elif how == "short":
            x, y = x[:2], y[:2]
        xs.append(x)
        ys.append(y)
        p0s.append(p0)
    popt, pcov, status = fit(LAW, xs, ys, p0=np.array(p0s))
    for k, (x, y, p0) in enumerate(zip(xs, ys, p0s)):
        if not np.isfinite(y).all() or y.size < 3:
            assert status[k] == Status.BAD_INPUT
            assert np.isnan(popt[k]).all()
            continue
        if status[k] not in CONVERGED:
            assert np.isnan(popt[k]).all()
            with pytest.raises(RuntimeError):
                fit(LAW, x, y, p0=p0)
            continue
        p1, c1 = fit(LAW, x, y, p0=p0)
        # One problem's fit does not depend on its neighbours in the batch.  A single
        # fit runs on the calling thread (its sums in another order than the batch's
        # blocks); both are finished to where the cost stops changing in float64.
        assert_same_fit(popt[k], p1, c1)
        np.testing.assert_allclose(pcov[k], c1, rtol=1e-5, atol=1e-12 * np.abs(c1).max())


@SETTINGS
@given(st.lists(decay_problems(), min_size=1, max_size=6),
       st.lists(st.booleans(), min_size=3, max_size=3).filter(lambda m: not all(m)))
def test_fixed_parameters_stay_fixed(problems, held):
    program = compile_law(LAW, ["x"])
    x = np.concatenate([p[0] for p in problems])
    y = np.concatenate([p[1] for p in problems])
    offsets = np.concatenate([[0], np.cumsum([p[0].size for p in problems])])
    p0 = np.array([p[3] for p in problems])
    sol = solve_batch(program, program.input_matrix(x), y, offsets, p0,
                      fixed=np.array(held, dtype=np.uint8), n_threads=2, **TIGHT)
    held = np.array(held)
    # Held values come back bit for bit, whatever the status.
    np.testing.assert_array_equal(sol.params[:, held], p0[:, held])
    if held.any():  # no curvature rows for held parameters
        assert np.all(sol.jtj[:, held, :] == 0) and np.all(sol.jtj[:, :, held] == 0)
    # The free ones are the fit of the law with the held values written in as constants.
    for k, (xk, yk, _, p0k) in enumerate(problems):
        if sol.status[k] not in CONVERGED:
            continue
        text = LAW
        for name, value, h in zip("abc", p0k, held):
            if h:
                text = re.sub(rf"\b{name}\b", f"({float(value)!r})", text)
        free = [n for n, h in zip("abc", held) if not h]
        reduced = compile_law(text, ["x"], params=free)
        ref = solve_batch(reduced, reduced.input_matrix(xk), yk, np.array([0, xk.size]),
                          p0k[~held], **TIGHT)
        assert ref.status[0] in CONVERGED
        np.testing.assert_allclose(sol.params[k, ~held], ref.params[0], rtol=1e-6, atol=1e-8)


@SETTINGS
@given(st.lists(decay_problems(), min_size=1, max_size=6))
def test_refitting_from_the_solution_stops_at_once(problems):
    xs = [p[0] for p in problems]
    ys = [p[1] for p in problems]
    p0 = np.array([p[3] for p in problems])
    popt, pcov, info, _, status = fit(LAW, xs, ys, p0=p0, full_output=True, **TIGHT)
    ok = np.isin(status, CONVERGED)
    assume(ok.any())
    again, _, info2, _, status2 = fit(LAW, [xs[k] for k in np.flatnonzero(ok)],
                                      [ys[k] for k in np.flatnonzero(ok)], p0=popt[ok],
                                      full_output=True)
    assert np.isin(status2, CONVERGED).all()
    # One evaluation and the finish's confirming steps (until the cost stops changing in float64).
    assert info2["nfev"].max() <= 12, info2["nfev"]
    assert np.all(info2["cost"] <= info["cost"][ok] * (1 + 1e-12))
    # It moves by a negligible fraction of each parameter's standard error.
    assert_same_fit(again, popt[ok], pcov[ok])


@SETTINGS
@given(decay_problems(), st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_more_starts_never_give_a_worse_best_cost(problem, n_first, n_more, seed):
    x, y, _, _ = problem
    rng = np.random.default_rng(seed)
    starts = np.column_stack([rng.uniform(0.1, 6, n_first + n_more), rng.uniform(0.05, 3, n_first + n_more),
                              rng.uniform(-2, 2, n_first + n_more)])
    program = compile_law(LAW, ["x"])
    columns = program.input_matrix(x)

    def best(p0):
        sol = solve_batch(program, columns, y, np.array([0, x.size]), p0,
                          problem_law=np.zeros(len(p0), dtype=np.int64), n_threads=2)
        ok = np.isin(sol.status, CONVERGED)
        return sol, (sol.cost[ok].min() if ok.any() else np.inf)

    few, best_few = best(starts[:n_first])
    many, best_many = best(starts)
    assert best_many <= best_few
    # The first starts are solved exactly as before: problems never interact.
    np.testing.assert_array_equal(many.params[:n_first], few.params)
    np.testing.assert_array_equal(many.cost[:n_first], few.cost)


# ------------------------------------------------------------------ determinism


@settings(derandomize=True, database=None, deadline=None, max_examples=25)
@given(st.lists(decay_problems(min_points=2, max_points=50), min_size=1, max_size=40),
       st.sampled_from([2, 3]))
def test_bit_identical_across_thread_counts_and_runs(problems, threads):
    xs = [p[0] for p in problems]
    ys = [p[1].copy() for p in problems]
    if len(ys) > 2:
        ys[1][0] = np.nan  # a bad problem in the mix
    p0 = np.array([p[3] for p in problems])
    runs = [fit(LAW, xs, ys, p0=p0, n_threads=n, full_output=True) for n in (1, threads, threads, 1)]
    popt, pcov, info, _, status = runs[0]
    for other in runs[1:]:
        np.testing.assert_array_equal(other[0], popt)   # NaN rows compare equal
        np.testing.assert_array_equal(other[1], pcov)
        np.testing.assert_array_equal(other[4], status)
        np.testing.assert_array_equal(other[2]["nfev"], info["nfev"])
        np.testing.assert_array_equal(other[2]["cost"], info["cost"])


# ------------------------------------------------------------------ the compiled interpreter

# Templates keep every operation inside its smooth domain for any real f, g,
# so finite differences are meaningful.  Integer powers compile to POWI.
UNARY = ["exp(tanh({}))", "log(1 + ({})**2)", "log10(2 + sin({}))", "log1p(({})**2)",
         "expm1(tanh({}))", "sqrt(1 + ({})**2)", "abs({}) ** 3", "sin({})", "cos({})",
         "tan(tanh({}))", "arctan({})", "tanh({})", "sigmoid({})", "softplus({})", "-({})",
         "({})**3", "(2 + tanh({}))**-2", "square({})", "(1 + ({})**2)**0.5"]
BINARY = ["({}) + ({})", "({}) - ({})", "({}) * ({})", "({}) / (1.5 + cos({}))",
          "(1 + ({})**2)**tanh({})", "pow(1 + ({})**2, sigmoid({}))", "minimum({}, ({}) + 3)",
          "maximum({}, ({}) - 3)"]
LEAVES = st.sampled_from(["x", "y", "a", "b", "c", "0.7", "1.3", "x*a", "b*y", "c/x"])


def _extend(children):
    return st.one_of(
        st.builds(lambda t, f: t.format(f), st.sampled_from(UNARY), children),
        st.builds(lambda t, f, g: t.format(f, g), st.sampled_from(BINARY), children, children),
    )


FORMULAS = st.recursive(LEAVES, _extend, max_leaves=12)
POINTS = {"x": np.linspace(0.5, 2.0, 23), "y": np.linspace(1.9, -0.8, 23)}


@settings(derandomize=True, database=None, deadline=None, max_examples=150)
@given(FORMULAS, st.lists(st.floats(-1.5, 1.5), min_size=3, max_size=3))
def test_compiled_interpreter_matches_reference_and_finite_differences(text, p):
    program = compile_law(text, ["x", "y"], params=["a", "b", "c"])
    columns = program.input_matrix(POINTS)
    code, consts = program.code, program.consts
    value, grad = _core.evaluate(code, consts, 3, columns, np.array(p))
    ref_value, ref_grad = program.evaluate_columns(p, columns)
    scale = 1 + np.abs(ref_value).max()
    np.testing.assert_allclose(value, ref_value, rtol=1e-10, atol=1e-12 * scale)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-8, atol=1e-10 * (1 + np.abs(ref_grad).max()))
    # Central differences of the compiled values themselves.
    p = np.array(p)
    for j in range(3):
        h = 1e-6 * max(1.0, abs(p[j]))
        up, down = p.copy(), p.copy()
        up[j] += h
        down[j] -= h
        fd = (_core.evaluate(code, consts, 3, columns, up)[0]
              - _core.evaluate(code, consts, 3, columns, down)[0]) / (2 * h)
        np.testing.assert_allclose(grad[:, j], fd, rtol=1e-5, atol=1e-6 * scale)
