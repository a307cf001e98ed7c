"""curve_fit's single fits: the core's direct entry point (solve_single) and the trace cache's key memo.

``solve_single`` runs the residual program in the core; ``solve_callback``
with the core's ``evaluate`` as the callable was the path before it.  Both
sum the normal equations in one order, so every result is the same bits.
"""
import functools

import numpy as np
import pytest

import lawfit
from lawfit.engine import native as core
from lawfit.engine import single
from lawfit.tracing import traced_model


def power(x, a, b, c):
    return a * x**-b + c


def chinchilla(X, E, A, alpha, B, beta):
    N, D = X
    return E + A * N**-alpha + B * D**-beta


def _problems():
    rng = np.random.default_rng(7)
    for m in (10, 20, 40, 60):
        x = np.sort(10 ** rng.uniform(0, 3, m))
        true = np.array([3.0, 0.5, 1.0])
        y = power(x, *true) * (1 + 0.02 * rng.standard_normal(m))
        yield power, x, y, true * rng.uniform(0.5, 1.5, 3), None
        yield power, x, y, true * 1.1, rng.uniform(0.5, 2.0, m)
        X = np.vstack([10 ** rng.uniform(7, 10, m), 10 ** rng.uniform(9, 12, m)])
        true = np.array([1.8, 450.0, 0.34, 2000.0, 0.37])
        y = chinchilla(X, *true) * (1 + 0.01 * rng.standard_normal(m))
        yield chinchilla, X, y, true * rng.uniform(0.7, 1.3, 5), None
        yield chinchilla, X, y, np.array([1.0, 100.0, 0.5, 100.0, 0.5]), None


@pytest.mark.parametrize("bounded", [False, True])
@pytest.mark.parametrize("tolerances", [(1e-14, 1e-12, 0), (1.49012e-8, 1.49012e-8, 0), (1e-14, 1e-12, 7)])
def test_solve_single_matches_the_callback_path_bit_for_bit(bounded, tolerances):
    ftol, xtol, max_nfev = tolerances
    n = 0
    for f, x, y, p0, w in _problems():
        traced = traced_model(f, x, p0, y.size)
        program = traced.program
        cols = single.residual_columns(traced.layout.matrix(x), y, w, program)
        code = single._residual_code(program, w is not None)
        P = p0.size
        lo, hi = (np.zeros(P), np.full(P, 1e4)) if bounded else (np.full(P, -np.inf), np.full(P, np.inf))
        direct = core.solve_single(code, program.consts, program.n_params, cols, p0, lo, hi, ftol, xtol, 0.0,
                                   max_nfev)
        fun = functools.partial(core.evaluate, code, program.consts, program.n_params, cols)
        called = core.solve_callback(fun, p0, None, lo, hi, ftol, xtol, 0.0, max_nfev)
        assert direct[0].tobytes() == called[0].tobytes()
        assert direct[5].tobytes() == called[5].tobytes()
        assert direct[1:5] == called[1:5]
        n += 1
    assert n == 16


def test_solve_single_rejects_bad_arguments():
    program = traced_model(power, np.linspace(1, 2, 5), np.ones(3), 5).program
    code = single._residual_code(program, False)
    cols = np.ones((program.n_columns + 1, 5))
    inf = np.full(3, np.inf)
    with pytest.raises(ValueError, match="one value per parameter"):
        core.solve_single(code, program.consts, 3, cols, np.ones(2), -inf, inf, 1e-8, 1e-8, 0.0, 0)
    with pytest.raises(ValueError, match="2-D"):
        core.solve_single(code, program.consts, 3, np.ones(5), np.ones(3), -inf, inf, 1e-8, 1e-8, 0.0, 0)


def test_non_finite_residuals_give_a_status():
    x = np.array([0.5, 1.0, 2.0, 3.0])
    program = traced_model(power, x, np.ones(3), 4).program
    cols = single.residual_columns(x[None], np.ones(4), None, program)
    cols[:, 0] = np.nan
    code = single._residual_code(program, False)
    inf = np.full(3, np.inf)
    out = core.solve_single(code, program.consts, 3, cols, np.ones(3), -inf, inf, 1e-8, 1e-8, 0.0, 0)
    assert out[4] == int(lawfit.Status.NON_FINITE)


SCALE = 2.0


def scaled(x, a, b):
    return SCALE * a * np.exp(-b * x)


