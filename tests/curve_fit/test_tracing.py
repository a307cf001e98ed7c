"""Tracing Python models: the idioms curve_fit users write, the reasons when tracing is impossible,
and the per-model cache."""
import functools
import itertools
import subprocess
import sys
import warnings

import numpy as np
import pytest

import lawfit
from lawfit.tracing import TraceError, clear_trace_cache, traced_model

RNG = np.random.default_rng(0)
N = 10 ** RNG.uniform(7, 10, 40)
D = 10 ** RNG.uniform(9, 12, 40)
X = np.vstack([N, D])
TRUE = [1.8, 400.0, 0.34, 2000.0, 0.37]
START = [2.0, 300.0, 0.3, 1000.0, 0.3]


def chinchilla(N, D, E, A, alpha, B, beta):
    return E + A / N**alpha + B / D**beta


Y = chinchilla(N, D, *TRUE)


# ------------------------------------------------------------------ idioms


def unpacked(X, E, A, alpha, B, beta):  # Hitchhiker, Epoch, datablations
    N, D = X
    return E + A / N**alpha + B / D**beta


def starred(X, E, A, alpha, B, beta):
    return chinchilla(*X, E, A, alpha, B, beta)


def indexed(X, E, A, alpha, B, beta):
    return E + A / X[0] ** alpha + B / X[-1] ** beta


def row_slices(x, E, A, alpha, B, beta):
    return E + A / x[0, :] ** alpha + B / x[1, :] ** beta


def column_slices(x, E, A, alpha, B, beta):
    return E + A / x[:, 0] ** alpha + B / x[:, -1] ** beta


def transposed(x, E, A, alpha, B, beta):
    N, D = x.T
    return E + A / N**alpha + B / D**beta


def as_array(X, E, A, alpha, B, beta):
    N, D = X
    return np.asarray(E + A / N**alpha + np.array(B / D**beta))


def powers(X, E, A, alpha, B, beta):
    return E + A * np.power(X[0], -alpha) + B * np.float_power(X[1], -beta)


def log_sum_exp(X, E, A, alpha, B, beta):  # Chinchilla's Approach 3 form
    a, b, e = np.log(A), np.log(B), np.log(E)
    return np.exp(np.logaddexp(np.logaddexp(a - alpha * np.log(X[0]), b - beta * np.log(X[1])), e))


def with_where(X, E, A, alpha, B, beta):
    small = X[0] < 1e6  # no point is: the first branch is always taken
    return np.where(small, E, E + A / X[0] ** alpha) + B / X[1] ** beta


def numpy_scalars(X, E, A, alpha, B, beta):
    return np.float64(1.0) * E + A / X[0] ** alpha + np.float32(1.0) * B / X[1] ** beta


def make_closure(scale):
    def law(X, E, A, alpha, B, beta):
        return scale * unpacked(X, E, A, alpha, B, beta)
    return law


def with_keyword(X, E, A, alpha, B, beta, scale=1.0):
    return scale * unpacked(X, E, A, alpha, B, beta)


def from_dict(X, E, A, alpha, B, beta):
    return E + A / X["N"] ** alpha + B / X["D"] ** beta


IDIOMS = {
    "N, D = X": (unpacked, X),
    "*X": (starred, X),
    "X[0], X[-1]": (indexed, X),
    "x[0, :]": (row_slices, X),
    "x[:, 0] (column-major)": (column_slices, X.T.copy()),
    "x.T": (transposed, X.T.copy()),
    "np.asarray, np.array": (as_array, X),
    "np.power, np.float_power": (powers, X),
    "np.logaddexp": (log_sum_exp, X),
    "np.where": (with_where, X),
    "numpy scalars": (numpy_scalars, X),
    "closure": (make_closure(1.0), X),
    "functools.partial": (functools.partial(with_keyword, scale=1.0), X),
    "tuple xdata": (unpacked, (N, D)),
    "list xdata": (unpacked, [N, D]),
    "dict xdata": (from_dict, {"N": N, "D": D}),
}


