"""NIST StRD nonlinear regression: the acceptance test for lawfit's fitter.

Every one of the 27 NIST StRD problems is fitted from both of NIST's starting
points, by scipy and by lawfit, all at their default arguments:

* scipy: ``scipy.optimize.curve_fit(f, x, y, p0=start, method=m)`` for
  m = "lm" and "trf", with the hand-written numpy model ``f`` of
  ``nist_models.py``;
* lawfit: ``lawfit.curve_fit(problem.formula, x, y, p0=start)``, the model
  given as the formula string read from the NIST file (parameters b1..bk in
  order, input x; for Nelson the inputs are x1, x2 and x has shape (2, n));
* lawfit's multistart (``fit_multistart`` from both NIST starts and 64
  starts over each start * 10**[-3, 3]), one result per problem.

A fitter that raises RuntimeError (scipy also ValueError/LinAlgError) fails
that pair.  Results are scored with the log relative error of McCullough
(1998, "Assessing the reliability of statistical software: Part I", The
American Statistician 52(4), 358-366):

    LRE = -log10(|estimate - certified| / |certified|)

capped at 11 (NIST certifies 11 significant digits) and set to 0 below 1 or
when the estimate is not finite.  A problem/start pair PASSES when

    min over parameters of LRE(popt)               >= 6, and
    min over parameters of LRE(sqrt(diag(pcov)))   >= 4.

Targets (issue 15): at least 50 of the 54 pairs at default arguments; lawfit
never below scipy's lm or trf (capped at the pass thresholds) on any pair;
every problem with the multistart.  The one exception is Lanczos1's standard
deviations, which no float64 computation reaches:
:func:`test_lanczos1_standard_deviations_need_more_than_float64` shows it in
exact arithmetic.

``nist_report()`` (from ``nist_scoring``) returns the per-problem table;
``pytest -s tests/acceptance/test_nist.py`` prints it.
"""

from decimal import Decimal, getcontext
from fractions import Fraction

import numpy as np
import pytest

from nist_scoring import (
    STARTS,
    LawfitUnavailable,
    data_dir,
    fit_lawfit,
    fit_lawfit_multistart,
    fit_scipy,
    nist_report,
    problem,
    problem_names,
)
from lawfit.datasets import NIST_PROBLEMS
from lawfit.datasets.nist import PARAM_LRE_MIN, STDDEV_LRE_MIN

__all__ = ["nist_report"]

pytestmark = pytest.mark.data

PAIRS = [(n, s) for n in NIST_PROBLEMS for s in STARTS]
PAIR_IDS = [f"{n}-start{s}" for n, s in PAIRS]
#: Certified standard deviations that data rounded to float64 cannot reproduce (see below).
FLOAT64_LIMITED = {"Lanczos1"}


@pytest.fixture(scope="module", autouse=True)
def _need_data():
    if data_dir() is None:
        pytest.skip("NIST StRD data not found (set LAWFIT_DATA or provide ../shared/data)")


def _lawfit(name, start):
    try:
        return fit_lawfit(name, start)
    except LawfitUnavailable as exc:
        pytest.fail(f"lawfit cannot be run: {exc}")


@pytest.mark.slow
def test_report(request):
    """The LRE table has a row per problem and start whose flags agree with the
    per-pair results, and its totals count them (attached to the report with -rA)."""
    text = nist_report()
    request.node.add_report_section("call", "NIST StRD LRE table", text)
    names = problem_names()
    rows = {}
    for ln in text.splitlines():
        tokens = ln.split()
        if tokens and tokens[0] in names:
            start = int(tokens[2])
            # Flags: lawfit, scipy lm, scipy trf, and the multistart's on the first start's row.
            rows[(tokens[0], start)] = tokens[-4:-1] if start == STARTS[0] else tokens[-3:]
    assert set(rows) == {(n, s) for n in names for s in STARTS}
    n_lf = n_lm = 0
    for (name, start), (lf_flag, lm_flag, _trf_flag) in rows.items():
        lf, lm = _lawfit(name, start).passed, fit_scipy(name, start, "lm").passed
        assert lf_flag.startswith("P") == lf and lm_flag.startswith("P") == lm, (name, start, lf_flag, lm_flag)
        n_lf, n_lm = n_lf + lf, n_lm + lm
    total = 2 * len(names)
    assert f"passing pairs: lawfit {n_lf}/{total}, lm {n_lm}/{total}" in text


@pytest.mark.parametrize("method", ["lm", "trf"])
@pytest.mark.parametrize("start", STARTS)
def test_scipy_harness_sane(start, method):
    """The scipy side works at all: Misra1a is solved to 6 digits from both starts."""
    out = fit_scipy("Misra1a", start, method)
    assert out.error is None and out.lre_params >= 6, out.describe()