def test_rebinding_a_global_scalar_retraces():
    # The key memo reuses a model's key only while its globals are the same objects.
    global SCALE
    x = np.linspace(0, 3, 30)
    y = 6.0 * np.exp(-0.7 * x)
    try:
        SCALE = 2.0
        popt, _ = lawfit.curve_fit(scaled, x, y, p0=[1.0, 1.0])
        np.testing.assert_allclose(popt, [3.0, 0.7], rtol=1e-10)
        SCALE = 3.0
        popt, _ = lawfit.curve_fit(scaled, x, y, p0=[1.0, 1.0])
        np.testing.assert_allclose(popt, [2.0, 0.7], rtol=1e-10)
    finally:
        SCALE = 2.0


def test_new_default_value_retraces():
    x = np.linspace(0, 3, 30)
    y = 6.0 * np.exp(-0.7 * x)

    def model(x, a, b, k=2.0):
        return k * a * np.exp(-b * x)

    popt, _ = lawfit.curve_fit(model, x, y, p0=[1.0, 1.0])
    np.testing.assert_allclose(popt, [3.0, 0.7], rtol=1e-10)
    model.__defaults__ = (3.0,)
    popt, _ = lawfit.curve_fit(model, x, y, p0=[1.0, 1.0])
    np.testing.assert_allclose(popt, [2.0, 0.7], rtol=1e-10)


# Law 33 of lawfit.demo.make_collection(10_000, 10, seed=2) (the bench row chinchilla_points): from
# Chinchilla's start, Levenberg-Marquardt runs out of evaluations (so does scipy's lm); the second chance's
# best start then converged (XTOL) to B = -1.9e82, beta = 5.5e78, where B / D**beta underflows to 0.
N33 = np.array([2.3591284158171139e+09, 1.1541885333787624e+07, 1.2133564047025307e+08, 3.4593707191748875e+08,
                8.3355360331292772e+08, 2.3606179200088539e+09, 1.1126728217180829e+09, 3.3370597875638604e+09,
                3.9162243134548508e+07, 1.0320934788549155e+08])
D33 = np.array([4.8573071627015979e+11, 6.1658319947338586e+11, 3.8975941100232048e+10, 9.2173436329996887e+11,
                5.9988118825967651e+11, 2.1993355364254385e+11, 3.5478508933967967e+09, 7.8943597938526953e+11,
                2.5003184897307220e+10, 2.2860460825816254e+11])
L33 = np.array([2.669790784807239, 5.345810537684888, 3.6655474490356417, 3.192602470114584, 2.876259279192536,
                2.6816440391112604, 3.0186172733305106, 2.5538641288790753, 4.300848427556121, 3.728228103103826])
START33 = np.array([2.0, 400.0, 0.3, 1000.0, 0.3])


def test_second_chance_refuses_a_switched_off_term_single():
    with pytest.raises(RuntimeError, match="Optimal parameters not found: Number of calls to function has "
                                           "reached maxfev = 600"):
        lawfit.curve_fit(chinchilla, np.vstack([N33, D33]), L33, p0=START33)


def _assert_batch_keeps_the_first_status(N, D, L):
    """The problem in a batch beside a well-posed one: a per-problem status, never a plateau as an answer."""
    good = chinchilla(np.vstack([N, D]), 1.8, 450.0, 0.34, 2000.0, 0.37)
    with pytest.warns(UserWarning):
        popt, _, status = lawfit.curve_fit("E + A/N**alpha + B/D**beta", {"N": N, "D": D},
                                           np.vstack([L, good]), p0=START33)
    assert status[0] == int(lawfit.Status.MAX_EVALUATIONS)
    assert np.isnan(popt[0]).all()
    assert status[1] in (1, 2, 3, 4)
    np.testing.assert_allclose(popt[1], [1.8, 450.0, 0.34, 2000.0, 0.37], rtol=1e-6)


def test_second_chance_refuses_a_switched_off_term_batch():
    _assert_batch_keeps_the_first_status(N33, D33, L33)


# Law 7550 of the same collection: from Chinchilla's start Levenberg-Marquardt runs out of evaluations
# (scipy's lm too); the second chance's best start then "converged" (FTOL) to E = 220.7, B = -218.0,
# beta = -1.0e-4: B / D**beta has turned into a constant collinear with E (E + B ~ 2.7, B * beta fixed),
# J^T J is singular to rounding, and the cost still falls along that valley.  The least-squares optimum
# is E = 2.14, A = 1865, alpha = 0.473, B = -1.46e-14, beta = -1.07, outside the second chance's box
# (starts keep the signs of p0): the problem keeps its first status instead of the valley point.
N7550 = np.array([1056541422.3362683, 23943636.09191247, 198071373.22164306, 1533518850.9522796,
                  10330258.530586904, 328520750.9720992, 3950584031.354275, 236313883.11592528,
                  36519905.56939847, 2701760892.78206])
