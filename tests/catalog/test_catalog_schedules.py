"""S1 and S2 of the LR-annealing law (Tissue et al. 2024) against values computed by hand.

S1(s) = sum_{i<=s} eta_i;  m_i = lam m_{i-1} + (eta_{i-1} - eta_i);  S2(s) = sum_{i<=s} m_i,
with eta_0 = eta_1 and the warm-up rise left out of S2 (lawfit's stated conventions).
"""
import numpy as np
import pytest

from lawfit.catalog import constant_schedule, cosine_schedule, lr_areas, wsd_schedule


def _s2_double_sum(lr, lam, first):
    """S2 from its closed form sum_k delta_k (1 + lam + ... + lam^(s-k)): no recurrence."""
    eta = np.asarray(lr, float)
    delta = np.r_[0.0, eta[:-1] - eta[1:]]
    delta[:first] = 0.0
    s = np.arange(1, eta.size + 1)
    out = np.empty(eta.size)
    for t in s:
        j = t - np.arange(1, t + 1) + 1  # steps from k to t inclusive
        geo = j.astype(float) if lam == 1 else (1 - lam ** j) / (1 - lam)
        out[t - 1] = np.sum(delta[:t] * geo)
    return out


def test_constant_schedule_has_no_annealing_area():
    S1, S2 = lr_areas(constant_schedule(5, 0.01))
    np.testing.assert_allclose(S1, [0.01, 0.02, 0.03, 0.04, 0.05])
    np.testing.assert_array_equal(S2, np.zeros(5))


def test_step_decay_by_hand():
    # lam = 0.5: delta = 0, 0, .5, 0, .25;  m = 0, 0, .5, .25, .375
    S1, S2 = lr_areas([1.0, 1.0, 0.5, 0.5, 0.25], decay=0.5)
    np.testing.assert_allclose(S1, [1, 2, 2.5, 3, 3.25])
    np.testing.assert_allclose(S2, [0, 0, 0.5, 0.75, 1.125])


def test_cosine_by_hand():
    lr = cosine_schedule(5, 1.0)  # 1, (1 + cos(pi/4))/2, 1/2, (1 - cos(pi/4))/2, 0
    c = np.cos(np.pi / 4)
    np.testing.assert_allclose(lr, [1, (1 + c) / 2, 0.5, (1 - c) / 2, 0], atol=1e-15)
    S1, S2 = lr_areas(lr, decay=0.5)
    np.testing.assert_allclose(S1, [1, 1.8535533905932737, 2.3535533905932737, 2.5, 2.5])
    # delta = 0, .1464466, .3535534, .3535534, .1464466
    # m     = 0, .1464466, .4267767, .5669417, .4299175
    np.testing.assert_allclose(S2, [0, 0.14644660940672624, 0.5732233047033631, 1.1401650429449553,
                                    1.5700825214724777], rtol=1e-12)


def test_long_cosine_matches_the_closed_form():
    lr = cosine_schedule(3000, 6e-4, final=6e-5, warmup=100)
    for lam in (0.999, 0.99, 0.5):
        S1, S2 = lr_areas(lr, lam)
        np.testing.assert_allclose(S1, np.cumsum(lr), rtol=1e-12)
        np.testing.assert_allclose(S2, _s2_double_sum(lr, lam, first=100), rtol=1e-9, atol=1e-15)


def test_wsd_by_hand():
    lr = wsd_schedule(100, 1e-3, warmup=10, decay=20)
    np.testing.assert_allclose(lr[:10], 1e-4 * np.arange(1, 11))
    np.testing.assert_allclose(lr[10:80], 1e-3)
    np.testing.assert_allclose(lr[80:], 1e-3 * (1 - np.arange(1, 21) / 20), atol=1e-18)
    S1, S2 = lr_areas(lr, decay=0.9)
    # warm-up 1e-4 (1 + ... + 10) = 5.5e-3; stable 70e-3; decay 1e-3 (20 - 210/20) = 9.5e-3
    assert S1[-1] == pytest.approx(5.5e-3 + 70e-3 + 9.5e-3)
    # no annealing before the decay; then 20 drops of 5e-5:
    # S2(T) = 5e-5 sum_{j=1..20} (1 - 0.9^j)/0.1 = 5e-5 (20 - 9 (1 - 0.9^20))/0.1
    np.testing.assert_array_equal(S2[:80], 0.0)
    assert S2[-1] == pytest.approx(5e-5 * (20 - 9 * (1 - 0.9**20)) / 0.1, rel=1e-12)
    # decay 0: the plain drop in LR; decay 1: every drop counts once per later step
    assert lr_areas(lr, decay=0.0)[1][-1] == pytest.approx(1e-3)
    assert lr_areas(lr, decay=1.0)[1][-1] == pytest.approx(5e-5 * 210)


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.9, 0.999, 1.0])
def test_blockwise_momentum_equals_the_plain_recurrence(lam):
    rng = np.random.default_rng(3)
    lr = np.abs(np.cumsum(rng.normal(0, 1e-5, 5000))) + 1e-4  # rises and falls: exercises every branch
    S1, S2 = lr_areas(lr, lam, warmup=0)
    m, prev, ref = 0.0, lr[0], []
    for eta in lr:
        m = lam * m + (prev - eta)
        prev = eta
        ref.append(m)
    np.testing.assert_allclose(S2, np.cumsum(ref), rtol=1e-9, atol=1e-14)


def test_warmup_rise_is_not_annealing_unless_asked():
    lr = cosine_schedule(200, 1e-3, warmup=50)
    _, S2 = lr_areas(lr, 0.99)
    np.testing.assert_array_equal(S2[:51], 0.0)  # up to and including the peak
    assert np.all(np.diff(S2[50:]) > 0)
    _, counted = lr_areas(lr, 0.99, warmup=0)  # warm-up treated as negative annealing
    assert counted[49] < 0


def test_bad_schedules_raise():
    with pytest.raises(ValueError):
        lr_areas([])
    with pytest.raises(ValueError):
        lr_areas([1.0, np.nan])
    with pytest.raises(ValueError):
        lr_areas([1.0, 0.5], decay=1.5)
    with pytest.raises(ValueError):
        wsd_schedule(10, 1.0, warmup=6, decay=6)
