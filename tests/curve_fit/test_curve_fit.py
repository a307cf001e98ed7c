"""lawfit.curve_fit against scipy.optimize.curve_fit, batches, bad input."""

import math

import numpy as np
import pytest

import lawfit
from lawfit import Status
from lawfit.status import is_converged

scipy_optimize = pytest.importorskip("scipy.optimize")


# ------------------------------------------------------------------ models
def exp_decay(x, a, b, c):
    return a * np.exp(-b * x) + c


def power_law(x, a, b, c):
    return a * x**-b + c


def gaussian(x, a, mu, s):
    return a * np.exp(-((x - mu) ** 2) / (2 * s**2))


def chinchilla(x, E, A, alpha, B, beta):
    return E + A / x[0] ** alpha + B / x[1] ** beta


def exp_decay_jac(x, a, b, c):
    e = np.exp(-b * x)
    return np.column_stack([e, -a * x * e, np.ones_like(x)])


def power_law_jac(x, a, b, c):
    t = x**-b
    return np.column_stack([t, -a * np.log(x) * t, np.ones_like(x)])


def gaussian_jac(x, a, mu, s):
    g = np.exp(-((x - mu) ** 2) / (2 * s**2))
    return np.column_stack([g, a * g * (x - mu) / s**2, a * g * (x - mu) ** 2 / s**3])


def chinchilla_jac(x, E, A, alpha, B, beta):
    tn, td = x[0] ** -alpha, x[1] ** -beta
    return np.column_stack([np.ones(x.shape[1]), tn, -A * np.log(x[0]) * tn, td, -B * np.log(x[1]) * td])


JACOBIANS = {exp_decay: exp_decay_jac, power_law: power_law_jac, gaussian: gaussian_jac,
             chinchilla: chinchilla_jac}


def _problem(kind, rng):
    """Random data from a known model, with a start near the truth (as users give)."""
    if kind == "exp":
        x = np.sort(rng.uniform(0, 5, 40))
        p = np.array([rng.uniform(1, 3), rng.uniform(0.5, 2), rng.uniform(-1, 1)])
        f = exp_decay
    elif kind == "power":
        x = np.sort(10 ** rng.uniform(0, 3, 30))
        p = np.array([rng.uniform(1, 5), rng.uniform(0.2, 0.8), rng.uniform(0.5, 2)])
        f = power_law
    elif kind == "gauss":
        x = np.linspace(-5, 5, 60)
        p = np.array([rng.uniform(1, 3), rng.uniform(-1, 1), rng.uniform(0.5, 2)])
        f = gaussian
    else:
        x = np.vstack([10 ** rng.uniform(7, 10, 50), 10 ** rng.uniform(9, 12, 50)])
        p = np.array([1.8, 450.0, 0.34, 2000.0, 0.37]) * rng.uniform(0.9, 1.1, 5)
        f = chinchilla
    y = f(x, *p)
    sigma = 0.01 * np.abs(y) + 0.01
    y = y + sigma * rng.standard_normal(y.shape)
    return f, x, y, sigma, p * rng.uniform(0.8, 1.2, p.size)


KINDS = ["exp", "power", "gauss", "chinchilla"]


def assert_same_covariance(pcov, ref, rtol=1e-5):
    """Variances to rtol; correlations to rtol absolute (scipy's finite-difference
    Jacobian leaves ~1e-8 noise in correlations that are exactly zero)."""
    np.testing.assert_allclose(np.diag(pcov), np.diag(ref), rtol=rtol)
    s = np.sqrt(np.diag(ref))
    np.testing.assert_allclose(pcov / np.outer(s, s), ref / np.outer(s, s), atol=rtol)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("weighting", ["none", "sigma", "absolute_sigma", "sigma_2d"])
