"""`Law`: a scaling law as data — formula, inputs, parameters, bounds, starts, derived
quantities, reparameterisation, preferred loss, and the paper it comes from.

Formulas are parsed by :func:`lawfit.formula.parse` and compiled with
:func:`lawfit.formula.compile_law`; nothing is ``eval``-ed.  Derived quantities
and the mapping to natural parameters are formulas too, evaluated with
:meth:`lawfit.Program.evaluate`, whose exact gradients give delta-method
standard errors.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np

from ..status import Status, is_converged, warn_failures
from ..engine.checks import float_array, law_reasons
from ..engine.data import Data
from ..engine.options import LOSSES, RESIDUALS, Options
from ..formula import Expr, Sym, compile_law, parse
from ..tracing import TraceError, trace_function
from ._display import describe_law
from ._grid import cartesian_grid, covariance, solve_starts
from .recipe import Recipe, resolve
from .result import LawFit

__all__ = ["Citation", "Law", "LawFit"]




# The catalog defines ~50 laws when it is first imported (a process's first lawfit.fit); compiling
# every formula then cost 0.15-0.3 s.  Its entries compile on first use instead: tests/catalog
# compiles each of them (programs, derived and natural quantities), so a broken entry still fails CI.
# A context variable: a Law built meanwhile on another thread is still checked in full.
_deferring = contextvars.ContextVar("lawfit_deferred_compile", default=False)


@contextlib.contextmanager
def deferred_compile():
    """Laws constructed inside compile their formulas on first use instead of at construction."""
    token = _deferring.set(True)
    try:
        yield
    finally:
        _deferring.reset(token)

@dataclass(frozen=True)
class Citation:
    """Where a law comes from: paper, arXiv id, and the equation it implements.

    Examples
    --------
    >>> c = Citation("Hoffmann, Borgeaud, Mensch, et al.", 2022,
    ...              "Training Compute-Optimal Large Language Models", "2203.15556", "eq. 2")
    >>> c.short()
    'Hoffmann et al. 2022, eq. 2'
    """

    authors: str
    year: int
    title: str
    arxiv: str
    equation: str
    venue: str = ""
    #: Where the citation, equation and constants were checked (paper section, authors' code).
    checked: str = ""
    #: Other titles of the same arXiv paper (earlier versions), found by ``laws.search``.
    aliases: tuple = ()

    def short(self) -> str:
        """``Author``, ``A and B`` or ``First et al.``, then the year and the equation."""
        names = [n.strip() for n in self.authors.replace(" and ", ",").split(",") if n.strip()]
        who = names[0] if len(names) == 1 else (" and ".join(names) if len(names) == 2
                                                 else f"{names[0]} et al.")
        return f"{who} {self.year}, {self.equation}"

    def __str__(self) -> str:
        venue = f" {self.venue}." if self.venue else ""
        also = "".join(f" (earlier title: {a}.)" for a in self.aliases)
        return (f"{self.authors} ({self.year}). {self.title}.{venue}{also} "
                f"arXiv:{self.arxiv}, {self.equation}")


def _names_and_help(spec, what: str) -> dict:
    """A list of names or a {name: description} mapping, as an ordered dict."""
    if spec is None:
        return {}
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, Mapping):
        return {str(k): str(v) for k, v in spec.items()}
    names = [str(n) for n in spec]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate {what} names: {names}")
    return dict.fromkeys(names, "")


def _substitute(e: Expr, mapping: Mapping[str, Expr]) -> Expr:
    """``e`` with the symbols named in ``mapping`` replaced by expression trees."""
    if isinstance(e, Sym):
        return mapping.get(e.name, e)
    if not e.children:
        return e
    return e.with_children([_substitute(c, mapping) for c in e.children])


def _as_input_dict(x, names: Sequence[str]) -> dict:
    """Inputs as {name: 1-D float array}: from a mapping, a DataFrame, or an array in ``names`` order."""
    if x is None:
        return {}
    if hasattr(x, "columns") and hasattr(x, "__getitem__") and not isinstance(x, Mapping):
        x = {c: np.asarray(x[c]) for c in x.columns if c in names}
    if isinstance(x, Mapping):
        return {k: np.asarray(v, dtype=float).ravel() for k, v in x.items()}
    a = np.asarray(x, dtype=float)
    if a.ndim <= 1 and len(names) == 1:
        return {names[0]: a.ravel()}
    if a.ndim == 2 and a.shape[0] == len(names):
        return dict(zip(names, a))
    raise ValueError(f"inputs must be a mapping or an array of shape ({len(names)}, M) "
                     f"in the order {list(names)}, got shape {a.shape}")


class Law:
    """A scaling law: formula, inputs, parameters, bounds, start grid and provenance.

    Parameters
    ----------
    formula : str or callable
        A formula such as ``"E + A/N**alpha + B/D**beta"``, or a model
        ``f(x, *params)`` written with numpy operations (traced into the same
        program; ``x`` is the single input, or ``x[i]`` the i-th of ``inputs``).
    inputs : list of str or dict
        Input names in data order, or ``{name: "meaning (units)"}``.  Required
        for a formula string; a traced function defaults to ``["x"]``.
    params : list of str or dict, optional
        Parameter names in fitting order (or ``{name: meaning}``).  Default:
        the formula's other symbols in order of appearance.
    name : str, optional
    output : str, optional
        What the law predicts, e.g. ``"loss (nats/token)"``.
    bounds : dict, optional
        ``{param: (lower, upper)}``; use ``np.inf`` for an open side.
    starts : dict or callable, optional
        Default start grid ``{param: [values]}`` (the Cartesian product is
        fitted), or ``starts(x, y)`` for starts that depend on the data (``x``
        is ``{input: array}``), returning such a grid or a list of start points
        as dicts.  Parameters not listed start at one value.
    fixed : dict, optional
        ``{param: value}`` held during fits.
    derived : dict, optional
        ``{name: formula}`` of parameters, inputs and earlier derived names,
        e.g. ``{"a": "beta/(alpha + beta)"}``.
    natural : dict, optional
        For a reparameterised law, ``{natural_name: formula of the fitted
        parameters}`` (e.g. ``{"E": "exp(e)"}``); see :meth:`to_natural`.
    loss, loss_delta, residual : optional
        How the source paper fits the law: loss in ``"l2", "huber", "soft_l1",
        "cauchy", "arctan"``, its scale (scipy's ``f_scale``), and the residual
        space (``"linear"`` or ``"log"``: log f - log y).  :meth:`fit` uses them
        unless told otherwise.
    citation : Citation, optional
    notes : str, optional
        Ambiguities, conventions, departures from the paper.
    reference : dict, optional
        Values the paper reports, for display and comparison.
    references : dict of dict, optional
        Further published parameter sets, ``{label: {param: value}}`` (e.g.
        Chinchilla's unrounded fit next to the rounded one in ``reference``).
    shared : sequence of str, optional
        Parameters a joint fit across groups shares by default.
    recipe : Recipe, optional
        How the source paper fitted the law (:class:`lawfit.catalog.Recipe`);
        ``fit(..., recipe="published")`` applies it.
    display : str, optional
        The law in readable form, shown instead of a long generated formula
        (e.g. an implicit law solved inside the program).

    Examples
    --------
    >>> import numpy as np
    >>> law = Law("a*x**-b + c", inputs=["x"], bounds={"b": (0, 5)},
    ...           starts={"a": [1, 10], "b": [0.2, 0.5, 1.0], "c": [0, 1]})
    >>> x = np.geomspace(1, 1e4, 40)
    >>> fit = law.fit(x, 3 * x**-0.5 + 1)
    >>> {k: round(v, 6) for k, v in fit.params.items()}
    {'a': 3.0, 'b': 0.5, 'c': 1.0}
    """

    def __init__(self, formula: Union[str, Callable], inputs=None, *, params=None, name: str = "",
                 output: str = "", bounds: Optional[Mapping] = None, starts=None,
                 fixed: Optional[Mapping] = None, derived: Optional[Mapping[str, str]] = None,
                 natural: Optional[Mapping[str, str]] = None, loss: str = "l2",
                 loss_delta: Optional[float] = None, residual: str = "linear",
                 citation: Optional[Citation] = None, notes: str = "",
                 reference: Optional[Mapping[str, float]] = None,
                 shared: Sequence[str] = (), recipe: Optional[Recipe] = None,
                 references: Optional[Mapping[str, Mapping[str, float]]] = None, display: str = ""):
        if callable(formula) and not isinstance(formula, str):
            formula, inputs, traced_params = _trace_formula(formula, inputs)
            params = params if params is not None else traced_params
        elif not isinstance(formula, str):
            raise TypeError(f"formula must be a string or a function, not {type(formula).__name__}")
        elif inputs is None:
            raise ValueError("a formula string needs its input names: inputs=[...]")
        self.name = name
        self.formula = formula
        self.inputs = _names_and_help(inputs, "input")
        if params is None:
            params = [s for s in parse(formula).symbols if s not in self.inputs and s != "pi"]
        self.param_help = _names_and_help(params, "parameter")
        self.output = output
        self.bounds = {k: (float(lo), float(hi)) for k, (lo, hi) in dict(bounds or {}).items()}
        self.starts = starts if callable(starts) else {k: list(v) for k, v in dict(starts or {}).items()}
        self.fixed = {k: float(v) for k, v in dict(fixed or {}).items()}
        self.derived = dict(derived or {})
        self.natural = dict(natural or {})
        self.loss = loss
        self.loss_delta = loss_delta
        self.residual = residual
        self.citation = citation
        self.notes = notes
        self.reference = dict(reference or {})
        self.references = {str(k): dict(v) for k, v in dict(references or {}).items()}
        self.shared = tuple(shared)
        if recipe is not None and not isinstance(recipe, Recipe):
            raise TypeError(f"recipe must be a lawfit Recipe, not {type(recipe).__name__}")
        self.recipe = recipe
        self.display = str(display)
        self._validate(compile_now=not _deferring.get())

    # ------------------------------------------------------------------ basics
    @property
    def params(self) -> tuple[str, ...]:
        """Parameter names in fitting order."""
        return tuple(self.param_help)

    @property
    def input_names(self) -> tuple[str, ...]:
        """Input names in data order."""
        return tuple(self.inputs)

    @cached_property
    def program(self):
        """The compiled law program."""
        return compile_law(self.formula, list(self.inputs), list(self.params))

    def replace(self, **changes) -> "Law":
        """A copy with some constructor arguments changed, e.g. ``law.replace(fixed={"E": 1.69})``."""
        spec = {k: getattr(self, k) for k in ("name", "output", "bounds", "starts", "fixed", "derived",
                                               "natural", "loss", "loss_delta", "residual",
                                               "citation", "notes", "reference", "shared", "recipe",
                                               "references", "display")}
        spec.update(params=dict(self.param_help), inputs=dict(self.inputs))
        spec.update(changes)
        formula = spec.pop("formula", self.formula)
        inputs = spec.pop("inputs")
        return Law(formula, inputs, **spec)

    def _validate(self, compile_now: bool = True) -> None:
        """Checks the definition; ``compile_now`` also compiles the formula and the derived and
        natural quantities (unknown symbols, parameter count, stack depth), which the catalog's own
        entries leave to their first use (:func:`deferred_compile`; tests compile every one)."""
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.residual not in RESIDUALS:
            raise ValueError(f"residual must be one of {RESIDUALS}, got {self.residual!r}")
        overlap = set(self.inputs) & set(self.params)
        if overlap:
            raise ValueError(f"names used both as input and parameter: {sorted(overlap)}")
        if compile_now:
            _ = self.program  # compiling checks unknown symbols, the parameter count, stack depth
        for what, spec in (("bounds", self.bounds), ("fixed", self.fixed),
                           ("starts", {} if callable(self.starts) else self.starts)):
            unknown = set(spec) - set(self.params)
            if unknown:
                raise ValueError(f"{what} name unknown parameter(s) {sorted(unknown)}; "
                                 f"the parameters are {list(self.params)}")
        for k, (lo, hi) in self.bounds.items():
            if not lo < hi:
                raise ValueError(f"bounds of {k!r}: lower {lo} must be below upper {hi}")
        for k, v in self.fixed.items():
            lo, hi = self.bounds.get(k, (-np.inf, np.inf))
            if not lo <= v <= hi:
                raise ValueError(f"fixed value {k}={v} lies outside its bounds ({lo}, {hi})")
        unknown = set(self.shared) - set(self.params)
        if unknown:
            raise ValueError(f"shared names unknown parameter(s) {sorted(unknown)}")
        if compile_now:
            _ = self._derived_programs, self._natural_programs  # compile them now: errors at definition
        if self.recipe is not None:
            r = self.recipe
            if r.loss not in LOSSES or r.residual not in RESIDUALS:
                raise ValueError(f"recipe: unknown loss {r.loss!r} or residual space {r.residual!r}")
            grid = r.starts if isinstance(r.starts, Mapping) else {}
            unknown = (set(grid) | set(r.bounds)) - set(self.params)
            if unknown:
                raise ValueError(f"recipe names unknown parameter(s) {sorted(unknown)}")

    # ------------------------------------------------------------------ parameters
    def _vector(self, params) -> np.ndarray:
        """Parameters as a float vector in fitting order (from a mapping or a sequence)."""
        if isinstance(params, Mapping):
            missing = [p for p in self.params if p not in params and p not in self.fixed]
            if missing:
                raise ValueError(f"missing parameter(s) {missing}")
            return np.array([params.get(p, self.fixed.get(p, np.nan)) for p in self.params], float)
        v = np.asarray(params, dtype=float).ravel()
        if v.size != len(self.params):
            raise ValueError(f"expected {len(self.params)} parameters {list(self.params)}, got {v.size}")
        return v

    def _bound_arrays(self, bounds: Optional[Mapping] = None) -> tuple[np.ndarray, np.ndarray]:
        merged = {**self.bounds, **dict(bounds or {})}
        lower = np.array([merged.get(p, (-np.inf, np.inf))[0] for p in self.params], float)
        upper = np.array([merged.get(p, (-np.inf, np.inf))[1] for p in self.params], float)
        return lower, upper

    def start_grid(self, x=None, y=None, *, starts=None, fixed: Optional[Mapping] = None,
                   bounds: Optional[Mapping] = None) -> np.ndarray:
        """Start points (S, P): the Cartesian product of the start grid, inside the bounds.

        Parameters not in the grid start at one value (scipy's default: 1,
        moved inside one- or two-sided bounds); fixed parameters take their
        fixed value.  ``starts`` may override the grid: a dict, a callable
        ``(x, y) -> dict``, or an array of start points (S, P).

        Examples
        --------
        >>> law = Law("a*x**-b + c", inputs=["x"], starts={"a": [1, 10], "b": [0.5]})
        >>> law.start_grid()
        array([[ 1. ,  0.5,  1. ],
               [10. ,  0.5,  1. ]])
        """
        fixed = {**self.fixed, **dict(fixed or {})}
        lower, upper = self._bound_arrays(bounds)
        base = _default_start(lower, upper)
        grid = self.starts if starts is None else starts
        if callable(grid):
            if x is None or y is None:
                raise ValueError(f"the start grid of {self.name or 'this law'} depends on the data; "
                                 "pass x and y")
            grid = grid(_as_input_dict(x, self.input_names), np.asarray(y, float))
        if isinstance(grid, Mapping):
            grid = {k: v for k, v in grid.items() if k not in fixed}
            points = cartesian_grid(grid, self.params, base)
        elif len(grid) and isinstance(grid[0], Mapping):  # a list of start points as dicts
            points = np.array([[row.get(p, b) for p, b in zip(self.params, base)] for row in grid], float)
        else:
            points = np.atleast_2d(np.asarray(grid, dtype=float))
            if points.shape[1] != len(self.params):
                raise ValueError(f"start points must have {len(self.params)} columns, got {points.shape}")
        for k, v in fixed.items():
            points[:, self.params.index(k)] = v
        points = np.clip(points, lower, upper)
        return np.unique(points, axis=0) if len(points) > 1 else points

    def options(self, *, loss: Optional[str] = None, delta: Optional[float] = None,
                residual: Optional[str] = None, **solver) -> Options:
        """The engine's :class:`~lawfit.engine.options.Options` for this law: its recipe
        (loss, scale, residual space), overridden where given, plus any solver options."""
        base = Options(loss=self.loss if loss is None else loss,
                       delta=(Options.delta if self.loss_delta is None else self.loss_delta) if delta is None
                       else float(delta),
                       residual=self.residual if residual is None else residual)
        return base.replace(**solver)

    def start_axes(self, *, starts=None, fixed: Optional[Mapping] = None,
                   bounds: Optional[Mapping] = None) -> Optional[list]:
        """The start grid as one axis per parameter (clipped into the bounds), or None.

        None when the starts are not a Cartesian grid known without the data
        (a callable grid, a list or array of points).  The engine sends axes
        to the core, which makes the grid's points where the problems run;
        the points are those of :meth:`start_grid` (before its de-duplication).
        """
        grid = self.starts if starts is None else starts
        if not isinstance(grid, Mapping):
            return None
        fixed = {**self.fixed, **dict(fixed or {})}
        lower, upper = self._bound_arrays(bounds)
        base = _default_start(lower, upper)
        axes = []
        for j, p in enumerate(self.params):
            values = [fixed[p]] if p in fixed else grid.get(p, [base[j]])
            a = np.unique(np.clip(np.atleast_1d(np.asarray(values, dtype=float)).ravel(), lower[j], upper[j]))
            axes.append(a)
        return axes

    # ------------------------------------------------------------------ evaluation
    def predict(self, params, x=None, **inputs) -> np.ndarray:
        """The law's value at ``params`` (mapping or vector) for inputs given as ``x`` or keywords.

        Examples
        --------
        >>> law = Law("a*x**-b + c", inputs=["x"])
        >>> law.predict({"a": 2, "b": 1, "c": 0.5}, x=[1.0, 4.0])
        array([2.5, 1. ])
        """
        names = self.input_names
        if (x is not None and "x" in names and len(names) > 1 and np.ndim(x) == 1
                and not isinstance(x, Mapping)):
            inputs = {"x": x, **inputs}  # the input named x, given as a keyword
            x = None
        x = {**_as_input_dict(x, names), **{k: np.asarray(v, float).ravel() for k, v in inputs.items()}}
        return self.program.evaluate(self._vector(params), x)[0]

    @cached_property
    def _derived_programs(self) -> dict:
        """{name: (program, its inputs)} with earlier derived names substituted in."""
        trees: dict[str, Expr] = {}
        programs = {}
        for name, text in self.derived.items():
            if name in self.params or name in self.inputs:
                raise ValueError(f"derived quantity {name!r} shadows a parameter or input")
            tree = _substitute(parse(text), trees)
            trees[name] = tree
            ins = [s for s in tree.symbols if s not in self.params and s != "pi"]
            programs[name] = (compile_law(tree, ins, list(self.params)), ins)
        return programs

    @cached_property
    def _natural_programs(self) -> dict:
        out = {}
        for name, text in self.natural.items():
            tree = parse(text)
            stray = [s for s in tree.symbols if s not in self.params and s != "pi"]
            if stray:
                raise ValueError(f"natural parameter {name!r} uses non-parameters {stray}")
            out[name] = compile_law(tree, [], list(self.params))
        return out

    def _evaluate_many(self, programs: Mapping, params, pcov, inputs) -> tuple[dict, dict]:
        p = self._vector(params)
        values, errors = {}, {}
        for name, entry in programs.items():
            program, ins = entry if isinstance(entry, tuple) else (entry, [])
            missing = [i for i in ins if i not in inputs]
            if missing:
                raise ValueError(f"{name} needs input(s) {missing}")
            if ins:
                cols = program.input_matrix({i: inputs[i] for i in ins})
            else:
                cols = np.empty((program.n_columns, 1))
            value, grad = program.evaluate_columns(p, cols)
            values[name] = value if ins else float(value[0])
            if pcov is not None:
                var = np.einsum("ni,ij,nj->n", grad, np.asarray(pcov, float), grad)
                se = np.sqrt(np.clip(var, 0.0, None))
                errors[name] = se if ins else float(se[0])
        return values, errors

    def derive(self, params, pcov=None, **inputs):
        """Derived quantities at ``params``; with ``pcov`` also their delta-method standard errors.

        Quantities that need inputs (e.g. ``N_opt`` needs compute ``C``) are
        evaluated only when those inputs are given.  Returns ``{name: value}``,
        or ``({name: value}, {name: stderr})`` when ``pcov`` is given.

        Examples
        --------
        >>> from lawfit.catalog import laws
        >>> p = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}
        >>> d = laws["chinchilla"].derive(p, C=1e24)
        >>> round(d["a"], 3), f"{d['N_opt'][0]:.3g}"
        (0.452, '4.13e+10')
        """
        inputs = {k: np.asarray(v, float).ravel() for k, v in inputs.items()}
        have = {k: v for k, v in self._derived_programs.items() if set(v[1]) <= set(inputs)}
        values, errors = self._evaluate_many(have, params, pcov, inputs)
        return values if pcov is None else (values, errors)

    def to_natural(self, params, pcov=None):
        """Natural parameters of a reparameterised law (identity for the others).

        With ``pcov`` also returns the natural parameters' covariance
        ``J pcov J^T`` (J: exact gradients of the mapping).

        Examples
        --------
        >>> from lawfit.catalog import laws
        >>> law = laws["chinchilla_lse"]
        >>> nat = law.to_natural({"e": 0.0, "a": 6.0, "alpha": 0.34, "b": 6.0, "beta": 0.28})
        >>> round(nat["A"], 2), nat["E"]
        (403.43, 1.0)
        """
        p = self._vector(params)
        if not self.natural:
            values = dict(zip(self.params, p.tolist()))
            return values if pcov is None else (values, np.asarray(pcov, float))
        values, jac = {}, []
        for name, program in self._natural_programs.items():
            value, grad = program.evaluate_columns(p, np.empty((program.n_columns, 1)))
            values[name] = float(value[0])
            jac.append(grad[0])
        if pcov is None:
            return values
        J = np.array(jac)
        return values, J @ np.asarray(pcov, float) @ J.T

    # ------------------------------------------------------------------ fitting
    def fit(self, x, y, *, sigma=None, starts=None, fixed: Optional[Mapping] = None,
            bounds: Optional[Mapping] = None, loss: Optional[str] = None,
            delta: Optional[float] = None, residual: Optional[str] = None,
            absolute_sigma: bool = False, max_nfev: int = Options.max_nfev, n_threads=None,
            prune="auto", recipe="auto") -> LawFit:
        """Fit the law to one data set from every start of its grid, in one batch.

        Parameters
        ----------
        x : mapping, DataFrame or array
            Inputs: ``{name: values}``, or an array (n_inputs, M) in input order.
        y : array_like
            Observed values (M,).
        sigma : array_like, optional
            Standard deviations of y (in the residual space's units for
            ``residual="log"``, i.e. relative errors).
        starts : dict, callable or array, optional
            Overrides the law's start grid (see :meth:`start_grid`).
        fixed, bounds : dict, optional
            Added to (and overriding) the law's own.
        loss, delta, residual : optional
            Loss, its scale and the residual space (``"log"`` fits ``log f``
            to ``log y``); default the law's (``delta`` 1 when the law gives
            none).  ``loss="l2"`` gives curve_fit's least squares.
        absolute_sigma, max_nfev, n_threads
            As in :func:`lawfit.curve_fit`.
        prune : "auto", int or None
            As in :func:`lawfit.fit_multistart`: ``"auto"`` (default) runs LM from
            the 16 best starts of a grid of more than 64 when there are more
            than 100 points; None runs every start.
        recipe : "auto", "published", "none" or Recipe
            The source paper's fitting recipe (:func:`lawfit.catalog.recipe.resolve`):
            ``"published"`` applies it; ``"auto"`` completes a call that names
            its loss without a delta; the result's ``recipe`` says what was used.

        Returns
        -------
        LawFit
            Best start's parameters, covariance, status and how many starts
            reached it.  A failed fit is reported in ``status`` (with a
            ``LawfitWarning``), not raised.

        Notes
        -----
        The covariance is curve_fit's for ``loss="l2"``.  For a robust loss it
        is NaN: use the bootstrap or the sandwich estimator of
        :mod:`lawfit.uncertainty` instead.
        """
        chosen = resolve(self, recipe, loss=loss, delta=delta, residual=residual, starts=starts, bounds=bounds)
        starts, bounds = chosen.starts, chosen.bounds
        if chosen.fixed:
            fixed = {**chosen.fixed, **dict(fixed or {})}
        opts = self.options(loss=chosen.loss, delta=chosen.delta, residual=chosen.residual)
        loss, delta, residual = opts.loss, opts.delta, opts.residual
        inputs = _as_input_dict(x, self.input_names)
        y = float_array(y, "y").ravel()
        program = self.program
        columns = program.input_matrix(inputs)
        if columns.shape[1] != y.size:
            raise ValueError(f"x has {columns.shape[1]} points but y has {y.size}")
        weight = None if sigma is None else 1.0 / np.broadcast_to(np.asarray(sigma, float), y.shape) ** 2
        if residual == "log" and np.any(y <= 0):
            raise ValueError("residual='log' needs positive y")
        fixed_all = {**self.fixed, **dict(fixed or {})}
        unknown = set(fixed_all) - set(self.params)
        if unknown:
            raise ValueError(f"fixed names unknown parameter(s) {sorted(unknown)}")
        mask = np.array([p in fixed_all for p in self.params], dtype=np.uint8)
        lower, upper = self._bound_arrays(bounds)
        points = self.start_grid(inputs, y, starts=starts, fixed=fixed_all, bounds=bounds)
        res = solve_starts(program, columns, y, np.array([0, y.size]), points, weight=weight,
                           lower=lower, upper=upper, fixed=mask, loss=loss, delta=delta,
                           residual=residual, max_nfev=max_nfev, n_threads=n_threads, prune=prune)
        if loss == "l2":
            pcov = covariance(res.jtj, res.cost, np.array([y.size]), mask == 0, absolute_sigma)[0]
        else:
            pcov = np.full((len(self.params), len(self.params)), np.nan)
        if not is_converged(res.status).all():  # the warning says why (e.g. the first missing value)
            why = law_reasons(Data(program, columns, y, np.array([0, y.size]), weight), res.status,
                              int((mask == 0).sum()), residual)
            warn_failures(res.status, detail=why[0])
        return LawFit(law=self, popt=res.params[0], pcov=pcov, status=Status(int(res.status[0])),
                      cost=float(res.cost[0]), n_points=int(y.size), residual=residual,
                      loss=loss, delta=delta,
                      fixed=tuple(p for p, m in zip(self.params, mask) if m),
                      n_starts=res.n_starts, n_converged=int(res.n_converged[0]),
                      n_at_best=int(res.n_at_best[0]), recipe=chosen.applied)

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        label = f"{self.name!r}: " if self.name else ""
        return f"Law({label}{self.display or self.formula}, inputs={list(self.inputs)})"

    def __str__(self) -> str:
        return describe_law(self)


def _default_start(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """scipy's default start, 1, moved inside one- or two-sided bounds."""
    p0 = np.ones_like(lower)
    lo, hi = np.isfinite(lower), np.isfinite(upper)
    both = lo & hi
    p0[both] = 0.5 * (lower[both] + upper[both])
    p0[lo & ~hi] = np.maximum(lower[lo & ~hi] + 1, 1.0)
    p0[~lo & hi] = np.minimum(upper[~lo & hi] - 1, 1.0)
    return p0


def _trace_formula(func: Callable, inputs) -> tuple[str, dict, list]:
    """A traced model as (formula text, {input: help}, parameter names)."""
    names = _names_and_help(inputs if inputs is not None else ["x"], "input")
    try:
        program = trace_function(func, x_ndim=1 if len(names) == 1 else 2,
                        n_inputs=None if len(names) == 1 else len(names))
    except TraceError as exc:
        raise ValueError(f"the function cannot be turned into a law ({exc}); "
                         "write it as a formula string instead") from exc
    rename = {old: Sym(new) for old, new in zip(program.input_names, names)}
    tree = _substitute(parse(program.formula), rename)
    return tree.to_formula(), names, list(program.param_names)
