"""Running and scoring the NIST StRD problems with scipy and with lawfit.

Shared by ``tests/acceptance/test_nist.py`` and by the benchmarks: :func:`nist_report`
fits every problem from both starts with both libraries and returns the
per-problem table as text.  The LRE and pass rule themselves live in
``lawfit.datasets.nist`` (``lre``, ``score_fit``, ``passes``).

scipy is run as ``curve_fit(f, x, y, p0=start, method=...)`` (``"lm"``:
MINPACK ``lmdif``, forward-difference Jacobian, ``maxfev = 200 * (k + 1)``;
``"trf"``: ``least_squares``) with the hand-written numpy model of
``nist_models.py``.  lawfit is run as ``lawfit.curve_fit(problem.formula, x,
y, p0=start)``.  Both at their default arguments (issue 15: accuracy at
defaults); ``LAWFIT_NIST_TOL=<float>`` sets ftol = xtol for both instead.
An exception that a fitter raises to say that it failed (RuntimeError, and
for scipy also ValueError/LinAlgError) scores 0; warnings are recorded and
shown in the table but the score is the LRE of what was returned.

:func:`fit_lawfit_multistart` is lawfit's multistart: ``fit_multistart``
from both NIST starts and 64 starts spread over each start * 10**[-3, 3]
(``log_box_starts``), at the tolerances of curve_fit's finish.
"""

from __future__ import annotations

import functools
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np

# Default arguments for both fitters, unless LAWFIT_NIST_TOL asks for ftol = xtol.
TOLERANCES = ({"ftol": float(os.environ["LAWFIT_NIST_TOL"]), "xtol": float(os.environ["LAWFIT_NIST_TOL"])}
              if os.environ.get("LAWFIT_NIST_TOL") else {})

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:  # so that bench/ can import this file directly
    sys.path.insert(0, str(_HERE))

from nist_models import model as nist_model  # noqa: E402

try:  # the source tree, when lawfit is not installed
    import lawfit.datasets  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(_HERE.parent / "python"))

from lawfit.datasets.nist import (  # noqa: E402
    PARAM_LRE_MIN,
    STDDEV_LRE_MIN,
    NistProblem,
    load_nist_strd,
    nist_problem_names,
    passes,
    score_fit,
)

STARTS = (1, 2)


def data_dir() -> Optional[Path]:
    """The NIST data directory (LAWFIT_DATA, then ../shared/data), or None."""
    candidates = []
    env = os.environ.get("LAWFIT_DATA")
    if env:
        candidates.append(Path(env).expanduser())
    candidates.append(_HERE.parents[0].parent / "shared" / "data")
    for c in candidates:
        for d in (c / "nist-strd", c):
            if d.is_dir() and any(d.glob("*.dat")):
                return d
    return None


@functools.lru_cache(maxsize=None)
def problem(name: str) -> NistProblem:
    d = data_dir()
    if d is None:
        raise FileNotFoundError("NIST StRD data not found (set LAWFIT_DATA)")
    return load_nist_strd(name, data_dir=d)


def problem_names() -> List[str]:
    d = data_dir()
    return nist_problem_names(d) if d is not None else []


@dataclass
class FitOutcome:
    library: str
    name: str
    start: int
    popt: Optional[np.ndarray] = None
    pcov: Optional[np.ndarray] = None
    error: Optional[str] = None
    warnings: List[str] = field(default_factory=list)
    seconds: float = 0.0
    lre_params: float = 0.0
    lre_stddev: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and passes(self.lre_params, self.lre_stddev)

    def describe(self) -> str:
        s = f"LRE params {self.lre_params:.1f} (need {PARAM_LRE_MIN:g}), " \
            f"LRE stddev {self.lre_stddev:.1f} (need {STDDEV_LRE_MIN:g})"
        if self.error:
            s += f"; error: {self.error}"
        if self.warnings:
            s += f"; warnings: {'; '.join(sorted(set(self.warnings)))}"
        return s


class LawfitUnavailable(Exception):
    """lawfit.curve_fit cannot be imported (not a fit failure)."""


