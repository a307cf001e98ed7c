"""Solver options, held once.

Every entry point (``lawfit.fit``, ``evaluate``, ``Law.fit``, ``fit_shared``,
``fit_multistart``, ``bootstrap``, ``curve_fit``) builds one :class:`Options`
and hands it to the engine; no other module restates a default.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Optional, Union

__all__ = ["Options", "LOSSES", "RESIDUALS", "DEFAULT_TOL", "POLISH_FTOL", "POLISH_XTOL"]

LOSSES = ("l2", "huber", "soft_l1", "cauchy", "arctan")
RESIDUALS = ("linear", "log")
DEFAULT_TOL = 1.49012e-8  # MINPACK's (and scipy.optimize.curve_fit's) ftol and xtol: sqrt(machine eps)
# curve_fit's finish with exact derivatives: iterate on past scipy's stopping
# test until the relative cost reduction is <= 1e-14 or the step <= 1e-12 of
# the (scaled) parameters.  On NIST StRD this takes the optimum to LRE 9
# (median) for about 4 more evaluations per fit; xtol 1e-15 or ftol 0 cost
# 1.5-2x as many for no more problems solved (measured in issue 15).
POLISH_FTOL = 1e-14
POLISH_XTOL = 1e-12


@dataclass(frozen=True)
class Options:
    """How every problem of a batch is solved.

    Attributes
    ----------
    ftol, xtol, gtol : float
        MINPACK's stopping rules, as scipy's ``curve_fit``/``least_squares``
        (default 1.49012e-8, 1.49012e-8, 0).
    max_nfev : int
        Most model evaluations per problem (0: MINPACK's 100 (P + 1)).
    loss : {"l2", "huber", "soft_l1", "cauchy", "arctan"}
        Robust loss (scipy's ``loss``; ``"linear"`` is accepted for l2).
    delta : float
        Its scale (scipy's ``f_scale``).
    residual : {"linear", "log"}
        ``"log"`` fits log f - log y.
    robust_hessian : {"irls", "triggs"}
        Gauss-Newton matrix of robust losses (see :func:`lawfit.solve_batch`).
    device : {"auto", "cpu", "cuda"}
    n_threads : int or None
        CPU threads (None: every core this process may use).
    jit : bool or "auto"
        "auto": compiled code where it is ready (the catalog's laws, built
        into the package; laws compiled earlier in the process), else the
        interpreter, with a law compiled on a background thread once its
        calls add up; True: compile first; False: interpret.  Same results.
    """

    ftol: float = DEFAULT_TOL
    xtol: float = DEFAULT_TOL
    gtol: float = 0.0
    max_nfev: int = 0
    loss: str = "l2"
    delta: float = 1.0
    residual: str = "linear"
    robust_hessian: str = "irls"
    device: str = "auto"
    n_threads: Optional[int] = None
    jit: Union[bool, str] = "auto"

    def __post_init__(self):
        loss = "l2" if self.loss in ("linear", None) else str(self.loss)
        object.__setattr__(self, "loss", loss)
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.residual not in RESIDUALS:
            raise ValueError(f"residual must be 'linear' or 'log', got {self.residual!r}")
        if not float(self.delta) > 0:
            raise ValueError(f"delta (the loss scale) must be positive, got {self.delta!r}")
        object.__setattr__(self, "delta", float(self.delta))
        if self.robust_hessian not in ("irls", "triggs"):
            raise ValueError(f"robust_hessian must be 'irls' or 'triggs', got {self.robust_hessian!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        if self.jit not in (True, False, "auto") and self.jit is not None:
            raise ValueError(f"jit must be True, False or 'auto', got {self.jit!r}")
        for name in ("ftol", "xtol", "gtol"):
            v = float(getattr(self, name))
            if not v >= 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)!r}")
            object.__setattr__(self, name, v)
        if int(self.max_nfev) < 0:
            raise ValueError("max_nfev must be non-negative (0: the default)")
        object.__setattr__(self, "max_nfev", int(self.max_nfev))

    def replace(self, **changes) -> "Options":
        """A copy with some options changed; ``None`` values keep the current ones."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def solver_kwargs(self) -> dict:
        """The keyword arguments of :func:`lawfit.engine.core.solve_batch`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
