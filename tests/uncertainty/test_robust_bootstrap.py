"""Bootstrap: counter-based resamples, grouped resampling, coverage, BCa."""
import numpy as np
import pytest

from lawfit import _core
from lawfit.engine.core import solve_batch
from lawfit.bootstrap import BootstrapResult, Replicates, bootstrap, group_ids
from lawfit.multistart import fit_multistart
from lawfit.uncertainty import bca_interval, evaluate_many, jackknife_acceleration

LAW = "c + a*x**-b"
PARAMS = ["a", "b", "c"]
TRUE = np.array([2.0, 0.5, 1.0])
START = np.array([[1.0, 1.0, 0.5]])


def _data(n=60, sims=1, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1, 100, n)
    y = TRUE[2] + TRUE[0] * x ** -TRUE[1] + noise * rng.standard_normal((sims, n))
    return x, (y[0] if sims == 1 else y)


# ------------------------------------------------------------------ counter-based resamples
def test_bootstrap_counts_are_keyed_by_seed_law_resample():
    a = _core.bootstrap_counts(7, 3, 11, 5000)
    np.testing.assert_array_equal(a, _core.bootstrap_counts(7, 3, 11, 5000))  # regenerated
    np.testing.assert_array_equal(a[:100], _core.bootstrap_counts(7, 3, 11, 100))  # unit-wise
    for other in [(8, 3, 11), (7, 4, 11), (7, 3, 12)]:
        b = _core.bootstrap_counts(*other, 5000)
        assert not np.array_equal(a, b), other
        assert abs(np.corrcoef(a, b)[0, 1]) < 0.05  # independent streams
    # Poisson(1): mean 1, variance 1, P(0) = 1/e.
    many = _core.bootstrap_counts(1, 0, 0, 200_000)
    assert abs(many.mean() - 1) < 0.01 and abs(many.var() - 1) < 0.015
    assert abs(np.mean(many == 0) - np.exp(-1)) < 0.005


def test_resample_fit_equals_weighted_fit_with_regenerated_counts():
    """A resample is the data weighted by its counts: the solver and an explicit
    weighted fit agree, so any resample can be reproduced outside lawfit."""
    x, y = _data()
    fit = fit_multistart(LAW, x, y, START, params=PARAMS)
    boot = bootstrap(fit, 5, seed=99, jackknife=False)
    for r in range(5):
        w = boot.counts(0, r).astype(float)
        np.testing.assert_array_equal(w, _core.bootstrap_counts(99, 0, r, x.size))
        cols = fit.program.input_matrix(x)
        ref = solve_batch(fit.program, cols, y, np.array([0, x.size]), fit.params[0], weight=w)
        np.testing.assert_allclose(boot.params.replicates[0, r], ref.params[0], rtol=1e-10)


def test_same_seed_same_replicates_any_thread_count():
    x, Y = _data(sims=3)
    fit1 = fit_multistart(LAW, x, Y, START, params=PARAMS, n_threads=1)
    fit2 = fit_multistart(LAW, x, Y, START, params=PARAMS, n_threads=2)
    b1 = bootstrap(fit1, 50, seed=5, jackknife=False)
    b2 = bootstrap(fit2, 50, seed=5, jackknife=False)
    np.testing.assert_array_equal(b1.params.replicates, b2.params.replicates)
    b3 = bootstrap(fit1, 50, seed=6, jackknife=False)
    assert not np.array_equal(b1.params.replicates, b3.params.replicates)
    # Laws draw different resamples (the law index is part of the key) ...
    assert not np.array_equal(b1.counts(0, 0), b1.counts(1, 0))
    # ... and a law's resamples do not depend on the other laws of the batch.
    alone = bootstrap(fit_multistart(LAW, x, Y[1], START, params=PARAMS), 50, seed=5, jackknife=False)
    c_alone = alone.counts(0, 3)
    np.testing.assert_array_equal(b1.counts(1, 3), _core.bootstrap_counts(5, 1, 3, x.size))
    np.testing.assert_array_equal(c_alone, _core.bootstrap_counts(5, 0, 3, x.size))