def test_agrees_with_scipy(kind, seed, weighting):
    rng = np.random.default_rng(seed)
    f, x, y, sigma, p0 = _problem(kind, rng)
    kw = {}
    if weighting in ("sigma", "absolute_sigma"):
        kw["sigma"] = sigma
    if weighting == "absolute_sigma":
        kw["absolute_sigma"] = True
    if weighting == "sigma_2d":
        # a correlated covariance: AR(1) with rho = 0.3
        m = y.size
        corr = 0.3 ** np.abs(np.subtract.outer(np.arange(m), np.arange(m)))
        kw["sigma"] = corr * np.outer(sigma, sigma)
    tight = dict(ftol=1e-14, xtol=1e-14)
    # scipy gets the exact Jacobian too, so both solve the same problem to the
    # same precision (finite differences alone leave ~1e-7 relative error in
    # Chinchilla's poorly determined A, B).
    ref_p, ref_cov = scipy_optimize.curve_fit(f, x, y, p0=p0, method="lm", jac=JACOBIANS[f], **tight, **kw)
    popt, pcov, info, _, ier = lawfit.curve_fit(f, x, y, p0=p0, full_output=True, **tight, **kw)
    assert info["path"] == "traced"
    assert 1 <= ier <= 4
    np.testing.assert_allclose(popt, ref_p, rtol=1e-6)  # B, beta of Chinchilla lie in a flat valley
    assert_same_covariance(pcov, ref_cov)


@pytest.mark.parametrize("kind", ["exp", "power"])
def test_bounds_agree_with_scipy_trf(kind):
    rng = np.random.default_rng(7)
    f, x, y, sigma, p0 = _problem(kind, rng)
    lo = np.array([0.0, 0.0, -np.inf])
    hi = np.array([np.inf, 0.9 * p0[1], np.inf])  # the second parameter is pushed onto its bound
    p0 = np.minimum(p0, hi * 0.999)
    ref_p, _ = scipy_optimize.curve_fit(f, x, y, p0=p0, bounds=(lo, hi), ftol=1e-14, xtol=1e-14, gtol=1e-14)
    popt, _ = lawfit.curve_fit(f, x, y, p0=p0, bounds=(lo, hi), ftol=1e-14, xtol=1e-14)
    assert np.all(popt >= lo) and np.all(popt <= hi)
    np.testing.assert_allclose(popt, ref_p, rtol=1e-6)


def test_default_p0_from_signature_and_formula_string():
    x = np.linspace(0, 4, 50)
    y = 2.5 * np.exp(-1.3 * x) + 0.5
    popt, _ = lawfit.curve_fit(exp_decay, x, y)
    np.testing.assert_allclose(popt, [2.5, 1.3, 0.5], rtol=1e-8)
    popt2, _, info, _, _ = lawfit.curve_fit("a*exp(-b*x) + c", x, y, full_output=True)
    assert info["path"] == "formula"
    np.testing.assert_allclose(popt2, popt, rtol=1e-10)


def test_dict_inputs_for_formula():
    rng = np.random.default_rng(3)
    N = 10 ** rng.uniform(7, 10, 60)
    D = 10 ** rng.uniform(9, 12, 60)
    truth = [1.8, 450.0, 0.34, 2000.0, 0.37]
    loss = chinchilla(np.vstack([N, D]), *truth)
    popt, _ = lawfit.curve_fit("E + A/N**alpha + B/D**beta", {"N": N, "D": D}, loss,
                               p0=[2, 400, 0.3, 1000, 0.3], ftol=1e-14, xtol=1e-14)
    np.testing.assert_allclose(popt, truth, rtol=1e-6)


def test_untraceable_function_falls_back_to_python():
    def piecewise(x, a, b):
        if b > 0:  # data-dependent control flow: cannot be traced
            return a * np.exp(-b * x)
        return a * np.ones_like(x)

    x = np.linspace(0, 3, 40)
    y = 2.0 * np.exp(-0.7 * x)
    popt, pcov, info, _, _ = lawfit.curve_fit(piecewise, x, y, p0=[1, 1], full_output=True)
    assert info["path"] == "python"
    np.testing.assert_allclose(popt, [2.0, 0.7], rtol=1e-6)
    ref, ref_cov = scipy_optimize.curve_fit(piecewise, x, y + 1e-3 * np.sin(7 * x), p0=[1, 1])
    got, got_cov = lawfit.curve_fit(piecewise, x, y + 1e-3 * np.sin(7 * x), p0=[1, 1])
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    np.testing.assert_allclose(got_cov, ref_cov, rtol=1e-3)


