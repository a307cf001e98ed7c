"""curve_fit with least_squares' robust losses: the same fit and covariance as scipy.

scipy's curve_fit passes ``loss`` and ``f_scale`` to ``least_squares``
(methods 'trf' and 'dogbox'); its pcov is the pseudo-inverse of the modified
Jacobian least_squares returns (J scaled by sqrt(rho' + 2 rho'' z), clipped at
eps: ``scipy.optimize._lsq.common.scale_for_robust_loss_function``) times
``2 cost / (M - P)``, cost being the robust cost.  scipy runs here with tight
tolerances so that both sit at the optimum.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import lawfit

so = pytest.importorskip("scipy.optimize")


def model(x, a, b, c):
    return a * np.exp(-b * x) + c


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    x = np.linspace(0, 4, 60)
    y = np.array([model(x, 2.5, 1.3, 0.5) + 0.02 * rng.standard_normal(60) for _ in range(3)])
    y[:, ::9] += 0.6  # outliers
    return x, y


def _scipy(x, y, **kw):
    return so.curve_fit(model, x, y, xtol=1e-15, ftol=1e-15, gtol=1e-15, **kw)


@pytest.mark.parametrize("loss", ["huber", "soft_l1", "cauchy", "arctan"])
@pytest.mark.parametrize("weighted", [False, True])
def test_single_robust_fit_matches_scipy(data, loss, weighted):
    x, y = data
    if loss == "arctan" and weighted:
        pytest.skip("scipy's trf ends at a worse local optimum of this non-convex problem (cost 170 vs 40)")
    sigma = np.full(60, 0.02) if weighted else None
    kw = dict(p0=[2.0, 1.0, 0.3], method="trf", loss=loss, f_scale=2.0 if weighted else 0.05, sigma=sigma)
    ps, cs = _scipy(x, y[0], **kw)
    for f in (model, "a*exp(-b*x) + c"):  # traced and formula
        p, c = lawfit.curve_fit(f, x, y[0], **kw)
        np.testing.assert_allclose(p, ps, rtol=1e-7)
        np.testing.assert_allclose(c, cs, rtol=1e-4)


def test_robust_fit_resists_the_outliers(data):
    x, y = data
    plain, _ = lawfit.curve_fit(model, x, y[0], p0=[2.0, 1.0, 0.3])
    robust, _ = lawfit.curve_fit(model, x, y[0], p0=[2.0, 1.0, 0.3], method="trf", loss="huber", f_scale=0.05)
    truth = np.array([2.5, 1.3, 0.5])
    assert np.max(np.abs(robust - truth) / truth) < 0.03 < np.max(np.abs(plain - truth) / truth)


def test_batched_robust_fit_matches_scipy_per_problem(data):
    x, y = data
    kw = dict(p0=[2.0, 1.0, 0.3], method="trf", loss="huber", f_scale=0.05)
    popt, pcov, status = lawfit.curve_fit("a*exp(-b*x) + c", x, y, **kw)
    assert all(1 <= s <= 4 for s in status), status  # CONVERGED_* codes
    for k in range(len(y)):
        ps, cs = _scipy(x, y[k], **kw)
        np.testing.assert_allclose(popt[k], ps, rtol=1e-7)
        np.testing.assert_allclose(pcov[k], cs, rtol=1e-4)


def test_robust_loss_errors_name_the_cause(data):
    x, y = data
    with pytest.raises(TypeError, match="method='trf' or 'dogbox'"):
        lawfit.curve_fit(model, x, y[0], p0=[2, 1, 0.3], loss="huber")  # 'lm', as scipy's leastsq
    with pytest.raises(ValueError, match="loss must be one of"):
        lawfit.curve_fit(model, x, y[0], p0=[2, 1, 0.3], method="trf", loss="tukey")
    with pytest.raises(ValueError, match="f_scale"):
        lawfit.curve_fit(model, x, y[0], p0=[2, 1, 0.3], method="trf", loss="huber", f_scale=0.0)


def untraceable(x, a, b, c):
    """The model through math.exp point by point: called from Python, forward differences."""
    return np.array([a * math.exp(-b * v) + c for v in x])


def jacobian(x, a, b, c):
    e = np.exp(-b * x)
    return np.column_stack([e, -a * x * e, np.ones_like(x)])


@pytest.mark.parametrize("loss", ["huber", "soft_l1", "cauchy"])
def test_robust_fit_of_a_python_callable_matches_scipy(data, loss):
    """Models lawfit calls back (untraceable f, a jac callable, a 2-D sigma): the core sums the robust
    normal equations of the returned residuals; pcov from the modified Jacobian at the solution."""
    x, y = data
    kw = dict(p0=[2.0, 1.0, 0.3], method="trf", loss=loss, f_scale=0.05)
    ps, cs = _scipy(x, y[0], **kw)
    p, c, info, _, _ = lawfit.curve_fit(model, x, y[0], jac=jacobian, full_output=True, **kw)
    assert info["path"] == "python"
    np.testing.assert_allclose(p, ps, rtol=1e-7)
    np.testing.assert_allclose(c, cs, rtol=1e-4)
    p, c = lawfit.curve_fit(untraceable, x, y[0], **kw)  # forward differences: fewer digits
    np.testing.assert_allclose(p, ps, rtol=1e-5)
    np.testing.assert_allclose(c, cs, rtol=2e-3)
    sigma = np.diag(np.full(60, 0.02**2))
    sigma[0, 1] = sigma[1, 0] = 1e-5
    kw2 = dict(kw, sigma=sigma, f_scale=2.0)
    ps, cs = _scipy(x, y[0], **kw2)
    p, c = lawfit.curve_fit(model, x, y[0], **kw2)
    np.testing.assert_allclose(p, ps, rtol=1e-7)
    np.testing.assert_allclose(c, cs, rtol=1e-4)
    popt, pcov, status = lawfit.curve_fit(untraceable, [x, x], list(y[:2]), **kw)  # a batch, one by one
    assert all(1 <= s <= 4 for s in status)
    for k in range(2):
        ps, cs = _scipy(x, y[k], **kw)
        np.testing.assert_allclose(popt[k], ps, rtol=1e-5)
        np.testing.assert_allclose(pcov[k], cs, rtol=2e-3)


def test_scipy_options_about_computation_are_accepted(data):
    x, y = data
    base, _ = lawfit.curve_fit(model, x, y[0], p0=[2, 1, 0.3])
    same, _ = lawfit.curve_fit(model, x, y[0], p0=[2, 1, 0.3], epsfcn=1e-10, factor=50, diag=None, col_deriv=0)
    np.testing.assert_array_equal(same, base)
    trf, _ = lawfit.curve_fit(model, x, y[0], p0=[2, 1, 0.3], method="trf")
    same, _ = lawfit.curve_fit(model, x, y[0], p0=[2, 1, 0.3], method="trf", x_scale="jac", diff_step=1e-6,
                               tr_solver="exact", verbose=0)
    np.testing.assert_array_equal(same, trf)
    with pytest.raises(TypeError, match="unexpected keyword"):
        lawfit.curve_fit(model, x, y[0], p0=[2, 1, 0.3], not_an_option=1)
