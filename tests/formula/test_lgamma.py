"""The lgamma function of the law language: values, derivatives, domain, generated code,
and the exact pass@k mixture law (``coverage_beta``) built on it.

References: scipy.special.gammaln and digamma for values; central differences for
derivatives; the Beta-function identity E[(1 - p)^k] = B(a, b + k)/B(a, b) for p ~ Beta(a, b)
(Abramowitz & Stegun 6.2.1-6.2.2) checked by Monte Carlo and against Chen et al.'s
estimator on simulated samples.
"""
from __future__ import annotations

import numpy as np
import pytest

import lawfit
from lawfit import Status
from lawfit.status import is_converged
from lawfit.catalog import laws, pass_at_k
from lawfit.engine.core import evaluate_points
from lawfit.formula import compile_law, lgamma_digamma
from lawfit.opcodes import Op

special = pytest.importorskip("scipy.special")

# Arguments across the shift threshold (10), tiny and huge ones, and the zeros of
# lgamma (1, 2) and of digamma (1.4616...).
X = np.concatenate([np.geomspace(1e-12, 1e12, 401), np.linspace(0.5, 12.0, 461),
                    [1.0, 2.0, 1.4616321449683623, 9.999999999999998, 10.0, 10.000000000000002, 1e300]])


def _core_values(x):
    """log Gamma(x) and digamma(x) through the C++ interpreter: law lgamma(a*x) at a = 1."""
    program = compile_law("lgamma(a*x)", inputs=["x"])
    assert Op.LGAMMA in {Op(int(c)) for c in program.code[:, 0]}
    value, grad = evaluate_points(program, program.input_matrix({"x": x}), np.array([1.0]))
    return value, grad[:, 0] / x  # d/da lgamma(a x) = x digamma(a x)


def _check_accuracy(x, lg, dg):
    ref_lg, ref_dg = special.gammaln(x), special.digamma(x)
    # 2e-15 relative (x >= 10; every x for digamma, whose terms do not cancel) and 1e-14
    # absolute below 10, where lgamma(x) = lgamma(x + n) - log(x (x + 1) ... (x + n - 1)) cancels
    # (relative error there grows only near the zeros at 1 and 2).
    np.testing.assert_allclose(lg, ref_lg, rtol=2e-15, atol=1e-14)
    np.testing.assert_allclose(lg[x >= 10], ref_lg[x >= 10], rtol=2e-15, atol=0)
    far = np.abs(ref_lg) > 0.5
    np.testing.assert_allclose(lg[far], ref_lg[far], rtol=1.5e-14, atol=0)
    np.testing.assert_allclose(dg, ref_dg, rtol=3e-15, atol=1e-14)


def test_interpreter_values_and_derivative_match_scipy():
    lg, dg = _core_values(X)
    _check_accuracy(X, lg, dg)


def test_numpy_mirror_matches_scipy():
    # Constant folding and hoisted input columns use the numpy version of the same method.
    _check_accuracy(X, *lgamma_digamma(X))


def test_special_arguments():
    # x <= 0 and NaN give NaN (a domain error, as log of a negative); +inf gives +inf; the
    # smallest subnormal is shifted like any small argument: lgamma(x) = -log(x) - 0.5772 x + ...
    # (scipy's gammaln returns inf there).
    x = np.array([0.0, -0.0, -1.0, -2.5, -1e-300, np.nan, np.inf, 5e-324])
    program = compile_law("lgamma(a*x)", inputs=["x"])  # a parameter keeps the op from being folded
    value, _ = evaluate_points(program, program.input_matrix({"x": x}), np.array([1.0]))
    for lg, dg in (lgamma_digamma(x), (value, None)):
        assert np.isnan(lg[:6]).all() and lg[6] == np.inf
        assert lg[7] == pytest.approx(-np.log(5e-324), rel=1e-15)
        if dg is not None:
            assert np.isnan(dg[:6]).all() and dg[6] == np.inf


@pytest.mark.parametrize("formula, p", [
    ("lgamma(a*x + b)", [1.3, 0.2]),
    ("a*lgamma(x**b) - lgamma(a + b*x)", [0.7, 1.5]),
    ("lgamma(exp(a)*x)*b", [2.5, -0.3]),
])
def test_gradient_matches_finite_differences(formula, p):
    program = compile_law(formula, inputs=["x"])
    x = np.geomspace(0.05, 40.0, 57)
    cols = program.input_matrix({"x": x})
    p = np.array(p)
    _, grad = evaluate_points(program, cols, p)
    for j in range(len(p)):
        h = 1e-6 * max(1.0, abs(p[j]))
        up, dn = p.copy(), p.copy()
        up[j] += h
        dn[j] -= h
        fd = (evaluate_points(program, cols, up)[0] - evaluate_points(program, cols, dn)[0]) / (2 * h)
        np.testing.assert_allclose(grad[:, j], fd, rtol=1e-7, atol=1e-8)


def test_numpy_reference_evaluator_agrees_with_the_interpreter():
    program = compile_law("a*lgamma(b*x) + lgamma(x + 3)", inputs=["x"])
    x = np.geomspace(0.01, 300.0, 80)
    p = np.array([0.8, 1.7])
    v_ref, g_ref = program.evaluate(p, {"x": x})
    v, g = evaluate_points(program, program.input_matrix({"x": x}), p)
    np.testing.assert_allclose(v, v_ref, rtol=1e-14, atol=1e-13)
    np.testing.assert_allclose(g, g_ref, rtol=1e-14, atol=1e-13)