def test_group_ids_are_law_local():
    labels = np.array(["r2", "r1", "r2", "r1", "r9", "r1", "r1"])
    np.testing.assert_array_equal(group_ids(labels, [0, 4, 7]), [1, 0, 1, 0, 1, 0, 0])
    np.testing.assert_array_equal(group_ids([5, 5, 3], [0, 3]), [1, 1, 0])
    with pytest.raises(ValueError):
        group_ids([1, 2], [0, 3])


def test_grouped_bootstrap_draws_whole_groups():
    x, y = _data(n=60)
    runs = np.repeat(np.arange(12), 5)  # 12 "training runs" of 5 checkpoints
    fit = fit_multistart(LAW, x, y, START, params=PARAMS)
    boot = bootstrap(fit, 40, seed=3, group=runs[::-1].astype(str), jackknife=False)
    cols = fit.program.input_matrix(x)
    distinct = set()
    for r in range(40):
        w = boot.counts(0, r)
        per_group = w.reshape(12, 5)
        assert (per_group == per_group[:, :1]).all()  # equal weights within every group
        distinct.add(tuple(per_group[:, 0]))
        if r < 5:
            ref = solve_batch(fit.program, cols, y, np.array([0, x.size]), fit.params[0], weight=w.astype(float))
            np.testing.assert_allclose(boot.params.replicates[0, r], ref.params[0], rtol=1e-10)
    assert len(distinct) > 30  # and groups are really redrawn
    # The group's count is the unit count of its law-local id.
    gid = boot.group
    units = _core.bootstrap_counts(3, 0, 7, 12)
    np.testing.assert_array_equal(boot.counts(0, 7), units[gid])


def test_too_few_points_resample_is_left_out():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    fit = fit_multistart("a + b*x", x, 1 + 2 * x + np.array([0.01, -0.02, 0.0, 0.01]), [[0.0, 0.0]])
    boot = bootstrap(fit, 400, seed=0, jackknife=False)
    # A Poisson resample of 4 points draws fewer than 2 distinct points now and then:
    # those get BAD_INPUT and NaN parameters and are counted as failed.
    bad = boot.status[0] == 9
    assert 0 < bad.sum() == boot.n_failed[0]
    assert np.isnan(boot.params.replicates[0, bad]).all()
    lo, hi = boot.interval(0.9)
    assert np.isfinite(lo).all() and np.isfinite(hi).all()


# ------------------------------------------------------------------ coverage
@pytest.mark.slow
def test_percentile_interval_coverage():
    """90% percentile intervals cover the truth in ~90% of simulated data sets.

    1,000 data sets (150 points, 2% Gaussian noise) are 1,000 laws of one batch,
    with 300 resamples each (300,000 problems, ~5 s).  With 1,000 independent
    data sets the coverage estimate has a binomial standard error
    sqrt(0.9 * 0.1 / 1000) = 0.0095; the test accepts 0.90 +- 0.0285 (3 SE) for
    each parameter.  (With 60 points the percentile method undercovers by about
    one point, the known small-sample bias of bootstrap SEs, sqrt((n-p)/n).)
    """
    x, Y = _data(n=150, sims=1000, seed=11)
    fit = fit_multistart(LAW, x, Y, START, params=PARAMS)
    assert fit.converged.all()
    boot = bootstrap(fit, 300, seed=12, jackknife=False)
    assert boot.n_failed.sum() == 0
    lo, hi = boot.interval(0.90)
    coverage = ((lo <= TRUE) & (TRUE <= hi)).mean(axis=0)
    tol = 3 * np.sqrt(0.9 * 0.1 / 1000)
    assert np.all(np.abs(coverage - 0.90) <= tol), coverage


