"""The batched curve_fit's cheap tests against the exact ones they stand in for.

``degenerate``'s plateau test settles most fits by a lower bound on the constant's sum of squares
(pairs of points) and computes the total only for the rest; ``finite_rows`` settles the all-finite
case by one sum; ``singular`` sums its trace column by column; ``is_converged`` compares a code
range.  Each must give exactly what the exact computation gives, here on inputs made to sit at
their thresholds.
"""
import numpy as np
import pytest

import lawfit
from lawfit.engine.checks import finite_rows
from lawfit.engine.data import segment_tss
from lawfit.engine.retry import _CONSTANT_RTOL, _constant_bound, degenerate, singular
from lawfit.status import CONVERGED, is_converged


def _exact_flat(c2, y, weight, offsets):
    total = segment_tss(y, weight, offsets)
    return (total > 0) & (c2 >= total * (1.0 - _CONSTANT_RTOL))


def _near_constant_batch(rng, weighted: str, sizes=(0, 13)):
    """Laws near a constant (spreads from 1e-170 to 1e160), of ``sizes`` points (0 to 12: some laws
    have fewer points than the bound's pairs), some with NaN or inf, with c2 set at the thresholds of
    the exact test and of the bound."""
    sizes = rng.integers(*sizes, 600)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    M = int(offsets[-1])
    spread = 10.0 ** rng.choice([-170, -80, -12, -6, 0, 3, 60, 160], M)
    y = rng.choice([0.0, 2.0, -3e5, 1e200], M) + spread * rng.standard_normal(M)
    y[rng.random(M) < 0.01] = np.nan
    y[rng.random(M) < 0.005] = np.inf
    weight = None
    if weighted == "range":
        weight = 10.0 ** rng.uniform(-3, 3, M)
    elif weighted == "extreme":  # beyond the bound's range of weights: every law takes the exact test
        weight = 10.0 ** rng.choice([-120, -2, 0, 2, 120], M)
        weight[rng.random(M) < 0.05] = 0.0
    with np.errstate(all="ignore"):
        total = segment_tss(y, weight, offsets)
        bound = _constant_bound(y, weight, offsets)
    near = np.where(rng.random(len(sizes)) < 0.6, total, bound)  # at either test's threshold
    c2 = near * (1.0 + rng.choice([-1e-6, -1.01e-7, -1e-7, -0.99e-7, -1e-9, 0.0, 1e-9, -0.5, 1e-6],
                                  len(sizes)) * rng.uniform(0.5, 1.5, len(sizes)))
    c2[rng.random(len(sizes)) < 0.02] = np.nan
    return c2, y, weight, offsets