def test_parser_and_printing():
    program = compile_law("lgamma(N + 1) - lgamma(k)*c", inputs=["N", "k"])
    assert program.param_names == ["c"] or list(program.param_names) == ["c"]
    with pytest.raises(ValueError):
        compile_law("lgamma(x, a)", inputs=["x"])
    # Folded constants use the same function: lgamma(5) = log(24).
    value, _ = compile_law("a + lgamma(5)", inputs=[]).evaluate([0.0], np.zeros((0, 1)))
    assert value[0] == pytest.approx(np.log(24.0), rel=1e-15)


def test_non_positive_argument_is_a_status_not_a_crash():
    rng = np.random.default_rng(3)
    x = np.linspace(1.0, 5.0, 30)
    y = special.gammaln(0.8 * x) + 0.01 * rng.standard_normal(x.size)
    program = compile_law("lgamma(a*x)", inputs=["x"])
    cols = program.input_matrix({"x": np.tile(x, 2)})
    # Two problems on the same points: the second starts where every argument is negative.
    res = lawfit.solve_batch(program, cols, np.tile(y, 2), np.array([0, 30, 60]), np.array([[0.5], [-1.0]]))
    assert lawfit.status_message(int(res.status[0])) and bool(is_converged(res.status)[0])
    assert res.params[0, 0] == pytest.approx(0.8, rel=1e-2)
    assert int(res.status[1]) == int(Status.NON_FINITE)


def test_input_outside_the_domain_is_bad_input():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"x": [3.0, 4.0, 5.0, -1.0, 6.0, 7.0], "y": special.gammaln([3.0, 4, 5, 5, 6, 7])})
    with pytest.warns(lawfit.LawfitWarning, match="lgamma"):
        fit = lawfit.fit(df, "c*lgamma(x)", x=["x"], y="y", progress=False)
    assert fit.params["status"].iloc[0] == "BAD_INPUT"
    assert "row 3" in fit.params["reason"].iloc[0]


# ------------------------------------------------------------------ exact coverage (pass@k)
def _coverage_beta(a, b, k):
    return 1.0 - np.exp(special.gammaln(b + k) + special.gammaln(a + b) - special.gammaln(b)
                        - special.gammaln(a + b + k))


def test_coverage_beta_is_the_beta_mixture_of_pass_at_k():
    law = laws["coverage_beta"]
    k = np.array([1.0, 2.0, 10.0, 100.0, 1e4])
    a, b = 0.3, 4.0
    got = law.predict({"a": a, "b": b}, {"k": k})
    np.testing.assert_allclose(got, _coverage_beta(a, b, k), rtol=1e-12)
    # k = 1: the mean success rate a/(a + b).
    assert got[0] == pytest.approx(a / (a + b), rel=1e-13)
    # Monte Carlo over p ~ Beta(a, b): 1 - E[(1 - p)^k].
    p = np.random.default_rng(0).beta(a, b, size=400_000)
    mc = 1.0 - np.mean((1.0 - p[:, None]) ** k[None, :], axis=0)
    np.testing.assert_allclose(got, mc, atol=4e-3)
    # Large k: -log coverage -> Gamma(a + b)/Gamma(b) k^-a (the coverage law's power law).
    k_big = np.array([1e6, 1e8])
    tail = 1.0 - law.predict({"a": a, "b": b}, {"k": k_big})
    np.testing.assert_allclose(tail, np.exp(special.gammaln(a + b) - special.gammaln(b)) * k_big ** -a, rtol=1e-4)


def test_coverage_beta_recovers_its_parameters_from_simulated_samples():
    # 600 problems with p ~ Beta(0.4, 3), 2000 samples each; coverage from Chen et al.'s estimator.
    rng = np.random.default_rng(11)
    n = 2000
    p = rng.beta(0.4, 3.0, size=600)
    c = rng.binomial(n, p)
    k = np.unique(np.geomspace(1, 1000, 25).round()).astype(int)
    cover = np.array([pass_at_k(n, c, kk).mean() for kk in k])
    fit = laws["coverage_beta"].fit({"k": k.astype(float)}, cover)
    assert fit.params["a"] == pytest.approx(0.4, rel=0.15)
    assert fit.params["b"] == pytest.approx(3.0, rel=0.3)
    # Noise-free data: exact recovery.
    exact = _coverage_beta(0.4, 3.0, k.astype(float))
    fit = laws["coverage_beta"].fit({"k": k.astype(float)}, exact)
    assert fit.params["a"] == pytest.approx(0.4, rel=1e-6)
    assert fit.params["b"] == pytest.approx(3.0, rel=1e-6)


def test_coverage_beta_derived_quantities_and_search():
    d = laws["coverage_beta"].derive({"a": 0.4, "b": 3.0})
    assert d["pass_at_1"] == pytest.approx(0.4 / 3.4, rel=1e-15)
    assert d["power_law_prefactor"] == pytest.approx(np.exp(special.gammaln(3.4) - special.gammaln(3.0)), rel=1e-14)
    assert laws.search("Large Language Monkeys Get Their Power") == ["coverage_beta"]
    # An earlier (OpenReview) title of Fernandes et al. finds the entry too.
    assert laws.search("Understanding Multi-Task Scaling") == ["fernandes_multilingual"]