@pytest.mark.parametrize("name", list(IDIOMS))
def test_idiom_is_traced_and_fits(name):
    f, xdata = IDIOMS[name]
    popt, pcov, info, mesg, ier = lawfit.curve_fit(f, xdata, Y, p0=START, full_output=True)
    assert info["path"] == "traced" and info["why"] is None, info["why"]
    np.testing.assert_allclose(popt, TRUE, rtol=1e-7)
    assert 1 <= ier <= 4


def test_trace_returns_the_program():
    program = lawfit.trace(unpacked, X, START)
    assert program.param_names == ["E", "A", "alpha", "B", "beta"]
    assert program.input_names == ["x0", "x1"]
    value = program.evaluate(TRUE, X)[0]
    np.testing.assert_allclose(value, Y, rtol=1e-12)
    assert lawfit.trace(from_dict, {"N": N, "D": D}, START).input_names == ["N", "D"]


def test_where_keeps_the_unselected_branch_out():
    x = np.linspace(-2, 3, 30)

    def hinge(x, a, b):  # log(x) is NaN where x <= 0, which np.where discards
        return np.where(x > 0, a * np.log(np.where(x > 0, x, 1.0)) + b, b)

    def hinge_raw(x, a, b):
        with np.errstate(all="ignore"):
            return np.where(x > 0, a * np.log(x) + b, b)

    y = hinge(x, 1.5, 0.5)
    for f in (hinge, hinge_raw):
        popt, _, info, _, _ = lawfit.curve_fit(f, x, y, p0=[1.0, 1.0], full_output=True)
        assert info["path"] == "traced", info["why"]
        np.testing.assert_allclose(popt, [1.5, 0.5], rtol=1e-9)


# ------------------------------------------------------------------ why not


def branchy(x, a, b):
    if b > 0:
        return a * np.exp(-b * x)
    return a * np.ones_like(x)


def reduces(x, a, b):
    return a * x / np.sum(x) + b


def stateful_counter():
    calls = []

    def f(x, a, b):
        calls.append(1)
        return a * x + b + 0.001 * len(calls)
    return f


WHY = [
    (branchy, "control flow"),
    (reduces, "numpy.sum"),
    (lambda x, a, b: a * x[0] + b, "one point"),
    # (an identifiable model: with a * exp(b) * x the covariance cannot be
    # estimated, and scipy's OptimizeWarning would fail the test for that)
    (lambda x, a, b: a * np.exp(b * x) if a > 0 else x, "control flow"),
    (lambda x, a, b: a * x + np.where(a > 0, b, 0), "depends on a parameter"),
    (lambda x, a, b: a * x + b * np.ones(x.shape), "tracing failed"),
    (stateful_counter(), "disagrees with calling the function"),
]


@pytest.mark.parametrize("f, reason", WHY)
def test_why_not_traced(f, reason):
    x = np.linspace(0.5, 3, 25)
    y = 2.0 * np.exp(-0.7 * x) + 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy code under -W error: no warning about the slow path
        popt, pcov, info, mesg, ier = lawfit.curve_fit(f, x, y, p0=[1.0, 0.5], full_output=True)
    assert info["path"] == "python"
    assert reason in info["why"]
    with pytest.raises(TraceError, match=reason.replace("(", r"\(")):
        lawfit.trace(f, x, [1.0, 0.5])


def test_callable_jac_calls_python():
    x = np.linspace(0, 3, 30)
    jac = lambda x, a, b: np.column_stack([np.exp(-b * x), -a * x * np.exp(-b * x)])  # noqa: E731
    _, _, info, _, _ = lawfit.curve_fit(lambda x, a, b: a * np.exp(-b * x), x, 2 * np.exp(-x), p0=[1, 1],
                                        jac=jac, full_output=True)
    assert info["path"] == "python" and "jac" in info["why"]
    _, _, info, _, _ = lawfit.curve_fit(lambda x, a, b: a * np.exp(-b * x), x, 2 * np.exp(-x), p0=[1, 1],
                                        jac="3-point", full_output=True)
    assert info["path"] == "traced"