def test_grouped_bootstrap_gets_the_se_right_when_points_are_correlated():
    """Checkpoints of one run share the run's offset: only the grouped bootstrap
    estimates the sampling spread of the fit (200 simulated collections)."""
    rng = np.random.default_rng(21)
    G, m, sims = 30, 5, 200
    xg = np.tile(np.geomspace(1, 100, m), G)
    run = np.repeat(np.arange(G), m)
    offset = 0.05 * rng.standard_normal((sims, G))
    Y = TRUE[2] + TRUE[0] * xg ** -TRUE[1] + offset[:, run] + 0.01 * rng.standard_normal((sims, G * m))
    fit = fit_multistart(LAW, xg, Y, START, params=PARAMS)
    true_sd = fit.params.std(axis=0, ddof=1)  # the real sampling spread over collections
    grouped = bootstrap(fit, 200, seed=1, group=np.tile(run, sims), jackknife=False)
    point = bootstrap(fit, 200, seed=1, jackknife=False)
    ratio_grouped = np.median(grouped.stderr(), axis=0) / true_sd
    ratio_point = np.median(point.stderr(), axis=0) / true_sd
    assert np.all(np.abs(ratio_grouped - 1) < 0.2), ratio_grouped
    # It treats 150 correlated points as independent: 5x too wide for the exponent here.
    assert np.all(ratio_point > 1.5) and ratio_point.max() > 3, ratio_point
    lo, hi = grouped.interval(0.9)
    cover = ((lo <= TRUE) & (TRUE <= hi)).mean(axis=0)
    assert np.all(np.abs(cover - 0.9) < 3 * np.sqrt(0.09 / sims) + 0.02), cover  # 30 groups only


# ------------------------------------------------------------------ BCa
def test_bca_formula_matches_scipy():
    """Given the same replicates, our BCa equals scipy.stats.bootstrap(method='BCa')."""
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    data = rng.exponential(size=30)
    res = stats.bootstrap((data,), np.mean, method="BCa", n_resamples=3000, confidence_level=0.9,
                          rng=np.random.default_rng(1))
    jack = (data.sum() - data) / (data.size - 1)
    a = jackknife_acceleration(jack)
    lo, hi = bca_interval(data.mean(), res.bootstrap_distribution, a, 0.9)
    np.testing.assert_allclose([lo, hi], [res.confidence_interval.low, res.confidence_interval.high],
                               rtol=1e-12)
    # The acceleration of the mean is the sample skewness / (6 sqrt(n)).
    d = data - data.mean()
    skew = np.mean(d**3) / np.mean(d**2) ** 1.5
    assert a == pytest.approx(skew / (6 * np.sqrt(data.size)), rel=1e-12)


def test_bca_on_a_skewed_statistic():
    """Mean of skewed (exponential) data as a constant law: the core's jackknife
    gives the exact acceleration, and BCa moves the interval right of the
    percentile interval, towards scipy's BCa."""
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(4)
    y = rng.exponential(size=25)
    x = np.arange(25.0)
    fit = fit_multistart("c + 0*x", x, y, [[1.0]], params=["c"])
    np.testing.assert_allclose(fit.params[0, 0], y.mean(), rtol=1e-12)
    boot = bootstrap(fit, 4000, seed=8)
    d = y - y.mean()
    a_exact = np.sum(d**3) / (6 * np.sum(d**2) ** 1.5)
    np.testing.assert_allclose(boot.params.acceleration()[0, 0], a_exact, rtol=1e-8)
    plo, phi = boot.interval(0.9)
    blo, bhi = boot.interval(0.9, method="bca")
    assert blo[0, 0] > plo[0, 0] and bhi[0, 0] > phi[0, 0]
    ref = stats.bootstrap((y,), np.mean, method="BCa", n_resamples=4000, confidence_level=0.9,
                          rng=np.random.default_rng(2)).confidence_interval
    se = boot.stderr()[0, 0]
    # Two Monte Carlo estimates of the same endpoints (Poisson vs multinomial draws).
    assert abs(blo[0, 0] - ref.low) < 0.15 * se and abs(bhi[0, 0] - ref.high) < 0.25 * se
    # A derived quantity: exp(c) is monotone, so its percentile interval is exp of c's
    # (up to linear interpolation between order statistics) and its BCa interval nearly
    # so (the jackknife acceleration is invariant only to first order).
    elo, ehi = boot.derived("exp(c)").interval(0.9)
    np.testing.assert_allclose([elo[0, 0], ehi[0, 0]], np.exp([plo[0, 0], phi[0, 0]]), rtol=1e-3)
    dlo, dhi = boot.derived("exp(c)").interval(0.9, method="bca")
    np.testing.assert_allclose([dlo[0, 0], dhi[0, 0]], np.exp([blo[0, 0], bhi[0, 0]]), rtol=5e-3)