D7550 = np.array([98646036530.59465, 543460137166.40515, 392529510999.2976, 197516457904.04974,
                  14324030962.328255, 189855307771.66965, 172645101217.68683, 65434561799.14999,
                  58157049241.71567, 592629318697.0107])
L7550 = np.array([2.2453481478430457, 2.687370851249455, 2.32201731608353, 2.1909017910033124,
                  3.0429453345267294, 2.319658937707402, 2.1613700910579685, 2.343131968167843,
                  2.6022587031852797, 2.140315699787048])
OPT7550 = np.array([2.1384966, 1864.98, 0.4729522, -1.45737e-14, -1.072239])


def test_second_chance_refuses_a_collinear_valley_single():
    X = np.vstack([N7550, D7550])
    with pytest.raises(RuntimeError, match="reached maxfev = 600"):
        lawfit.curve_fit(chinchilla, X, L7550, p0=START33)
    # From near the genuine optimum the fit converges there, at a lower cost than any valley point.
    popt, _ = lawfit.curve_fit(chinchilla, X, L7550, p0=OPT7550 * 1.01)
    np.testing.assert_allclose(popt[[0, 1, 2, 4]], OPT7550[[0, 1, 2, 4]], rtol=1e-4)
    valley = np.array([220.65711, 1201.80966, 0.447460965, -217.970797, -1.02453875e-4])
    cost = [np.sum((chinchilla(X, *p) - L7550) ** 2) for p in (popt, valley)]
    assert cost[0] < 0.97 * cost[1]


def test_second_chance_refuses_a_collinear_valley_batch():
    _assert_batch_keeps_the_first_status(N7550, D7550, L7550)


def test_singular_tells_a_collinear_valley_from_a_well_determined_fit():
    from lawfit.engine.retry import degenerate_one, singular

    X = np.vstack([N7550, D7550])

    def jtj(p):
        E, A, alpha, B, beta = p
        n, d = N7550 ** -alpha, D7550 ** -beta
        J = np.column_stack([np.ones(10), n, -A * np.log(N7550) * n, d, -B * np.log(D7550) * d])
        return J.T @ J

    valley = np.array([220.65711, 1201.80966, 0.447460965, -217.970797, -1.02453875e-4])
    dead = np.array([2.0, 0.0, 0.3, 1000.0, 0.3])  # A = 0: alpha's column is zero, not "singular"
    assert singular(np.stack([jtj(valley), jtj(OPT7550), jtj(dead)])).tolist() == [True, False, False]
    cost = 0.5 * np.sum((chinchilla(X, *valley) - L7550) ** 2)
    assert degenerate_one(cost, valley, START33, jtj(valley), L7550, None)
    cost = 0.5 * np.sum((chinchilla(X, *OPT7550) - L7550) ** 2)
    assert not degenerate_one(cost, OPT7550, START33, jtj(OPT7550), L7550, None)


def test_runaway_tells_a_bound_from_a_term_that_ran_away():
    from lawfit.engine.retry import runaway

    start = np.array([2.0, 400.0, 0.3, 1000.0, 0.3])
    params = np.array([[1.6, 257.0, 0.27, 5.4, 34.3],        # D**-34 underflows; no bound involved
                       [2.0, 409.8, 0.30, -1.9e82, 5.5e78],  # B and beta ran away
                       [0.0, 0.0, 3.0, 6291.8, 0.34]])       # A held at its bound 0, alpha at 3
    lower = np.array([0.0, 0.0, 0.0, 0.0, 0.0])
    upper = np.array([20.0, np.inf, 3.0, np.inf, 3.0])
    assert runaway(params, start).tolist() == [True, True, True]  # unbounded: every plateau is refused
    assert runaway(params, start, lower, upper).tolist() == [True, True, False]