@pytest.mark.parametrize("name, start", PAIRS, ids=PAIR_IDS)
def test_lawfit_nist(name, start):
    p = problem(name)
    lf = _lawfit(name, start)
    if lf.passed:
        return
    msg = f"lawfit fails {name} start {start} ({p.difficulty}): {lf.describe()}"
    scipy_passes = [m for m in ("lm", "trf") if fit_scipy(name, start, m).passed]
    if name in FLOAT64_LIMITED and not scipy_passes:
        pytest.xfail(f"{msg}; the certified standard deviations need more than float64 data")
    pytest.fail(msg + (f"; scipy {', '.join(scipy_passes)} passes" if scipy_passes else ""))


def test_at_least_50_of_54_at_default_arguments():
    names = problem_names()
    passed = [(n, s) for n in names for s in STARTS if _lawfit(n, s).passed]
    assert len(passed) >= 50, f"lawfit passes {len(passed)} of {2 * len(names)}\n" + nist_report()


def test_never_below_scipy():
    """Wherever scipy's lm or trf reaches a pass threshold, lawfit does too (LREs capped there;
    half a digit of slack below the thresholds, where the last digits are the data's rounding)."""
    slack = 0.5
    worse = []
    for n in problem_names():
        for s in STARTS:
            lf = _lawfit(n, s)
            for m in ("lm", "trf"):
                sp = fit_scipy(n, s, m)
                if sp.error is not None:
                    continue
                if (lf.error is not None
                        or min(lf.lre_params, PARAM_LRE_MIN) < min(sp.lre_params, PARAM_LRE_MIN) - slack
                        or min(lf.lre_stddev, STDDEV_LRE_MIN) < min(sp.lre_stddev, STDDEV_LRE_MIN) - slack
                        or (sp.passed and not lf.passed)):
                    worse.append(f"{n} start {s}: lawfit {lf.describe()}; scipy {m} {sp.describe()}")
    assert not worse, "lawfit below scipy:\n" + "\n".join(worse)


def test_lawfit_passes_all_lower_difficulty():
    failing = []
    for n in problem_names():
        if problem(n).difficulty != "lower":
            continue
        for s in STARTS:
            out = _lawfit(n, s)
            if not out.passed:
                failing.append(f"{n} start {s}: {out.describe()}")
    assert not failing, "lower-difficulty failures:\n" + "\n".join(failing)


@pytest.mark.parametrize("name", NIST_PROBLEMS)
def test_multistart_nist(name):
    out = fit_lawfit_multistart(name)
    if name in FLOAT64_LIMITED:
        assert out.lre_params >= PARAM_LRE_MIN, out.describe()
        pytest.xfail(f"{name}: the certified standard deviations need more than float64 data")
    assert out.passed, f"multistart fails {name}: {out.describe()}"


def test_lanczos1_standard_deviations_need_more_than_float64():
    """Lanczos1's residuals (~1e-13) are below the rounding of its data to float64 (~1e-16 of y ~ 1).

    The least-squares optimum of the data *as float64 holds them* is found
    here in 60-digit decimal arithmetic (Gauss-Newton from the certified
    values, residuals exact); its residual sum of squares differs from the
    certified one by more than 1e-4, so standard deviations from float64 data
    cannot reach LRE 4, whatever the solver.  With the data's decimal text
    instead, the same computation reproduces the certified value.
    """
    getcontext().prec = 60
    p = problem("Lanczos1")

    def exact(v):
        fr = Fraction(float(v))
        return Decimal(fr.numerator) / Decimal(fr.denominator)

    def optimum_rss(convert):
        xs, ys = [convert(v) for v in np.ravel(p.x)], [convert(v) for v in p.y]
        b = [Decimal(repr(float(v))) for v in p.certified_values]
        for _ in range(4):
            r, J = [], []
            for x, y in zip(xs, ys):
                e = [(-b[1] * x).exp(), (-b[3] * x).exp(), (-b[5] * x).exp()]
                r.append(y - (b[0] * e[0] + b[2] * e[1] + b[4] * e[2]))
                J.append([float(e[0]), float(-b[0] * x * e[0]), float(e[1]), float(-b[2] * x * e[1]),
                          float(e[2]), float(-b[4] * x * e[2])])
            step = np.linalg.lstsq(np.array(J), np.array([float(v) for v in r]), rcond=None)[0]
            b = [bi + Decimal(repr(float(d))) for bi, d in zip(b, step)]
        return float(sum(v * v for v in r))

    certified = p.residual_sum_of_squares
    from_text = optimum_rss(lambda v: Decimal(repr(float(v))))
    from_float64 = optimum_rss(exact)
    assert abs(from_text / certified - 1) < 1e-6
    # sd ~ sqrt(rss): relative error above 1e-4 / 2 means LRE < 4.3 at best
    assert abs(np.sqrt(from_float64 / certified) - 1) > 1e-4