def _run(library: str, name: str, start: int, call, failures) -> FitOutcome:
    p = problem(name)
    out = FitOutcome(library, name, start)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            popt, pcov = call(p, np.array(p.start(start), dtype=np.float64))
            out.popt = np.asarray(popt, dtype=np.float64)
            out.pcov = None if pcov is None else np.asarray(pcov, dtype=np.float64)
        except failures as exc:
            out.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    out.seconds = time.perf_counter() - t0
    out.warnings = [f"{w.category.__name__}: {w.message}".splitlines()[0][:120] for w in caught]
    if out.error is None:
        out.lre_params, out.lre_stddev = score_fit(p, out.popt, out.pcov)
    return out


@functools.lru_cache(maxsize=None)
def fit_scipy(name: str, start: int, method: str = "lm") -> FitOutcome:
    from scipy.optimize import curve_fit

    f = nist_model(name)

    def call(p, p0):
        return curve_fit(f, p.x, p.y, p0=p0, method=method, **TOLERANCES)

    return _run(f"scipy {method}", name, start, call, (RuntimeError, ValueError, np.linalg.LinAlgError))


def lawfit_curve_fit():
    """``lawfit.curve_fit``, or raise LawfitUnavailable saying why not."""
    try:
        import lawfit
    except Exception as exc:  # pragma: no cover - depends on the build
        raise LawfitUnavailable(f"import lawfit failed: {type(exc).__name__}: {exc}") from exc
    fn = getattr(lawfit, "curve_fit", None)
    if fn is None:
        raise LawfitUnavailable("lawfit.curve_fit does not exist yet")
    return fn


@functools.lru_cache(maxsize=None)
def fit_lawfit(name: str, start: int) -> FitOutcome:
    cf = lawfit_curve_fit()

    def call(p, p0):
        return cf(p.formula, p.x, p.y, p0=p0, inputs=list(p.inputs), param_names=list(p.param_names),
                  **TOLERANCES)

    return _run("lawfit", name, start, call, (RuntimeError,))


# Terms a model can exchange without changing its values: (parameter indices of
# each term, the index that orders them as NIST certifies them).  A multistart
# may land on the same optimum with its terms in another order.
_EXCHANGEABLE = {
    "Lanczos1": ([(0, 1), (2, 3), (4, 5)], 1),  # b1 exp(-b2 x) + ...: by rate b2 < b4 < b6
    "Lanczos2": ([(0, 1), (2, 3), (4, 5)], 1),
    "Lanczos3": ([(0, 1), (2, 3), (4, 5)], 1),
    "MGH17": ([(1, 3), (2, 4)], 1),  # b2 exp(-x b4) + b3 exp(-x b5): by rate
    "Gauss1": ([(2, 3, 4), (5, 6, 7)], 1),  # two peaks: by centre b4 < b7
    "Gauss2": ([(2, 3, 4), (5, 6, 7)], 1),
    "Gauss3": ([(2, 3, 4), (5, 6, 7)], 1),
}


def canonical_order(name: str, popt: np.ndarray, pcov: np.ndarray):
    """``popt``/``pcov`` with exchangeable terms in NIST's order and peak widths positive."""
    popt, pcov = np.array(popt, dtype=float), np.array(pcov, dtype=float)
    if name.startswith("Gauss"):
        popt[[4, 7]] = np.abs(popt[[4, 7]])  # exp(-(x - c)^2 / w^2) is even in w
    if name not in _EXCHANGEABLE:
        return popt, pcov
    terms, key = _EXCHANGEABLE[name]
    order = sorted(range(len(terms)), key=lambda t: popt[terms[t][key]])
    perm = np.arange(popt.size)
    for slot, t in zip(terms, (terms[t] for t in order)):
        perm[list(slot)] = t
    return popt[perm], pcov[np.ix_(perm, perm)]