def test_user_jacobian():
    x = np.linspace(0, 3, 40)
    y = 2.0 * np.exp(-0.7 * x) + 0.01 * np.cos(5 * x)

    def jac(x, a, b):
        e = np.exp(-b * x)
        return np.column_stack([e, -a * x * e])

    popt, _, info, _, _ = lawfit.curve_fit(lambda x, a, b: a * np.exp(-b * x), x, y, p0=[1, 1],
                                           jac=jac, full_output=True)
    ref, _ = scipy_optimize.curve_fit(lambda x, a, b: a * np.exp(-b * x), x, y, p0=[1, 1], jac=jac)
    assert info["path"] == "python"
    np.testing.assert_allclose(popt, ref, rtol=1e-7)


# ------------------------------------------------------------------ batches
def test_batch_equals_one_by_one():
    rng = np.random.default_rng(11)
    xs, ys, p0s = [], [], []
    for k in range(25):
        f, x, y, _, p0 = _problem("power", rng)
        xs.append(x[: 10 + k])  # ragged
        ys.append(y[: 10 + k])
        p0s.append(p0)
    popt, pcov, status = lawfit.curve_fit(power_law, xs, ys, p0=np.array(p0s))
    assert np.all([Status(s).name.startswith("CONVERGED") for s in status])
    # A single fit runs on the calling thread, whose sums run in another order
    # than the batch's blocks.  Both stop where the cost no longer changes in
    # float64, which fixes the parameters to about sqrt(eps) along the
    # flattest direction (the costs agree to 1e-15).
    for k in range(25):
        p1, c1 = lawfit.curve_fit(power_law, xs[k], ys[k], p0=p0s[k])
        np.testing.assert_allclose(popt[k], p1, rtol=1e-7)
        assert_same_covariance(pcov[k], c1, rtol=1e-6)


def test_batch_2d_ydata_shared_x_and_thread_count_invariance():
    x = np.linspace(0.1, 5, 30)
    amps = np.linspace(1, 3, 200)
    Y = amps[:, None] * np.exp(-0.8 * x)[None, :] + 0.2
    p1, c1, s1 = lawfit.curve_fit(exp_decay, x, Y, p0=[1, 1, 0], n_threads=1)
    p2, c2, s2 = lawfit.curve_fit(exp_decay, x, Y, p0=[1, 1, 0], n_threads=2)
    np.testing.assert_allclose(p1[:, 0], amps, rtol=1e-8)
    assert np.array_equal(p1, p2) and np.array_equal(s1, s2)  # bit-identical across threads


def test_batch_bad_problems_get_status_and_others_are_correct():
    x = np.linspace(0, 4, 20)
    good = 2.0 * np.exp(-1.1 * x) + 0.3
    with_nan = good.copy()
    with_nan[3] = np.nan
    ys = [good, with_nan, good[:2], good * 3, np.full(20, np.inf)]
    xs = [x, x, x[:2], x, x]
    with pytest.warns(lawfit.LawfitWarning, match="3 BAD_INPUT"):
        popt, pcov, status = lawfit.curve_fit("a*exp(-b*x) + c", xs, ys, p0=[1, 1, 0])
    assert [Status(s) for s in status][1:3] + [Status(status[4])] == [Status.BAD_INPUT] * 3
    assert is_converged(status[[0, 3]]).all()
    np.testing.assert_allclose(popt[0], [2.0, 1.1, 0.3], rtol=1e-8)
    np.testing.assert_allclose(popt[3], [6.0, 1.1, 0.9], rtol=1e-8)
    assert np.isnan(popt[1]).all() and np.isnan(popt[2]).all()


@pytest.mark.parametrize("model", ["formula", "traced", "python"])
@pytest.mark.parametrize("loss", ["linear", "soft_l1"])
def test_batch_bounds_per_problem(model, loss):
    # bounds of shape (K, n): each problem its own row; problem 1's cap on b holds it at 1 while
    # the others, under loose bounds, recover their truths.
    rng = np.random.default_rng(7)
    K, x = 5, np.linspace(0.0, 4.0, 30)
    truth = rng.uniform(1.2, 2.0, (K, 3))
    Y = np.array([exp_decay(x, *t) for t in truth])
    f = {"formula": "a*exp(-b*x) + c", "traced": exp_decay,
         "python": lambda x, a, b, c: a * np.array([math.exp(-b * v) for v in x]) + c}[model]
    lower, upper = np.zeros((K, 3)), np.full((K, 3), 10.0)
    upper[1, 1] = 1.0
    popt, pcov, status = lawfit.curve_fit(f, x, Y, bounds=(lower, upper), method="trf", loss=loss)
    assert is_converged(status).all()
    assert popt[1, 1] == 1.0
    others = np.arange(K) != 1
    np.testing.assert_allclose(popt[others], truth[others], rtol=1e-6)
    with pytest.raises(ValueError, match=r"bounds must have shape \(3,\) or \(5, 3\) \(a row per problem\)"):
        lawfit.curve_fit(f, x, Y, bounds=(np.zeros((K + 1, 3)), 10.0))
    with pytest.raises(ValueError, match=r"bounds must have shape \(3,\) or be scalars"):
        lawfit.curve_fit(f, x, Y[0], bounds=(lower, upper))  # a single fit has one row