@pytest.mark.parametrize("sizes", [(0, 13), (6, 41), (20, 21)])  # (6, 41): every law has all pairs; (20, 21): one size
@pytest.mark.parametrize("weighted", ["none", "range", "extreme"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_degenerate_plateau_bound_agrees_with_the_total(weighted, seed, sizes):
    c2, y, weight, offsets = _near_constant_batch(np.random.default_rng(seed), weighted, sizes)
    K = len(c2)
    zeros = np.zeros((K, 3))  # parameters at 0: no 'dead' parameter; collinear=False: no singular test
    with np.errstate(all="ignore"):
        got = degenerate(c2 / 2.0, zeros, zeros, np.tile(np.eye(3), (K, 1, 1)), y, weight, offsets,
                         collinear=False)
        want = _exact_flat(c2, y, weight, offsets)
    assert got.tolist() == want.tolist()
    assert want.any() and (~want).any()


@pytest.mark.parametrize("size", [6, 7, 40])
def test_constant_bound_of_one_size_matches_the_gathered_pairs(size):
    # Problems of one size take column views of (K, size); unit weights take the gathering path with
    # the same operations ((1 * 1) / (1 + 1) = 0.5 exactly): the bounds must agree bit for bit.
    _, y, _, _ = _near_constant_batch(np.random.default_rng(size), "none", (size, size + 1))
    offsets = np.arange(600 + 1, dtype=np.int64) * size
    with np.errstate(all="ignore"):
        views = _constant_bound(y, None, offsets)
        gathered = _constant_bound(y, np.ones_like(y), offsets)
    assert np.array_equal(views, gathered)
    assert (views > 0).any() and (views == 0).any()


def test_degenerate_plateau_bound_with_negative_or_nan_weights_takes_the_exact_test():
    rng = np.random.default_rng(4)
    c2, y, weight, offsets = _near_constant_batch(rng, "range")
    K = len(c2)
    zeros = np.zeros((K, 3))
    for bad in (-1.0, np.nan):
        w = weight.copy()
        w[rng.integers(0, w.size)] = bad
        with np.errstate(all="ignore"):
            got = degenerate(c2 / 2.0, zeros, zeros, np.tile(np.eye(3), (K, 1, 1)), y, w, offsets,
                             collinear=False)
            assert got.tolist() == _exact_flat(c2, y, w, offsets).tolist()


def test_curve_fit_batch_flags_flat_laws_weighted_or_not():
    # Constant and nearly constant laws in a batch get the second chance (restarts), fitted ones do not.
    rng = np.random.default_rng(5)
    x = np.logspace(1, 4, 25)
    Y = 3.0 * x ** -0.5 * (1 + 0.01 * rng.standard_normal((40, 25))) + 0.5
    Y[:5] = 1.0 + 1e-3 * rng.standard_normal((5, 25))
    for sigma in (None, np.linspace(0.01, 0.02, 25)):
        _, _, info, _, _ = lawfit.curve_fit("E + A*x**-a", x, Y, p0=[1, 1, 0.3], sigma=sigma,
                                            full_output=True)
        assert (info["restarts"][5:] == 0).all()
        # the plateau test itself on this batch: the fitted laws' sums of squares, and for the
        # near-constant ones a fit no better than the constant (c2 = their total): flagged
        K, M = Y.shape
        w = None if sigma is None else np.tile(1.0 / sigma ** 2, K)
        offsets = np.arange(K + 1) * M
        c2 = info["cost"].copy()  # 2 x lawfit's cost: the weighted sum of squares
        c2[:5] = segment_tss(Y.ravel(), w, offsets)[:5]
        zeros = np.zeros((K, 3))
        flat = degenerate(c2 / 2.0, zeros, zeros, np.tile(np.eye(3), (K, 1, 1)), Y.ravel(), w, offsets,
                          collinear=False)
        assert flat.tolist() == [True] * 5 + [False] * (K - 5)


@pytest.mark.parametrize("shape", [(0, 3), (7,), (5, 4), (6, 3, 3)])
def test_finite_rows_is_isfinite_all(shape):
    rng = np.random.default_rng(6)
    axes = tuple(range(1, len(shape)))
    base = rng.standard_normal(shape)
    cases = [base]
    if base.size:
        for value in (np.nan, np.inf, -np.inf):
            a = base.copy()
            a.flat[rng.integers(0, a.size)] = value
            cases.append(a)
        big = np.full(shape, 1e308)  # finite values whose sum overflows
        cases += [big, np.where(np.arange(base.size).reshape(shape) % 2 == 0, big, -big)]
        pair = base.copy()
        pair.flat[0], pair.flat[-1] = np.inf, -np.inf  # inf - inf: NaN sum
        cases.append(pair)
    for a in cases:
        with np.errstate(all="raise"):  # the fast path warns of nothing
            got = finite_rows(a)
        assert got.tolist() == np.isfinite(a).all(axis=axes).tolist()


def test_batch_finite_check_raises_the_same_errors_and_lets_overflowing_sums_through():
    rng = np.random.default_rng(8)
    n, d = 10 ** rng.uniform(7, 9, (6, 20)), 10 ** rng.uniform(9, 11, (6, 20))
    loss = 2.0 + 400 / n ** 0.3 + 1000 / d ** 0.3
    law = "E + A/N**alpha + B/D**beta"
    p0 = [2.0, 400.0, 0.3, 1000.0, 0.3]
    bad_y = loss.copy()
    bad_y[2, 3], bad_y[4, 0] = np.nan, -np.inf
    bad_d = d.copy()
    bad_d[3, 5] = np.inf
    for y, x, first, count in ((bad_y, {"N": n, "D": d}, 2, 2), (loss, {"N": n, "D": bad_d}, 3, 1)):
        with pytest.raises(ValueError, match=f"problem {first}: data hold NaN or inf \\({count} problems"):
            lawfit.curve_fit(law, x, y, p0=p0, check_finite=True)
        with pytest.raises(ValueError, match=f"problem {first}: the input contains nan values"):
            lawfit.curve_fit(law, x, y, p0=p0, nan_policy="raise", check_finite=False)
    # finite values whose sums overflow are no error: the exact check runs and finds every law finite
    huge = loss.copy()
    huge[1, :2] = 1e308
    with pytest.warns(lawfit.LawfitWarning):
        _, _, status = lawfit.curve_fit(law, {"N": n, "D": d}, huge, p0=p0, check_finite=True)
    assert status[1] != lawfit.Status.BAD_INPUT


def _singular_reference(jtj):
    """singular() as it was: the trace by numpy's sum(axis=1) of masked products."""
    from lawfit.engine.covariance import free_block_inverse

    out = np.zeros(len(jtj), bool)
    diag = np.diagonal(jtj, axis1=-2, axis2=-1)
    finite = np.isfinite(jtj).all(axis=(1, 2))
    inv, ok = free_block_inverse(np.where(finite[:, None, None], jtj, 0.0))
    products = np.zeros_like(diag)
    np.multiply(np.diagonal(inv, axis1=-2, axis2=-1), diag, out=products, where=(ok & finite)[:, None])
    doubt = finite & ~(ok & (products.sum(axis=1) * 1e-13 < 1.0))
    for k in np.flatnonzero(doubt):
        keep = diag[k] > 0
        if keep.sum() >= 2:
            a = jtj[k][np.ix_(keep, keep)]
            d = np.sqrt(np.diagonal(a))
            out[k] = np.linalg.eigvalsh(a / np.outer(d, d))[0] <= 1e-13
    return out


@pytest.mark.parametrize("P", [5, 9])  # a running sum below 8 parameters, numpy's pairwise sum from 8
def test_singular_trace_fast_path_agrees_with_the_masked_sum(P):
    # nearly collinear columns put the smallest scaled eigenvalue on both sides of the threshold
    from lawfit.engine.covariance import free_block_inverse

    rng = np.random.default_rng(9)
    K = 400
    J = rng.standard_normal((K, 30, P)) * 10.0 ** rng.uniform(-3, 3, (K, 1, P))
    eps = 10.0 ** rng.uniform(-16, -2, K)
    J[:, :, 4] = J[:, :, 0] + eps[:, None] * rng.standard_normal((K, 30)) * np.abs(J[:, :1, 0])
    J[7, :, 2] = 0.0  # a parameter without effect
    jtj = np.einsum("kmi,kmj->kij", J, J)
    jtj[3, 1, 2] = jtj[3, 2, 1] = np.inf
    jtj[5, 0, 0] = np.nan
    got = singular(jtj)
    assert got.tolist() == singular(jtj, free_block_inverse(jtj)).tolist()
    assert got.tolist() == _singular_reference(jtj).tolist()
    assert got.any() and (~got).any() and not got[3] and not got[5]


def test_is_converged_matches_the_converged_codes():
    codes = [int(s) for s in lawfit.Status]
    want = [c in {int(s) for s in CONVERGED} for c in codes]
    for dtype in (np.int8, np.int32, np.int64, np.uint16, np.float64):
        assert is_converged(np.array(codes, dtype=dtype)).tolist() == want
    assert is_converged(codes).tolist() == want
