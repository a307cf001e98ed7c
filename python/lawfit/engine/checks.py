"""Checks of a call's arguments and of every law's data, shared by all entry points.

Two kinds of bad input, two outcomes (DESIGN.md, "Numerical contract"):

* **A malformed call** -- a missing column, arrays of different lengths, text
  where numbers belong -- raises ``ValueError`` or ``TypeError`` naming the
  argument (:func:`float_array`, :func:`same_length`).
* **A law whose data cannot be fitted** -- missing or non-finite values, an
  input outside the law's domain (``log N`` of N <= 0), sigma <= 0, y <= 0
  with log residuals, fewer points than free parameters -- is one failed law
  of the batch: the core gives it the status ``BAD_INPUT`` and the others fit.
  :func:`input_problems` finds, for every law, the first offending point and
  column, which the entry points turn into the law's ``reason`` and into the
  one :class:`lawfit.LawfitWarning` that summarises the batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

__all__ = ["Problem", "input_problems", "law_reasons", "first_failure", "float_array", "same_length",
           "describe_problems", "finite_rows"]


@dataclass(frozen=True)
class Problem:
    """The first reason a law cannot be fitted.

    Attributes
    ----------
    law : int
        The law's index in the batch.
    point : int
        Flat index of the offending point (-1 when the law as a whole is at
        fault, e.g. too few points).
    column : str
        ``"y"``, ``"sigma"``, an input name, or ``""`` for the whole law.
    value : float
        The offending value (NaN for a missing one).
    what : str
        What is wrong, e.g. ``"missing value"``, ``"outside the law's domain
        (log(N) is not finite)"``, ``"too few points: 3 for 5 free parameters"``.
    """

    law: int
    point: int
    column: str
    value: float
    what: str

    def describe(self, names: Optional[Mapping[str, str]] = None, where: str = "") -> str:
        """One line, e.g. ``"missing value (nan) in column 'loss' at row 30"``.

        ``names`` maps ``"y"``, ``"sigma"`` and input names to what the user
        calls them (data columns); ``where`` says where the point is.
        """
        if self.point < 0:
            return self.what
        col = (names or {}).get(self.column, self.column)
        at = f" at {where}" if where else ""
        if self.what in ("missing value", "non-finite value"):
            return f"{self.what} ({self.value!r}) in column {col!r}{at}"
        return f"column {col!r}{at} holds {self.value!r}, {self.what}"


def _first_per_law(bad: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Flat index of the first True of ``bad`` in every law (M where there is none)."""
    M = bad.size
    L = offsets.size - 1
    first = np.full(L, M, dtype=np.int64)
    if M == 0 or not bad.any():
        return first
    idx = np.where(bad, np.arange(M, dtype=np.int64), M)
    starts = offsets[:-1]
    nonempty = np.diff(offsets) > 0
    first[nonempty] = np.minimum.reduceat(idx, starts[nonempty])
    return first