def test_block_jackknife_for_many_units():
    x, y = _data(n=300, seed=3)
    fit = fit_multistart(LAW, x, y, START, params=PARAMS)
    full = bootstrap(fit, 10, seed=1, max_jackknife=1000)
    blocks = bootstrap(fit, 10, seed=1, max_jackknife=100)
    assert full.jack_params.shape == (300, 3) and blocks.jack_params.shape == (100, 3)
    # Blocks of 3 units estimate the same acceleration (a ratio of cumulants).
    a_full, a_blk = full.params.acceleration(), blocks.params.acceleration()
    assert np.all(np.abs(a_full) < 0.05) and np.all(np.abs(a_blk - a_full) < 0.03)


# ------------------------------------------------------------------ derived quantities, predictions
def test_derived_and_predictions():
    x, Y = _data(sims=2, seed=9)
    fit = fit_multistart(LAW, x, Y, START, params=PARAMS)
    boot = bootstrap(fit, 30, seed=2)
    assert isinstance(boot, BootstrapResult)
    reps = boot.params.replicates  # (2, 30, 3)
    ratio = boot.derived("b/(a + b)")
    assert ratio.replicates.shape == (2, 30, 1)
    np.testing.assert_allclose(ratio.replicates[..., 0], reps[..., 1] / (reps[..., 0] + reps[..., 1]))
    np.testing.assert_allclose(ratio.estimate[:, 0], fit.params[:, 1] / fit.params[:, :2].sum(axis=1))
    assert ratio.jackknife.shape == (120, 1)
    # With an input: a formula of the parameters at several values of "z".
    z = np.array([1.0, 10.0, 1e4])
    dz = boot.derived("c + a*z**-b", {"z": z})
    pz = boot.predict({"x": z})
    assert dz.replicates.shape == pz.replicates.shape == (2, 30, 3)
    np.testing.assert_allclose(dz.replicates, pz.replicates, rtol=1e-12)
    np.testing.assert_allclose(pz.replicates[1, 4], reps[1, 4, 2] + reps[1, 4, 0] * z ** -reps[1, 4, 1])
    np.testing.assert_allclose(pz.estimate, fit.predict(z))
    lo, hi = pz.interval(0.8)
    assert lo.shape == (2, 3) and np.all(lo <= pz.estimate) and np.all(pz.estimate <= hi)
    np.testing.assert_allclose(evaluate_many("a*b", [[2.0, 3.0, 0.0]], param_names=PARAMS), [[6.0]])
    with pytest.raises(ValueError, match="unknown symbol"):
        boot.derived("a + q")


