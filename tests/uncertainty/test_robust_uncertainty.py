"""Covariances (J^T W J and sandwich), goodness of fit, intervals from a fit."""
import warnings

import numpy as np
import pytest

import lawfit
from lawfit.status import LawfitWarning
from lawfit.bootstrap import bootstrap
from lawfit.multistart import fit_multistart
from lawfit.uncertainty import correlation, covariance, goodness_of_fit, stderr

LAW = "c + a*x**-b"
PARAMS = ["a", "b", "c"]
TRUE = np.array([2.0, 0.5, 1.0])
START = [[1.0, 1.0, 0.5]]


def _jac(x, p):
    a, b, c = p
    t = x**-b
    return np.column_stack([t, -a * np.log(x) * t, np.ones_like(x)])


def _data(n=50, seed=0, noise=0.02):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1, 100, n)
    return x, TRUE[2] + TRUE[0] * x ** -TRUE[1] + noise * rng.standard_normal(n)


@pytest.mark.parametrize("absolute_sigma", [False, True])
def test_l2_covariance_is_curve_fits(absolute_sigma):
    x, y = _data()
    sigma = np.linspace(0.5, 2, x.size)
    fit = fit_multistart(LAW, x, y, START, params=PARAMS, sigma=sigma, ftol=1e-14, xtol=1e-14)
    popt, pcov = lawfit.curve_fit(LAW, x, y, p0=START[0], sigma=sigma, absolute_sigma=absolute_sigma,
                                  param_names=PARAMS, ftol=1e-14, xtol=1e-14)
    np.testing.assert_allclose(fit.params[0], popt, rtol=1e-8)
    cov = fit.covariance(absolute_sigma=absolute_sigma)
    np.testing.assert_allclose(cov[0], pcov, rtol=1e-6)
    np.testing.assert_allclose(fit.stderr(absolute_sigma=absolute_sigma)[0], np.sqrt(np.diag(pcov)), rtol=1e-6)
    corr = correlation(cov)[0]
    np.testing.assert_allclose(np.diag(corr), 1.0)
    np.testing.assert_allclose(corr, pcov / np.sqrt(np.outer(np.diag(pcov), np.diag(pcov))), rtol=1e-6)


def test_sandwich_l2_is_white_hc1():
    x, y = _data(seed=1)
    fit = fit_multistart(LAW, x, y, START, params=PARAMS, ftol=1e-14, xtol=1e-14)
    p = fit.params[0]
    J = _jac(x, p)
    r = p[2] + p[0] * x ** -p[1] - y
    bread = np.linalg.inv(J.T @ J)
    meat = (J * r[:, None] ** 2).T @ J
    hc1 = bread @ meat @ bread * x.size / (x.size - 3)
    np.testing.assert_allclose(covariance(fit, kind="sandwich")[0], hc1, rtol=1e-6)


def test_sandwich_for_huber_with_all_points_inside_is_the_l2_sandwich():
    x, y = _data(seed=2)
    l2 = fit_multistart(LAW, x, y, START, params=PARAMS, ftol=1e-14, xtol=1e-14)
    hub = fit_multistart(LAW, x, y, START, params=PARAMS, loss="huber", delta=10.0, ftol=1e-14, xtol=1e-14)
    np.testing.assert_allclose(hub.params, l2.params, rtol=1e-8)
    np.testing.assert_allclose(hub.covariance()[0], l2.covariance(kind="sandwich")[0], rtol=1e-6)
    with pytest.raises(ValueError, match="L2"):
        hub.covariance(kind="jtj")


def test_sandwich_matches_the_sampling_spread_of_a_robust_fit():
    """soft_l1 on heavy-tailed (Student t, 3 dof) noise: the sandwich standard
    errors agree with the spread of the estimates over 400 simulated data sets
    and with the bootstrap."""
    rng = np.random.default_rng(3)
    sims, n = 400, 80
    x = np.geomspace(1, 100, n)
    Y = TRUE[2] + TRUE[0] * x ** -TRUE[1] + 0.01 * rng.standard_t(3, size=(sims, n))
    fit = fit_multistart(LAW, x, Y, START, params=PARAMS, loss="soft_l1", delta=0.01)
    assert fit.converged.all()
    spread = fit.params.std(axis=0, ddof=1)
    se = np.median(fit.stderr(), axis=0)
    assert np.all(np.abs(se / spread - 1) < 0.2), se / spread
    boot = bootstrap(fit, 200, seed=4, jackknife=False)
    assert np.all(np.abs(np.median(boot.stderr(), axis=0) / spread - 1) < 0.2)


