"""Per-problem status codes and what they mean.

The enum itself is defined once in C++ (``cpp/lawfit/status.hpp``) and exported
by the compiled module; this module adds the human-readable reasons.
"""
from __future__ import annotations

import os
import sys
import warnings
from types import FrameType
from typing import Optional

import numpy as np

from .engine.native import Status

__all__ = ["Status", "LawfitWarning", "status_message", "summarize_status", "CONVERGED", "user_stacklevel"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_stacklevel() -> int:
    """The ``stacklevel`` for a warning raised by the function calling this one that points
    at the first frame outside lawfit: the user's line, however deep inside lawfit the
    warning arose (one helper can be reached from several entry points)."""
    frame: Optional[FrameType] = sys._getframe(1)  # the function that warns: stacklevel 1
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    return level


class LawfitWarning(UserWarning):
    """Some problems of a batch did not converge; the message says how many and why."""


_MESSAGES = {
    Status.NOT_RUN: "The problem was not run.",
    Status.CONVERGED_FTOL: "Both actual and predicted relative reductions in the sum of squares are at most ftol.",
    Status.CONVERGED_XTOL: "The relative error between two consecutive iterates is at most xtol.",
    Status.CONVERGED_FTOL_XTOL: "Both the ftol and the xtol conditions hold.",
    Status.CONVERGED_GTOL: ("The cosine of the angle between the residuals and any column of the Jacobian "
                            "is at most gtol."),
    Status.MAX_EVALUATIONS: "The number of model evaluations reached max_nfev before convergence.",
    Status.STALLED: "No step reduces the sum of squares; ftol/xtol are too small for double precision.",
    Status.SINGULAR: "The damped normal equations could not be solved (the Jacobian is degenerate).",
    Status.NON_FINITE: "The model or its derivatives are NaN or infinite at the starting point.",
    Status.BAD_INPUT: ("Invalid input for this problem: non-finite data or start, too few points, or a start "
                       "outside the bounds."),
    Status.INTERRUPTED: "The batch was interrupted before this problem was solved.",
}

CONVERGED = (
    Status.CONVERGED_FTOL,
    Status.CONVERGED_XTOL,
    Status.CONVERGED_FTOL_XTOL,
    Status.CONVERGED_GTOL,
)


def status_message(code: int) -> str:
    """Return the explanation of one status code."""
    return _MESSAGES[Status(int(code))]


_CONVERGED_CODES = sorted(int(s) for s in CONVERGED)
# consecutive codes: two comparisons instead of np.isin (0.1 ms on 10,000 codes)
_CONVERGED_RANGE = (_CONVERGED_CODES[0], _CONVERGED_CODES[-1]) \
    if _CONVERGED_CODES == list(range(_CONVERGED_CODES[0], _CONVERGED_CODES[-1] + 1)) else None


def is_converged(status: np.ndarray) -> np.ndarray:
    """Boolean mask of converged problems."""
    status = np.asarray(status)
    if _CONVERGED_RANGE is not None and status.dtype.kind in "iu":
        lo, hi = _CONVERGED_RANGE
        return (status >= lo) & (status <= hi)
    return np.isin(status, _CONVERGED_CODES)


def summarize_status(status: np.ndarray) -> str:
    """One line such as ``"9,990 converged, 7 MAX_EVALUATIONS, 3 BAD_INPUT"``."""
    status = np.asarray(status)
    parts = [f"{int(is_converged(status).sum()):,} converged"]
    codes, counts = np.unique(status[~is_converged(status)], return_counts=True)
    parts += [f"{int(n):,} {Status(int(c)).name}" for c, n in zip(codes, counts)]
    return ", ".join(parts)


def warn_failures(status: np.ndarray, detail: Optional[str] = None) -> None:
    """Warn once for a batch in which some problems did not converge; ``detail``
    (e.g. the first failure and its reason) follows the counts.  The warning points
    at the user's call."""
    status = np.asarray(status)
    if status.size and not is_converged(status).all():
        extra = f" (first: {detail})" if detail else ""
        warnings.warn(f"lawfit: {summarize_status(status)}{extra}", LawfitWarning, stacklevel=user_stacklevel())