def test_bootstrap_summaries():
    x, y = _data(seed=10)
    fit = fit_multistart(LAW, x, y, START, params=PARAMS)
    boot = bootstrap(fit, 100, seed=3)
    reps = boot.params.replicates[0]
    np.testing.assert_allclose(boot.covariance()[0], np.cov(reps, rowvar=False))
    np.testing.assert_allclose(boot.stderr()[0], reps.std(axis=0, ddof=1))
    np.testing.assert_allclose(boot.params.bias()[0], reps.mean(axis=0) - fit.params[0])
    s = boot.params.summary(0.9, "bca")
    assert set(s) == {"estimate", "stderr", "lower", "upper"} and s["lower"].shape == (1, 3)
    text = boot.describe()
    assert "100 resamples" in text and all(p in text for p in PARAMS)
    with pytest.raises(ValueError, match="method"):
        boot.interval(0.9, method="basic")
    with pytest.raises(ValueError, match="level"):
        boot.interval(90)
    nojk = bootstrap(fit, 10, seed=3, jackknife=False)
    with pytest.raises(ValueError, match="jackknife"):
        nojk.interval(0.9, method="bca")


def test_chunked_batches_give_the_same_answer(monkeypatch):
    import sys

    bmod = sys.modules["lawfit.bootstrap"]  # the module (lawfit.bootstrap is the function)

    x, Y = _data(sims=3, seed=12)
    fit = fit_multistart(LAW, x, Y, {"a": [1, 3], "b": [0.2, 1], "c": [0, 1]}, params=PARAMS)
    whole = bootstrap(fit, 30, seed=1, starts="grid")
    monkeypatch.setattr(bmod, "_CHUNK_PROBLEMS", 50)  # 2 resamples x 3 laws x 8 starts per call
    monkeypatch.setattr(bmod, "_CHUNK_POINTS", 500)  # ~8 jackknife laws per call
    chunked = bootstrap(fit, 30, seed=1, starts="grid")
    np.testing.assert_array_equal(chunked.params.replicates, whole.params.replicates)
    np.testing.assert_array_equal(chunked.jack_params, whole.jack_params)


def test_percentile_interval_is_numpys_nanquantile_bit_for_bit():
    """The vectorised quantile rule gives np.nanquantile's values exactly (NaN replicates left
    out, infinities kept, ties, all-NaN and one-value columns, any axis)."""
    import warnings

    from lawfit.uncertainty import percentile_interval

    rng = np.random.default_rng(21)
    for trial in range(60):
        R, K = int(rng.integers(1, 50)), int(rng.integers(1, 20))
        t = rng.standard_normal((R, K)) * 10 ** rng.uniform(-3, 3)
        t[rng.random((R, K)) < rng.uniform(0, 0.6)] = np.nan
        t[:, 0] = np.nan if trial % 3 == 0 else t[:, 0]
        t[0, -1] = np.inf if trial % 4 == 0 else t[0, -1]
        t[:, K // 2] = t[0, K // 2]
        for level in (0.95, 0.9, 0.5, 0.999):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                want = np.nanquantile(t, [(1 - level) / 2, (1 + level) / 2], axis=0)
            lo, hi = percentile_interval(t, level)
            np.testing.assert_array_equal(lo, want[0])
            np.testing.assert_array_equal(hi, want[1])
    t3 = rng.standard_normal((4, 30, 6))
    lo, hi = percentile_interval(t3, 0.9, axis=1)
    want = np.nanquantile(t3, [(1 - 0.9) / 2, (1 + 0.9) / 2], axis=1)
    np.testing.assert_array_equal(lo, want[0])
    np.testing.assert_array_equal(hi, want[1])


def test_replicate_stderr_is_nanstd_bit_for_bit():
    rng = np.random.default_rng(5)
    reps = rng.lognormal(0.0, 2.0, (300, 57))
    r = Replicates(reps[:, 0], reps, None, None)
    assert r.stderr().tobytes() == np.nanstd(reps, axis=1, ddof=1).tobytes()
    reps[3, 5] = reps[7, :] = np.nan  # failed resamples: left out
    r = Replicates(reps[:, 0], reps, None, None)
    se = r.stderr()
    with pytest.warns(RuntimeWarning, match="Degrees of freedom"):  # row 7: no replicate left
        ref = np.nanstd(reps, axis=1, ddof=1)
    assert se.tobytes() == ref.tobytes() and np.isnan(se[7])