def test_batch_nan_policy_omit_drops_points():
    x = np.linspace(0, 4, 20)
    y = 2.0 * np.exp(-1.1 * x) + 0.3
    y_nan = y.copy()
    y_nan[[2, 9]] = np.nan
    popt, _, status = lawfit.curve_fit(exp_decay, [x, x], [y, y_nan], p0=[1, 1, 0], nan_policy="omit")
    np.testing.assert_allclose(popt[1], [2.0, 1.1, 0.3], rtol=1e-8)


# ------------------------------------------------------------------ bad input, single fits
def test_nan_in_data_raises_like_scipy():
    x = np.linspace(0, 1, 10)
    y = np.ones(10)
    y[2] = np.nan
    with pytest.raises(ValueError, match="infs or NaNs"):
        lawfit.curve_fit(exp_decay, x, y)
    popt, _ = lawfit.curve_fit(lambda x, a, b: a * x + b, x, np.where(np.isnan(y), 5.0, 2 * x + 1)[:],
                               p0=[1, 1])
    with pytest.raises(ValueError, match="nan"):
        lawfit.curve_fit(lambda x, a, b: a * x + b, x, y, nan_policy="raise")
    popt, _ = lawfit.curve_fit(lambda x, a, b: a * x + b, x, np.where(np.isnan(y), np.nan, 2 * x + 1),
                               nan_policy="omit")
    np.testing.assert_allclose(popt, [2, 1], rtol=1e-10)


@pytest.mark.parametrize("model", ["formula", "traced", "python"])
@pytest.mark.parametrize("m", [1, 2])
def test_lm_refuses_fewer_model_values_than_parameters_with_a_scalar_ydata(model, m):
    # scipy: a scalar ydata broadcasts to the model's m values; leastsq ('lm') then refuses m < n with
    # "Improper input: func input vector length N=3 must not exceed func output vector length M=m".
    x = np.linspace(0.0, 1.0, m)
    f = {"formula": "a*exp(-b*x) + c", "traced": exp_decay,
         "python": lambda x, a, b, c: a * np.array([math.exp(-b * v) for v in x]) + c}[model]
    with pytest.raises(TypeError, match=f"func input vector length N=3 must not exceed func output vector length M={m}"):
        lawfit.curve_fit(f, x, 2.0)
    # least_squares has no such rule; no residual degrees of freedom: no covariance, as scipy warns
    with pytest.warns(scipy_optimize.OptimizeWarning, match="Covariance of the parameters could not be estimated"):
        popt, _ = lawfit.curve_fit(f, x, 2.0, method="trf")
    np.testing.assert_allclose(popt[0] * np.exp(-popt[1] * x) + popt[2], 2.0, rtol=1e-8)
    with pytest.warns(scipy_optimize.OptimizeWarning, match="Covariance of the parameters could not be estimated"):
        popt, _ = lawfit.curve_fit(f, np.linspace(0.0, 1.0, 3), 2.0)  # as many values as parameters: fitted
    assert np.isfinite(popt).all()


