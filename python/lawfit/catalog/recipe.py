"""How a paper fitted its law: the published recipe, and how a fit call picks its settings.

A catalog law carries two sets of fitting choices:

* its **defaults** (``Law.loss``, ``loss_delta``, ``residual``, ``starts``): what
  ``lawfit.fit(df, name)`` uses when told nothing;
* its **published recipe** (:class:`Recipe`): how the source paper (or its
  authors' code) fitted it -- loss, its scale, residual space, start grid,
  bounds, the parameterisation and optimiser it used, and where that is
  written down.

For most entries the two agree.  Where they differ (Chinchilla's natural form
defaults to least squares, its paper fits a Huber loss on log residuals) the
recipe is applied by ``recipe="published"``, and completes a call that names
the paper's loss without its scale: ``lawfit.fit(df, "chinchilla",
loss="huber")`` takes delta, residual space and start grid from the recipe.
:func:`resolve` states the rule once; every entry point calls it and reports
what it used (``FitResult.settings["recipe"]``, printed with ``progress``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Any, Mapping, Optional, Union

__all__ = ["Recipe", "Resolved", "resolve", "RECIPE_MODES"]

#: Values of the ``recipe`` argument besides a :class:`Recipe`.
RECIPE_MODES = ("auto", "published", "none")


@dataclass(frozen=True)
class Recipe:
    """How a paper fitted its law.

    Attributes
    ----------
    loss, delta, residual
        The objective: loss name (``"l2"``, ``"huber"``, ...), its scale
        (None: the loss needs none), residual space (``"linear"``/``"log"``).
    starts : mapping, callable or None
        The start grid (``{param: values}``, or ``f(x, y)`` returning one);
        None: the law's own grid.
    bounds : mapping
        ``{param: (lower, upper)}`` the paper imposes (added to the law's).
    fixed : mapping
        ``{param: value}`` the paper holds fixed (e.g. a second-stage fit that
        keeps a first stage's estimates); applied by ``recipe="published"`` only.
    parameterisation : str
        How the paper writes the parameters when it fits (e.g. Chinchilla's
        log-sum-exp form, a = log A); lawfit reports the law's own parameters.
    method : str
        The paper's optimiser (lawfit always runs its Levenberg-Marquardt from
        every start and keeps the best; the objective is the paper's).
    source : str
        Where the recipe is written down (section, appendix or code file).

    Examples
    --------
    >>> r = Recipe("huber", 1e-3, "log", source="Hoffmann et al. 2022, App. D.2")
    >>> r.objective()
    'huber (delta=0.001) on log residuals'
    """

    loss: str = "l2"
    delta: Optional[float] = None
    residual: str = "linear"
    starts: Any = None
    bounds: Mapping = field(default_factory=dict)
    fixed: Mapping = field(default_factory=dict)
    parameterisation: str = ""
    method: str = ""
    source: str = ""

    def objective(self) -> str:
        """The loss, its scale and the residual space, in words."""
        scale = "" if self.delta is None else f" (delta={self.delta:g})"
        return f"{self.loss}{scale} on {self.residual} residuals"

    def describe(self) -> str:
        """Every choice of the recipe in one paragraph (``print(law)`` shows it)."""
        parts = [self.objective()]
        if isinstance(self.starts, Mapping):
            parts.append(f"{_grid_size(self.starts):,}-point start grid")
        elif callable(self.starts):
            parts.append("start grid from the data")
        if self.bounds:
            parts.append("bounds " + ", ".join(f"{k} in [{lo:g}, {hi:g}]" for k, (lo, hi) in self.bounds.items()))
        if self.fixed:
            parts.append("fixed " + ", ".join(f"{k} = {v:g}" for k, v in self.fixed.items()))
        if self.parameterisation:
            parts.append(f"parameterisation: {self.parameterisation}")
        if self.method:
            parts.append(f"paper's optimiser: {self.method}")
        if self.source:
            parts.append(f"source: {self.source}")
        return "; ".join(parts)


def _grid_size(grid: Mapping) -> int:
    return prod(len(list(v)) for v in grid.values()) if grid else 1


@dataclass(frozen=True)
class Resolved:
    """The settings a fit runs with, and which of them came from a recipe.

    ``applied`` is empty when no recipe was used, else a sentence naming the
    recipe's source and the choices taken from it (what ``lawfit.fit``
    prints and stores in ``settings["recipe"]``).
    """

    loss: Optional[str]
    delta: Optional[float]
    residual: Optional[str]
    starts: Any
    bounds: Optional[dict]
    applied: str = ""
    fixed: Optional[dict] = None


def _norm_loss(loss) -> Optional[str]:
    if loss is None:
        return None
    return "l2" if loss in ("linear", "l2") else str(loss)


def resolve(law, recipe: Union[str, Recipe, None] = "auto", *, loss=None, delta=None, residual=None,
            starts=None, bounds=None) -> Resolved:
    """The loss, scale, residual space, starts and bounds of one fit of ``law``.

    Parameters
    ----------
    law : Law
    recipe : "auto" (or None), "published", "none", or a :class:`Recipe`
        ``"published"`` (or a Recipe): the recipe's choices wherever the call
        gives none (loss, delta, residual space, starts, bounds, fixed
        values).  ``"auto"`` (default): the law's defaults, except that a
        call naming the recipe's loss but no ``delta`` is completed from the
        recipe (its delta, and its residual space and starts where the call
        gives none; not its bounds or fixed values).  ``"none"``: the law's
        defaults only.
    loss, delta, residual, starts, bounds
        What the call gave (None: not given).  They always win; fixed values
        given to the fit are merged over the recipe's by the caller.

    Returns
    -------
    Resolved
        None fields mean "the law's default" (``Law.options`` fills them).

    Examples
    --------
    >>> from lawfit.catalog import laws
    >>> r = resolve(laws["chinchilla"], loss="huber")
    >>> r.loss, r.delta, r.residual
    ('huber', 0.001, 'log')
    >>> resolve(laws["chinchilla"]).applied
    ''
    """
    if recipe is None:
        recipe = "auto"
    if isinstance(recipe, str):
        if recipe not in RECIPE_MODES:
            raise ValueError(f"recipe must be one of {RECIPE_MODES} or a lawfit Recipe, got {recipe!r}")
        mode, rec = recipe, getattr(law, "recipe", None)
        if mode == "published" and rec is None:
            raise ValueError(f"law {law.name or law.formula!r} has no published recipe; "
                             "pass loss=, delta=, residual= yourself")
    elif isinstance(recipe, Recipe):
        mode, rec = "published", recipe
    else:
        raise TypeError(f"recipe must be a string or a lawfit Recipe, not {type(recipe).__name__}")
    loss = _norm_loss(loss)
    given = Resolved(loss, None if delta is None else float(delta), residual, starts,
                     None if bounds is None else dict(bounds))
    if mode == "none" or rec is None:
        return given
    if mode == "auto":
        complete = loss is not None and loss == rec.loss and delta is None and loss != "l2"
        if not complete:
            same = (loss is None and delta is None and residual is None and starts is None
                    and (law.loss, law.loss_delta, law.residual) == (rec.loss, rec.delta, rec.residual)
                    and (rec.starts is None or _same_grid(rec.starts, law.starts)))
            if same:
                return Resolved(loss, delta, residual, starts, given.bounds, _sentence(law, rec, None))
            return given
    taken = []
    out_loss = loss if loss is not None else rec.loss
    if loss is None:
        taken.append("loss")
    out_delta = given.delta
    if out_delta is None and out_loss == rec.loss and rec.delta is not None:
        out_delta = rec.delta
        taken.append("delta")
    out_residual = residual
    if residual is None:
        out_residual = rec.residual
        taken.append("residual space")
    out_starts = starts
    if starts is None and rec.starts is not None:
        out_starts = rec.starts
        taken.append("start grid")
    out_bounds, out_fixed = given.bounds, None
    if mode == "published":
        if rec.bounds:
            out_bounds = {**dict(rec.bounds), **(given.bounds or {})}
            taken.append("bounds")
        if rec.fixed:
            out_fixed = dict(rec.fixed)
            taken.append("fixed values")
    return Resolved(out_loss, out_delta, out_residual, out_starts, out_bounds, _sentence(law, rec, taken),
                    out_fixed)


def _same_grid(a, b) -> bool:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return {k: [float(x) for x in v] for k, v in a.items()} == {k: [float(x) for x in v] for k, v in b.items()}
    return a is b


def _sentence(law, rec: Recipe, taken) -> str:
    src = f" ({rec.source})" if rec.source else ""
    which = ("[the law's default]" if taken is None
             else f"[from the recipe: {', '.join(taken) if taken else 'nothing'}]")
    return f"{law.name or 'law'}: published recipe{src}: {rec.objective()}{_starts_words(rec)} {which}"


def _starts_words(rec: Recipe) -> str:
    if isinstance(rec.starts, Mapping):
        return f", {_grid_size(rec.starts):,}-point start grid"
    if callable(rec.starts):
        return ", start grid from the data"
    return ""