@functools.lru_cache(maxsize=None)
def fit_lawfit_multistart(name: str) -> FitOutcome:
    """lawfit's multistart on one problem: scored like a fit (``start`` is 0)."""
    import lawfit
    from lawfit.engine.options import POLISH_FTOL, POLISH_XTOL
    from lawfit.engine.starts import log_box_starts

    p = problem(name)
    centers = [np.array(p.start(s), dtype=np.float64) for s in STARTS]
    starts = np.vstack(centers + [log_box_starts(c, 64) for c in centers])
    x = p.x if len(p.inputs) > 1 else np.ravel(p.x)

    def call(p, _):
        res = lawfit.fit_multistart(p.formula, x, p.y, starts, inputs=list(p.inputs), params=list(p.param_names),
                                    ftol=POLISH_FTOL, xtol=POLISH_XTOL, warn=False)
        if not res.converged[0]:
            raise RuntimeError("no start converged")
        return canonical_order(name, res.params[0], res.covariance()[0])

    out = _run("lawfit multistart", name, STARTS[0], call, (RuntimeError,))
    out.start = 0
    return out


def _fmt(o: Optional[FitOutcome], attr: str) -> str:
    if o is None:
        return "  n/a"
    if o.error is not None:
        return "  err"
    return f"{getattr(o, attr):5.1f}"


def _flag(o: Optional[FitOutcome]) -> str:
    if o is None:
        return "-"
    return ("P" if o.passed else "F") + ("w" if o.warnings else "")


def nist_report(include_lawfit: bool = True, include_scipy: bool = True, include_multistart: bool = True) -> str:
    """Fit all problems from both starts and return the LRE table as text.

    Columns: problem, difficulty, start, min LRE of the parameters (lawfit,
    scipy lm, scipy trf), min LRE of the standard deviations (the same
    three), pass flags (P pass, F fail, w = warnings were raised) of the
    three and of lawfit's multistart (one per problem, on its first row),
    then the pass counts.
    """
    names = problem_names()
    if not names:
        return "NIST StRD data not found (set LAWFIT_DATA)\n"
    lawfit_note = None
    if include_lawfit:
        try:
            lawfit_curve_fit()
        except LawfitUnavailable as exc:
            lawfit_note = str(exc)
            include_lawfit = include_multistart = False
    head = (f"{'problem':<9} {'difficulty':<8} {'start':>5}  {'LRE params':>17}  {'LRE stddev':>17}  "
            f"{'pass':>14}")
    sub = (f"{'':<9} {'':<8} {'':>5}  {'lawfit   lm  trf':>17}  {'lawfit   lm  trf':>17}  "
           f"{'lf lm trf multi':>14}")
    lines = [head, sub, "-" * len(head)]
    counts = {"lawfit": 0, "lm": 0, "trf": 0, "multistart": 0}
    for name in names:
        p = problem(name)
        for s in STARTS:
            lf = fit_lawfit(name, s) if include_lawfit else None
            lm = fit_scipy(name, s, "lm") if include_scipy else None
            trf = fit_scipy(name, s, "trf") if include_scipy else None
            ms = fit_lawfit_multistart(name) if include_multistart and s == STARTS[0] else None
            for key, o in (("lawfit", lf), ("lm", lm), ("trf", trf)):
                counts[key] += bool(o and o.passed)
            counts["multistart"] += 2 * bool(ms and ms.passed)
            lines.append(
                f"{name:<9} {p.difficulty:<8} {s:>5}  "
                f"{_fmt(lf, 'lre_params')} {_fmt(lm, 'lre_params')} {_fmt(trf, 'lre_params')}  "
                f"{_fmt(lf, 'lre_stddev')} {_fmt(lm, 'lre_stddev')} {_fmt(trf, 'lre_stddev')}  "
                f"{_flag(lf):>3} {_flag(lm):>3} {_flag(trf):>3} {_flag(ms) if s == STARTS[0] else '':>4}"
            )
    total = 2 * len(names)
    lines.append("-" * len(head))
    lines.append(
        f"pass rule: min LRE params >= {PARAM_LRE_MIN:g} and min LRE stddev >= {STDDEV_LRE_MIN:g}"
    )
    shown = [(k, v) for k, v in counts.items()
             if (k == "lawfit" and include_lawfit) or (k in ("lm", "trf") and include_scipy)
             or (k == "multistart" and include_multistart)]
    lines.append("passing pairs: " + ", ".join(f"{k} {v}/{total}" for k, v in shown))
    if lawfit_note:
        lines.append(f"lawfit not run: {lawfit_note}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python tests/nist_scoring.py
    print(nist_report())