def input_problems(program, columns: np.ndarray, y: np.ndarray, offsets, *, weight=None, sigma=None,
                   n_free=None, residual: str = "linear") -> list[Optional[Problem]]:
    """For every law of a ragged batch, the first reason it cannot be fitted, or None.

    Checks, point by point in the order input columns, y, sigma: missing or
    non-finite values; inputs whose derived columns (the program's hoisted
    transforms such as ``log(N)``) are not finite; sigma <= 0 (or a weight
    that is negative or not finite); y <= 0 with ``residual="log"``.  Then
    laws with fewer points than free parameters.  These are the conditions
    under which the core reports ``BAD_INPUT`` (plus the caller's sigma and
    log-residual rules), so a law marked BAD_INPUT by the core has its
    reason here unless its start or bounds were at fault.

    Parameters
    ----------
    program : lawfit.Program
    columns : ndarray (n_columns, M)
        The program's input matrix (raw inputs first, then hoisted columns).
    y : ndarray (M,)
    offsets : ndarray (L + 1,)
    weight, sigma : ndarray (M,), optional
        Weights 1/sigma^2 as the core gets them, and the sigma they came from.
    n_free : int or ndarray (L,), optional
        Free parameters per law (default: all of the program's).
    residual : {"linear", "log"}

    Examples
    --------
    >>> from lawfit import compile_law
    >>> prog = compile_law("a*x**-b", inputs=["x"])
    >>> x = np.array([1.0, 2.0, 3.0, -1.0, 2.0, 3.0])
    >>> y = np.array([1.0, np.nan, 0.5, 1.0, 0.7, 0.5])
    >>> probs = input_problems(prog, prog.input_matrix({"x": x}), y, [0, 3, 6])
    >>> [p.describe() for p in probs]
    ["missing value (nan) in column 'y'", "column 'x' holds -1.0, outside the law's domain (log(x) is not finite)"]
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    y = np.asarray(y, dtype=np.float64)
    columns = np.asarray(columns, dtype=np.float64).reshape(-1, y.size)
    L, M = offsets.size - 1, y.size
    inputs = list(program.input_names)
    n_raw = len(inputs)
    checks: list[tuple[str, np.ndarray, np.ndarray, str]] = []  # (column, values, bad mask, what)
    raw_ok = np.ones(M, dtype=bool)
    for k, name in enumerate(inputs):
        v = columns[k]
        nan, inf = np.isnan(v), np.isinf(v)
        checks.append((name, v, nan, "missing value"))
        checks.append((name, v, inf, "non-finite value"))
        raw_ok &= ~(nan | inf)
    checks.append(("y", y, np.isnan(y), "missing value"))
    checks.append(("y", y, np.isinf(y), "non-finite value"))
    if sigma is not None:
        s = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (M,))
        checks.append(("sigma", s, np.isnan(s), "missing value"))
        checks.append(("sigma", s, np.isinf(s), "non-finite value"))
        checks.append(("sigma", s, np.isfinite(s) & (s <= 0), "not positive"))
    elif weight is not None:
        w = np.broadcast_to(np.asarray(weight, dtype=np.float64), (M,))
        checks.append(("weight", w, ~np.isfinite(w) | (w < 0), "not a finite non-negative weight"))
    for k in range(n_raw, columns.shape[0]):  # hoisted transforms of finite inputs
        bad = raw_ok & ~np.isfinite(columns[k])
        if bad.any():
            expr = program.columns[k]
            used = [s for s in getattr(expr, "symbols", []) if s in inputs] or inputs[:1]
            what = f"outside the law's domain ({expr.to_formula()} is not finite)"
            checks.append((used[0], columns[inputs.index(used[0])], bad, what))
    if residual == "log":
        checks.append(("y", y, np.isfinite(y) & (y <= 0), "not positive (residual='log' needs positive y)"))

    best = np.full(L, M, dtype=np.int64)
    which = np.full(L, -1, dtype=np.int64)
    for c, (_, _, bad, _) in enumerate(checks):
        first = _first_per_law(bad, offsets)
        better = first < best
        best[better], which[better] = first[better], c
    out: list[Optional[Problem]] = [None] * L
    for law in np.flatnonzero(which >= 0).tolist():
        name, values, _, what = checks[which[law]]
        k = int(best[law])
        out[law] = Problem(law, k, name, float(values[k]), what)
    free = np.broadcast_to(np.asarray(len(program.param_names) if n_free is None else n_free), (L,))
    n_points = np.diff(offsets)
    few = n_points < np.maximum(free, 1)
    for law in np.flatnonzero(few).tolist():
        if out[law] is None:
            out[law] = Problem(law, -1, "", float("nan"),
                               f"too few points: {int(n_points[law])} for {int(free[law])} free parameters")
    return out


def describe_problems(problems: Sequence[Optional[Problem]], offsets, names=None,
                      where: Optional[Callable[[int], str]] = None) -> list[Optional[str]]:
    """The problems as text; ``where(flat point)`` names a point (default: its
    position within its law, "point 3")."""
    offsets = np.asarray(offsets, dtype=np.int64)

    def default(k: int, law: int) -> str:
        return f"point {k - int(offsets[law])}"

    return [None if p is None else
            p.describe(names, (where(p.point) if where else default(p.point, p.law)) if p.point >= 0 else "")
            for p in problems]


def law_reasons(data, status, n_free=None, residual: str = "linear") -> list[str]:
    """Why every law of ``data`` (a :class:`lawfit.engine.data.Data`) ended with ``status``:
    the status's explanation, or for BAD_INPUT its first offending point and column
    ("missing value (nan) in column 'y' at point 3")."""
    from ..status import Status, status_message

    status = np.asarray(status)
    out = [status_message(int(c)) for c in status.tolist()]
    bad = np.flatnonzero(status == int(Status.BAD_INPUT))
    if bad.size:
        problems = input_problems(data.program, data.columns, data.y, data.offsets, weight=data.weight,
                                  n_free=n_free, residual=residual)
        text = describe_problems(problems, data.offsets)
        for k in bad.tolist():
            if text[k] is not None:
                out[k] = text[k]
    return out


def first_failure(status, reasons: Sequence[str], what: str = "law") -> Optional[str]:
    """"law 3: <its reason>" for the first problem of ``status`` that did not converge
    (the detail of the batch's warning), or None."""
    from ..status import is_converged

    failed = np.flatnonzero(~is_converged(np.asarray(status)))
    if not failed.size:
        return None
    k = int(failed[0])
    return f"{what} {k}: {reasons[k]}" if np.size(status) > 1 else str(reasons[k])


def float_array(value, name: str, *, ndim: Optional[int] = None) -> np.ndarray:
    """``value`` as a float64 array, or a TypeError/ValueError that names the argument.

    Examples
    --------
    >>> float_array([1, 2], "y")
    array([1., 2.])
    >>> float_array("loss", "y")
    Traceback (most recent call last):
    ...
    TypeError: y must be numbers (an array or a sequence), not str 'loss'
    """
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be numbers (an array or a sequence), not {type(value).__name__} {value!r}")
    if isinstance(value, Mapping):
        raise TypeError(f"{name} must be numbers (an array or a sequence), not a {type(value).__name__}")
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numbers: {exc}") from None
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {a.shape}")
    return a


def same_length(n: int, **arrays) -> None:
    """Raise ValueError naming the first of ``arrays`` whose length is not ``n``."""
    for name, a in arrays.items():
        if a is not None and np.size(a) != n:
            raise ValueError(f"{name} has {np.size(a)} values, but the data have {n} points")


def finite_rows(a: np.ndarray) -> np.ndarray:
    """``np.isfinite(a).all(axis=(1, ...))`` of an array (K, ...), (K,) bool.

    In the usual all-finite case one sum settles it (a NaN or inf makes the sum non-finite) without
    the (K, ...) bool temporary; a non-finite sum (a NaN or inf, or finite values that overflow) takes
    the exact test.
    """
    a = np.asarray(a)
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(a, axis=None)):
            return np.ones(a.shape[0], bool)
    return np.isfinite(a).all(axis=tuple(range(1, a.ndim)))