# ------------------------------------------------------------------ the cache


_CALLS = itertools.count()  # no state the cache key can see


def counted_law(x, a, b, c):
    next(_CALLS)
    return a * x**-b + c


def test_second_call_does_not_trace():
    x = np.linspace(1, 10, 40)
    y = 3 * x**-0.5 + 1
    before = next(_CALLS)
    lawfit.curve_fit(counted_law, x, y, p0=[1, 1, 0])
    first = next(_CALLS) - before - 1
    assert first >= 1  # traced once, then checked against calling it
    lawfit.curve_fit(counted_law, x, 2 * y, p0=[1, 1, 0])
    lawfit.curve_fit(counted_law, x[:20], y[:20], p0=[1.5, 1, 0])  # another length and start: the same program
    assert next(_CALLS) - before - 2 == first


def test_cache_follows_what_the_model_reads():
    x = np.linspace(1, 10, 40)
    y = 3 * x**-0.5 + 1
    p0 = [1, 1, 0]
    # closure values
    popt1, _ = lawfit.curve_fit(make_power(1.0), x, y, p0=p0)
    popt2, _ = lawfit.curve_fit(make_power(2.0), x, y, p0=p0)
    np.testing.assert_allclose(popt1[0], 2 * popt2[0], rtol=1e-8)
    # globals
    global SCALE
    SCALE = 1.0
    popt1, _ = lawfit.curve_fit(scaled_by_global, x, y, p0=p0)
    SCALE = 2.0
    popt2, _ = lawfit.curve_fit(scaled_by_global, x, y, p0=p0)
    np.testing.assert_allclose(popt1[0], 2 * popt2[0], rtol=1e-8)
    # partial's arguments
    popt1, _ = lawfit.curve_fit(functools.partial(scaled, scale=1.0), x, y, p0=p0)
    popt2, _ = lawfit.curve_fit(functools.partial(scaled, scale=2.0), x, y, p0=p0)
    np.testing.assert_allclose(popt1[0], 2 * popt2[0], rtol=1e-8)
    # a bound method's instance
    m1, m2 = Model(1.0), Model(2.0)
    popt1, _ = lawfit.curve_fit(m1.law, x, y, p0=p0)
    popt2, _ = lawfit.curve_fit(m2.law, x, y, p0=p0)
    np.testing.assert_allclose(popt1[0], 2 * popt2[0], rtol=1e-8)
    m1.scale = 2.0
    popt3, _ = lawfit.curve_fit(m1.law, x, y, p0=p0)
    np.testing.assert_allclose(popt3, popt2, rtol=1e-10)


def test_cache_follows_the_layout():
    clear_trace_cache()
    rows = traced_model(unpacked, X, START, 40)
    cols = traced_model(column_slices, X.T, START, 40)
    assert rows.layout.kind == "rows" and cols.layout.kind == "cols"
    assert traced_model(unpacked, X.T, START, 40).program is None  # iterating over points


SCALE = 1.0


def scaled_by_global(x, a, b, c):
    return SCALE * (a * x**-b + c)


def scaled(x, a, b, c, scale):
    return scale * (a * x**-b + c)


def make_power(k):
    return lambda x, a, b, c: k * (a * x**-b + c)


class Model:
    def __init__(self, scale):
        self.scale = scale

    def law(self, x, a, b, c):
        return self.scale * (a * x**-b + c)


# ------------------------------------------------------------------ import


def test_import_loads_nothing_heavy():
    code = ("import sys, lawfit; "
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'scipy', 'pandas', 'matplotlib'}); "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    code = "import lawfit, scipy.optimize; print(lawfit.OptimizeWarning is scipy.optimize.OptimizeWarning)"
    try:
        import scipy.optimize  # noqa: F401
    except ImportError:
        pytest.skip("scipy is not installed")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