def _same(a, b):
    """Bit-identical results: arrays by their bytes, dicts and tuples item by item."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    return a == b


@pytest.mark.parametrize("formula", [False, True])
def test_a_cached_call_gives_the_uncached_results(formula):
    # The first call traces (or compiles) the model and computes the hoisted rows; later calls take the
    # program from the caches, the hoisted rows of an input seen twice in a row from the program's memo.
    # Every call, and every output (popt, pcov, infodict, mesg, ier), is the same bits.
    from lawfit import tracing
    from lawfit.engine.options import Options
    from lawfit.formula import compile_law

    rng = np.random.default_rng(11)
    x = np.sort(10 ** rng.uniform(0, 3, 40))
    y = power(x, 3.0, 0.5, 1.0) * (1 + 0.01 * rng.standard_normal(40))
    f = "a*x**-b + c" if formula else (lambda x, a, b, c: a * x**-b + c)  # a new function: traced afresh
    calls = [lambda: lawfit.curve_fit(f, x, y, p0=[2.0, 0.4, 0.8], full_output=True),
             lambda: lawfit.curve_fit(f, x.copy(), y.copy(), p0=np.array([2.0, 0.4, 0.8]), full_output=True),
             lambda: lawfit.curve_fit(f, list(x), list(y), p0=(2.0, 0.4, 0.8), full_output=True)]
    first = calls[0]()
    assert first[2]["path"] == ("formula" if formula else "traced")
    for call in calls * 2:
        assert _same(call(), first)
    # a fresh program (no caches at all): the same bits again
    program = compile_law("a*x**-b + c", inputs=["x"])
    assert program._hoisted_memo is None
    cols = single.residual_columns(x, y, None, program)
    sol = single.solve_program(program, cols, y, None, np.array([2.0, 0.4, 0.8]), np.full(3, -np.inf),
                               np.full(3, np.inf), ftol=Options.ftol, xtol=Options.xtol, gtol=Options.gtol,
                               max_nfev=Options.max_nfev)
    assert sol.params.tobytes() == first[0].tobytes()
    if not formula:
        assert len(tracing._CACHE) > 0


def test_batch_inverse_reuse_gives_the_same_singular_test_and_covariance():
    # A batch inverts each J^T J once (free_block_inverse) for the singular test and the covariance:
    # both give what they give with their own inversions, on regular, singular and non-finite matrices.
    from lawfit.engine.covariance import free_block_inverse, scaled_covariance
    from lawfit.engine.retry import singular

    rng = np.random.default_rng(3)
    J = rng.standard_normal((40, 30, 4)) * 10.0 ** rng.uniform(-3, 3, (40, 1, 4))
    J[5, :, 3] = J[5, :, 0] * 2.0  # collinear columns
    J[6, :, 2] = 0.0  # a parameter without effect
    jtj = np.einsum("kmi,kmj->kij", J, J)
    jtj[7, 0, 1] = jtj[7, 1, 0] = np.nan
    inverse = free_block_inverse(jtj)
    assert singular(jtj, inverse).tolist() == singular(jtj).tolist()
    assert singular(jtj)[5]
    cost, sizes = rng.uniform(0.1, 1.0, 40), np.full(40, 30)
    for absolute in (False, True):
        for rule in ("inf", "pinv"):
            # the covariance takes the inverse's matrices over (no copy): a fresh copy per call here
            a = scaled_covariance(jtj, cost, sizes, 4, absolute, rule, inverse=(inverse[0].copy(), inverse[1]))
            b = scaled_covariance(jtj, cost, sizes, 4, absolute, rule)
            assert a[0].tobytes() == b[0].tobytes() and a[1].tolist() == b[1].tolist()


def test_non_finite_residuals_at_the_start_raise_as_scipy():
    """least_squares ('trf', 'dogbox') raises ValueError when the residuals at p0 are not finite
    (scipy/optimize/_lsq/least_squares.py); leastsq ('lm') returns p0 unchanged with an infinite
    covariance and an OptimizeWarning, which is no fit: lawfit raises RuntimeError there."""
    x = np.linspace(1, 10, 30)
    y = 2.5 * np.exp(-0.3 * x) + 0.5
    y[3] = np.nan
    for f in (lambda x, a, b, c: a * np.exp(-b * x) + c, "a*exp(-b*x) + c"):
        for method in ("trf", "dogbox"):
            with pytest.raises(ValueError, match="Residuals are not finite in the initial point"):
                lawfit.curve_fit(f, x, y, p0=[1, 0.1, 0], check_finite=False, method=method)
        with pytest.raises(RuntimeError, match="NaN or infinite at the starting point"):
            lawfit.curve_fit(f, x, y, p0=[1, 0.1, 0], check_finite=False)
    with pytest.raises(ValueError, match="Residuals are not finite"):  # sigma = 0: infinite weights
        lawfit.curve_fit("a*exp(-b*x) + c", x, np.nan_to_num(y), p0=[1, 0.1, 0], sigma=np.zeros(30),
                         method="trf")