def test_sandwich_warns_when_delta_is_below_most_residuals():
    x, y = _data(seed=4, noise=0.02)
    fit = fit_multistart(LAW, x, y, START, params=PARAMS, loss="huber", delta=1e-3)
    with pytest.warns(LawfitWarning, match="bootstrap"):
        cov = fit.covariance()
    assert np.isfinite(cov).all()
    wide = fit_multistart(LAW, x, y, START, params=PARAMS, loss="huber", delta=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wide.covariance()
    # Cauchy with most residuals far beyond delta: the objective bends down there.
    # scipy's (Triggs) Gauss-Newton matrix stops this fit where the Hessian is not
    # positive definite (IRLS, the default, goes on to a true minimum), and there
    # is no sandwich.
    far = fit_multistart(LAW, x, y, START, params=PARAMS, loss="cauchy", delta=1e-4,
                         robust_hessian="triggs")
    with pytest.warns(LawfitWarning, match="not convex"):
        assert np.isnan(far.covariance()).all()


def test_fixed_parameters_have_zero_variance_and_the_rest_is_the_reduced_fit():
    x, y = _data(seed=5)
    fit = fit_multistart(LAW, x, y, [[2.0, 1.0, 0.5]], params=PARAMS, fixed=["a"], ftol=1e-14, xtol=1e-14)
    reduced = fit_multistart("c + 2*x**-b", x, y, [[1.0, 0.5]], params=["b", "c"], ftol=1e-14, xtol=1e-14)
    np.testing.assert_allclose(fit.params[0, 1:], reduced.params[0], rtol=1e-8)
    assert fit.n_free[0] == 2
    for kind in ("jtj", "sandwich"):
        cov = fit.covariance(kind=kind)[0]
        assert np.all(cov[0] == 0) and np.all(cov[:, 0] == 0)
        np.testing.assert_allclose(cov[1:, 1:], reduced.covariance(kind=kind)[0], rtol=1e-6)


def test_goodness_of_fit_formulas():
    x, y = _data(seed=6)
    sigma = np.linspace(0.5, 2, x.size)
    fit = fit_multistart(LAW, x, y, START, params=PARAMS, sigma=sigma)
    g = fit.goodness_of_fit()
    p = fit.params[0]
    w = 1 / sigma**2
    r = p[2] + p[0] * x ** -p[1] - y
    rss = np.sum(w * r**2)
    n, k = x.size, 3
    assert g["rss"][0] == pytest.approx(rss, rel=1e-10)
    assert g["rss"][0] == pytest.approx(2 * fit.cost[0], rel=1e-10)
    ybar = np.sum(w * y) / np.sum(w)
    assert g["r2"][0] == pytest.approx(1 - rss / np.sum(w * (y - ybar) ** 2), rel=1e-10)
    ll = -n / 2 * (np.log(2 * np.pi * rss / n) + 1) + 0.5 * np.sum(np.log(w))
    assert g["log_likelihood"][0] == pytest.approx(ll, rel=1e-10)
    assert g["aic"][0] == pytest.approx(2 * (k + 1) - 2 * ll, rel=1e-10)
    assert g["bic"][0] == pytest.approx((k + 1) * np.log(n) - 2 * ll, rel=1e-10)
    # The right law beats a wrong one on AIC and BIC.
    wrong = fit_multistart("c + a*exp(-b*x)", x, y, [[1.0, 0.1, 1.0]], params=PARAMS, sigma=sigma)
    gw = goodness_of_fit(wrong)
    assert gw["aic"][0] > g["aic"][0] and gw["bic"][0] > g["bic"][0] and gw["r2"][0] < g["r2"][0]


def test_goodness_of_fit_in_log_space():
    x, y = _data(seed=7)
    fit = fit_multistart(LAW, x, y, START, params=PARAMS, residual="log")
    g = goodness_of_fit(fit)
    p = fit.params[0]
    r = np.log(p[2] + p[0] * x ** -p[1]) - np.log(y)
    ly = np.log(y)
    assert g["rss"][0] == pytest.approx(np.sum(r**2), rel=1e-10)
    assert g["r2"][0] == pytest.approx(1 - np.sum(r**2) / np.sum((ly - ly.mean()) ** 2), rel=1e-10)


def test_many_laws_and_failed_laws():
    x, y = _data(seed=8)
    with pytest.warns(LawfitWarning):
        fit = fit_multistart(LAW, [x, x, x], [y, np.full(x.size, np.nan), 2 * y], START, params=PARAMS)
    cov = fit.covariance()
    assert np.isnan(cov[1]).all() and np.isfinite(cov[[0, 2]]).all()
    g = fit.goodness_of_fit()
    assert np.isnan(g["aic"][1]) and np.isfinite(g["aic"][[0, 2]]).all()
    np.testing.assert_allclose(stderr(cov)[0], fit.stderr()[0])


@pytest.mark.parametrize("weighted", [False, True])
def test_total_sum_of_squares_is_the_same_in_slices(monkeypatch, weighted):
    """R^2's TSS is computed over slices of whole laws (small temporaries); any slicing gives each
    law's own two-pass sums: laws larger than a slice, empty laws and one-point laws included."""
    import lawfit.engine.data as unc

    rng = np.random.default_rng(3)
    counts = np.array([5, 0, 1, 40, 3, 17, 0, 9, 64, 2])
    offsets = np.concatenate([[0], np.cumsum(counts)])
    y = 2.0 + rng.standard_normal(offsets[-1])
    w = rng.uniform(0.5, 2.0, y.size) if weighted else None
    expected = []
    for a, b in zip(offsets[:-1], offsets[1:]):
        ys, ws = y[a:b], (np.ones(b - a) if w is None else w[a:b])
        expected.append(np.sum(ws * (ys - np.sum(ws * ys) / np.sum(ws)) ** 2) if b > a else 0.0)
    for points in (1, 7, 30, 10_000):
        monkeypatch.setattr(unc, "TSS_SLICE_POINTS", points)
        with np.errstate(all="ignore"):
            got = unc.segment_tss(y, w, offsets)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)
        if points == 1:
            sliced = got
        else:
            np.testing.assert_array_equal(got, sliced)  # the same bits however it is sliced