def test_malformed_calls_raise_clear_errors():
    x = np.linspace(0, 1, 10)
    y = 2 * x + 1
    with pytest.raises(ValueError, match="must not be empty"):
        lawfit.curve_fit(lambda x, a, b: a * x + b, [], [])
    with pytest.raises(TypeError, match="must not exceed the number of data points"):
        lawfit.curve_fit(exp_decay, x[:2], y[:2])
    with pytest.raises(ValueError, match="p0 has 2 values but the model has 3 parameters"):
        lawfit.curve_fit("a*exp(-b*x) + c", x, y, p0=[1, 1])
    with pytest.raises(ValueError, match="Initial guess is outside of provided bounds"):
        lawfit.curve_fit(exp_decay, x, y, p0=[1, 5, 0], bounds=([0, 0, 0], [10, 2, 1]))
    with pytest.raises(ValueError, match="only works for unconstrained"):
        lawfit.curve_fit(exp_decay, x, y, bounds=(0, 10), method="lm")
    with pytest.raises(ValueError, match="incorrect shape"):
        lawfit.curve_fit(exp_decay, x, y, sigma=np.ones(3))
    with pytest.raises(ValueError, match="positive definite"):
        lawfit.curve_fit(exp_decay, x, y, sigma=-np.eye(10))
    with pytest.raises(ValueError, match="xdata has 5 points but ydata has 10"):
        lawfit.curve_fit("a*x + b", x[:5], y)
    with pytest.raises(ValueError, match="'args' is not a supported"):
        lawfit.curve_fit(exp_decay, x, y, args=(1,))


def test_nonconvergence_raises_runtime_error():
    x = np.linspace(0, 4, 30)
    y = 2.0 * np.exp(-1.1 * x) + 0.3 + 0.01 * np.sin(9 * x)
    with pytest.raises(RuntimeError, match="Optimal parameters not found"):
        lawfit.curve_fit(exp_decay, x, y, p0=[1, 1, 0], maxfev=2)


def test_covariance_warning_when_dof_is_zero():
    x = np.array([0.0, 1.0, 2.0])
    y = np.array([2.0, 0.9, 0.5])
    with pytest.warns(lawfit.OptimizeWarning):
        popt, pcov = lawfit.curve_fit(exp_decay, x, y, p0=[2, 1, 0.2])
    assert np.isinf(pcov).all()


def test_batched_covariance_inversions_do_not_depend_on_threading():
    # Above 4,096 matrices the inversions are split over threads; each matrix
    # is still inverted by one thread with the same code, so the result equals
    # inverting it alone, and numpy's inverse to rounding.
    from lawfit import _core

    rng = np.random.default_rng(8)
    J = rng.normal(size=(5000, 12, 4)) * np.array([1.0, 1e3, 1e-2, 10.0])
    jtj = np.einsum("kmi,kmj->kij", J, J)
    cov, ok = _core.covariance(jtj, 1e-13)
    assert ok.all()
    single, _ = _core.covariance(np.ascontiguousarray(jtj[4321:4322]), 1e-13)
    np.testing.assert_array_equal(cov[4321], single[0])
    np.testing.assert_allclose(cov[:50], np.linalg.inv(jtj[:50]), rtol=1e-9, atol=0)


def test_full_output_as_leastsq():
    """fjac, ipvt and qtf at the solution, in leastsq's layout: scipy's own rule rebuilds pcov from them."""
    rng = np.random.default_rng(1)
    x = np.linspace(0, 4, 50)
    y = exp_decay(x, 2.5, 1.3, 0.5) + 0.05 * rng.standard_normal(50)
    popt, pcov, info, mesg, ier = lawfit.curve_fit(exp_decay, x, y, full_output=True)
    ref = scipy_optimize.curve_fit(exp_decay, x, y, full_output=True)
    assert mesg == ref[3] and ier == ref[4]
    assert info["fjac"].shape == ref[2]["fjac"].shape and info["qtf"].shape == ref[2]["qtf"].shape
    np.testing.assert_array_equal(info["ipvt"], ref[2]["ipvt"])
    np.testing.assert_allclose(info["fvec"], exp_decay(x, *popt) - y, rtol=1e-12, atol=1e-15)
    perm = info["ipvt"]
    r = np.triu(info["fjac"].T[: perm.size])
    inv_r = np.linalg.inv(r)
    inv_r[perm] = inv_r.copy()
    s_sq = info["fvec"] @ info["fvec"] / (x.size - 3)
    np.testing.assert_allclose(inv_r @ inv_r.T * s_sq, pcov, rtol=1e-8)
    # Q^T fvec vanishes at the least-squares optimum (J^T fvec = R^T Q^T fvec = 0).
    assert np.abs(info["qtf"]).max() <= 1e-6 * np.linalg.norm(info["fvec"])
