"""`LawFit`: what :meth:`lawfit.catalog.Law.fit` returns."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..engine.native import Status

if TYPE_CHECKING:  # law.py imports this module
    from .law import Law

__all__ = ["LawFit"]


@dataclass
class LawFit:
    """The result of :meth:`Law.fit`: best start's parameters, covariance and status.

    Attributes
    ----------
    law : Law
    popt, pcov : ndarray
        Parameters (P,) and covariance (P, P) in the law's fitting order;
        fixed parameters have zero variance; the covariance is NaN for a
        robust loss (curve_fit's formula holds for least squares only).
    status : Status
    cost : float
        The objective: half the weighted sum of squared residuals (in the
        residual space), or for a robust loss 1/2 delta^2 sum rho((r/delta)^2).
    n_points, n_starts, n_converged, n_at_best : int
        Data size; starts run; starts converged; converged starts whose cost
        is within 1e-6 (relative) of the best -- a small count warns that the
        optimum was hard to find.
    residual, loss : str
    delta : float
    fixed : tuple of str
    recipe : str
        Which choices came from the paper's published recipe (empty: none).
    """

    law: Law
    popt: np.ndarray
    pcov: np.ndarray
    status: Status
    cost: float
    n_points: int
    residual: str
    loss: str
    delta: float
    fixed: tuple
    n_starts: int
    n_converged: int
    n_at_best: int
    recipe: str = ""

    @property
    def params(self) -> dict:
        """``{name: value}``."""
        return dict(zip(self.law.params, self.popt.tolist()))

    @property
    def stderr(self) -> dict:
        """``{name: standard error}`` from the covariance."""
        return dict(zip(self.law.params, np.sqrt(np.clip(np.diag(self.pcov), 0, None)).tolist()))

    @property
    def converged(self) -> bool:
        """Whether the kept start met a convergence criterion."""
        return Status(int(self.status)).name.startswith("CONVERGED_")  # the core's converged codes

    def predict(self, x=None, **inputs) -> np.ndarray:
        """The fitted law at new inputs."""
        return self.law.predict(self.popt, x, **inputs)

    def derived(self, **inputs) -> tuple[dict, dict]:
        """Derived quantities and their delta-method standard errors: ``(values, stderr)``."""
        return self.law.derive(self.popt, self.pcov, **inputs)

    def natural(self) -> tuple[dict, dict]:
        """Natural parameters and their standard errors (a reparameterised law's reporting form)."""
        values, cov = self.law.to_natural(self.popt, self.pcov)
        return values, dict(zip(values, np.sqrt(np.clip(np.diag(cov), 0, None)).tolist()))

    def __str__(self) -> str:
        head = (f"{self.law.name or self.law.display or self.law.formula}: {Status(self.status).name} "
                f"({self.n_at_best}/{self.n_starts} starts reached the best cost "
                f"{2 * self.cost:.6g}; {self.n_points} points, {self._objective()})")
        rows = [head]
        if self.recipe:
            rows.append(f"  recipe: {self.recipe}")
        for k, v in self.params.items():
            se = self.stderr[k]
            err = f" ± {se:.3g}" if np.isfinite(se) else ""
            rows.append(f"  {k:>12} = {v:.6g}{err}" + ("  (fixed)" if k in self.fixed else ""))
        if self.law.natural and set(self.law.natural) != set(self.law.params):
            values, errors = self.natural()
            for k, v in values.items():
                if k not in self.law.params:
                    se = errors[k]
                    err = f" ± {se:.3g}" if np.isfinite(se) else ""
                    rows.append(f"  {k:>12} = {v:.6g}{err}  (natural)")
        if self.loss != "l2":
            rows.append("  (robust loss: standard errors from the bootstrap or lawfit.uncertainty)")
        if not self.converged:
            from .. import status_message  # the package's public name (lawfit imports this module)

            rows.append("  " + status_message(self.status))
        return "\n".join(rows)

    __repr__ = __str__

    def _objective(self) -> str:
        scale = "" if self.loss == "l2" else f" (delta={self.delta:g})"
        return f"{self.loss}{scale} on {self.residual} residuals"

