"""Python model functions turned into law programs.

:func:`trace` runs a model ``f(x, *params)`` once on stand-ins for ``x`` and
the parameters that record every numpy operation applied to them; the record
is compiled by :func:`lawfit.formula.compile_law` into the same program a
formula string gives, with exact derivatives.  What can be traced is any model
without data-dependent control flow:

* the inputs as a 1-D array, the rows of a ``(k, M)`` array or tuple (``N, D =
  X``, ``f(*X)``, ``X[0]``, ``X[0, :]``, ``X[-1]``), the columns of an
  ``(M, k)`` array (``X[:, 0]``), or the values of a dict (``X["N"]``);
* arithmetic, numpy's elementwise functions (``np.power``, ``np.float_power``,
  ``np.exp``, ``np.logaddexp``, ...), ``np.asarray``/``np.array`` of a traced
  value, ``np.where`` and comparisons whose condition depends on the inputs
  only, helper functions, closures, ``functools.partial``, numpy scalars.

Where a model cannot be traced, :func:`trace` raises :class:`TraceError` with
the reason (``lawfit.curve_fit`` then calls the function from Python and puts
the reason in ``infodict["why"]``).

Traced programs are cached per model: the code object, the values of its
closure cells, defaults and the globals it reads (recursively through helper
functions), a bound method's instance and a partial's arguments, and the
layout of ``xdata`` (not its values).  A second call of the same model pays
only for the key (a few microseconds).  A model whose result depends on state
the key cannot see (an object's attribute reached through a global, say)
keeps its first program: call :func:`clear_trace_cache` after changing it.
"""
from __future__ import annotations

import functools
import inspect
import math
import numbers
import operator
import re
import threading
import types
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .formula import Binary, Call, Expr, Num, Program, Sym, Unary, compile_law

__all__ = ["TraceError", "Layout", "Traced", "trace", "trace_function", "trace_checked",
           "traced_model", "clear_trace_cache"]


class TraceError(Exception):
    """A Python model function cannot be turned into a law program; the message says why."""


# --------------------------------------------------------------------------
# Stand-ins


def _refuse(what: str):
    def method(self, *args, **kwargs):
        raise TraceError(f"{what} is not supported in a traced model")
    return method


def _binary_methods(op: str):
    def forward(self, other):
        return _Tracer(Binary(op, self.expr, _lift(other)))

    def reverse(self, other):
        return _Tracer(Binary(op, _lift(other), self.expr))

    return forward, reverse


def _call(fn: str):
    return lambda *args: Call(fn, args)


def _operator(op: str):
    return lambda a, b: Binary(op, a, b)


def _condition_method(fn: str, swap: bool = False):
    def method(self, other):
        args = (_lift(other), self.expr) if swap else (self.expr, _lift(other))
        return _Tracer(Call(fn, args))
    return method


_LN2 = math.log(2.0)


def _logaddexp(a: Expr, b: Expr) -> Expr:
    # log(exp(a) + exp(b)) = max(a, b) + log1p(exp(-|a - b|)), without overflow.
    return Binary("+", Call("maximum", (a, b)),
                  Call("log1p", (Call("exp", (Unary("-", Call("abs", (Binary("-", a, b),))),)),)))


_UFUNCS = {
    np.add: _operator("+"), np.subtract: _operator("-"), np.multiply: _operator("*"),
    np.divide: _operator("/"), np.true_divide: _operator("/"),
    np.power: _operator("**"), np.float_power: _operator("**"),
    np.negative: lambda a: Unary("-", a), np.positive: lambda a: a,
    np.reciprocal: lambda a: Binary("/", Num(1.0), a),
    np.square: _call("square"), np.absolute: _call("abs"), np.fabs: _call("abs"),
    np.fmin: _call("minimum"), np.fmax: _call("maximum"),
    np.exp2: lambda a: Call("exp", (Binary("*", a, Num(_LN2)),)),
    np.log2: lambda a: Binary("/", Call("log", (a,)), Num(_LN2)),
    np.sinh: lambda a: Binary("/", Binary("-", Call("exp", (a,)), Call("exp", (Unary("-", a),))), Num(2.0)),
    np.cosh: lambda a: Binary("/", Binary("+", Call("exp", (a,)), Call("exp", (Unary("-", a),))), Num(2.0)),
    np.hypot: lambda a, b: Call("sqrt", (Binary("+", Binary("**", a, Num(2.0)), Binary("**", b, Num(2.0))),)),
    np.logaddexp: _logaddexp,
    **{getattr(np, fn): _call(fn) for fn in (
        "exp", "log", "log10", "log1p", "expm1", "sqrt", "sin", "cos", "tan",
        "arctan", "tanh", "minimum", "maximum", "greater", "greater_equal", "less",
        "less_equal", "equal", "not_equal", "logical_and", "logical_or", "logical_not")},
}

# numpy runs a ufunc on an object array (np.asarray of a traced value) by
# calling the method of the same name on each element.
_OBJECT_LOOP_METHODS = ("exp", "log", "log10", "log1p", "expm1", "sqrt", "sin", "cos", "tan",
                        "arctan", "tanh")


def _clip(a, a_min=None, a_max=None, **kwargs):
    if kwargs:
        raise TraceError(f"numpy.clip with {', '.join(kwargs)} is not supported in a traced model")
    e = _lift(a)
    if a_min is not None:
        e = Call("maximum", (e, _lift(a_min)))
    if a_max is not None:
        e = Call("minimum", (e, _lift(a_max)))
    return _Tracer(e)


def _where(condition, x=None, y=None):
    if x is None or y is None:
        raise TraceError("numpy.where with one argument (the indices where a condition holds) "
                         "is not supported in a traced model")
    return _Tracer(Call("where", (_lift(condition), _lift(x), _lift(y))))


def _identity(a, *args, **kwargs):
    if args or kwargs:
        raise TraceError("only the one-argument form of this numpy function is supported in a traced model")
    return a if isinstance(a, _Tracer) else _Tracer(_lift(a))


_ARRAY_FUNCTIONS = {
    np.where: _where, np.clip: _clip,
    np.squeeze: _identity, np.ravel: _identity, np.copy: _identity, np.atleast_1d: _identity,
}


class _Tracer:
    """Stand-in for a parameter, an input or a value computed from them.

    Arithmetic, numpy's elementwise functions and comparisons record an
    expression.  Anything that needs a concrete value (``if``, ``float()``,
    ``math.*``, reductions over the points, indexing a single point) raises
    `TraceError`: the model's result could depend on it.
    """

    __slots__ = ("_expr",)

    def __init__(self, expr: Expr):
        self._expr = expr

    @property
    def expr(self) -> Expr:
        return self._expr

    __add__, __radd__ = _binary_methods("+")
    __sub__, __rsub__ = _binary_methods("-")
    __mul__, __rmul__ = _binary_methods("*")
    __truediv__, __rtruediv__ = _binary_methods("/")
    __pow__, __rpow__ = _binary_methods("**")

    # Comparisons and their combinations: conditions for np.where (or 0/1 values).
    __lt__ = _condition_method("less")
    __le__ = _condition_method("less_equal")
    __gt__ = _condition_method("greater")
    __ge__ = _condition_method("greater_equal")
    __eq__ = _condition_method("equal")
    __ne__ = _condition_method("not_equal")
    __and__ = _condition_method("logical_and")
    __rand__ = _condition_method("logical_and", swap=True)
    __or__ = _condition_method("logical_or")
    __ror__ = _condition_method("logical_or", swap=True)
    __hash__ = None

    def __invert__(self):
        return _Tracer(Call("logical_not", (self.expr,)))

    def __neg__(self):
        return _Tracer(Unary("-", self.expr))

    def __pos__(self):
        return _Tracer(self.expr)

    def __abs__(self):
        return _Tracer(Call("abs", (self.expr,)))

    def __getitem__(self, index):
        raise TraceError("indexing a parameter or a 1-D input (x[i] is one point) is not supported "
                         "in a traced model")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        build = _UFUNCS.get(ufunc)
        if "dtype" in kwargs and kwargs["dtype"] in (None, float, np.float64):
            kwargs = {k: v for k, v in kwargs.items() if k != "dtype"}
        if build is None or method != "__call__" or kwargs:
            raise TraceError(
                f"numpy.{ufunc.__name__} ({method}) is not supported in a traced model")
        return _Tracer(build(*[_lift(v) for v in inputs]))

    def __array_function__(self, func, types, args, kwargs):
        impl = _ARRAY_FUNCTIONS.get(func)
        if impl is None:
            raise TraceError(f"numpy.{func.__name__} is not supported in a traced model")
        return impl(*args, **kwargs)

    def __array__(self, dtype=None, copy=None):
        # np.asarray / np.array of a traced value: a 0-d object array holding
        # it; numpy's object loops call back into the tracer.
        if dtype is not None and np.dtype(dtype) != np.dtype(object):
            raise TraceError("conversion to a numeric array (np.asarray(..., dtype=...)) "
                             "is not supported in a traced model")
        holder = np.empty((), dtype=object)
        holder[()] = self
        return holder

    # ndarray methods that leave an elementwise value as it is.
    def squeeze(self, *args):
        return self

    ravel = flatten = copy = squeeze

    def astype(self, dtype, *args, **kwargs):
        if np.dtype(dtype).kind != "f" or np.dtype(dtype).itemsize < 8:
            raise TraceError(f"astype({np.dtype(dtype).name}) is not supported in a traced model")
        return self

    __bool__ = _refuse("data-dependent control flow (if, and, or, while on a traced condition)")
    __float__ = __int__ = __index__ = __complex__ = _refuse(
        "conversion to a Python number (math.* functions, float(), int())")
    __len__ = __iter__ = _refuse("len() or iteration over the points")


for _name in _OBJECT_LOOP_METHODS:
    setattr(_Tracer, _name, (lambda fn: lambda self: _Tracer(Call(fn, (self.expr,))))(_name))


class _Inputs(_Tracer):
    """The 2-D ``xdata`` of a traced model; each row (or column) is one input.

    ``orient`` is ``"rows"`` (shape (k, M): ``x[i]``, ``x[i, :]``, ``N, D = x``),
    ``"cols"`` (shape (M, k): ``x[:, j]``), ``"either"`` (square data: the
    first indexing style decides) or ``"open"`` (rows, their number unknown).
    """

    __slots__ = ("names", "n", "state", "transposed")

    def __init__(self, names: list[str], n: int | None, orient: str, state=None, transposed=False):
        self.names = names
        self.n = n
        self.state = state if state is not None else {"orient": orient, "used": 0, "style": None}
        self.transposed = transposed

    def _select(self, style: str, i: int) -> _Tracer:
        st = self.state
        allowed = {"rows": ("rows",), "open": ("rows",), "cols": ("cols",), "either": ("rows", "cols")}[st["orient"]]
        if style not in allowed:
            if style == "cols":
                raise TraceError("x[:, i] selects one point of xdata whose rows are the inputs "
                                 "(use x[i] with an integer i)")
            raise TraceError("x[i] selects one point of xdata whose columns are the inputs "
                             "(use x[:, i] with an integer i)")
        if st["style"] not in (None, style):
            raise TraceError("the model indexes xdata both by rows and by columns")
        st["style"] = style
        try:
            i = operator.index(i)
        except TypeError:
            raise TraceError("only x[i] with an integer i (or x[i, :], x[:, i]) is supported "
                             "in a traced model") from None
        n = self.n
        if i < 0:
            if n is None:
                raise TraceError("a negative input index needs the number of inputs")
            i += n
        if i < 0 or (n is not None and i >= n):
            raise TraceError(f"input {i} is out of range ({n} inputs)")
        if i >= len(self.names):
            raise TraceError(f"input {i} is out of range")
        st["used"] = max(st["used"], i + 1)
        return _Tracer(Sym(self.names[i]))

    @property
    def expr(self) -> Expr:
        if self.n == 1:
            self.state["style"] = self.state["style"] or ("cols" if self.state["orient"] == "cols" else "rows")
            self.state["used"] = 1
            return Sym(self.names[0])
        raise TraceError("a model with several inputs must use them one at a time "
                         "(x[0], x[1], ... or N, D = x)")

    @property
    def T(self) -> "_Inputs":
        return _Inputs(self.names, self.n, self.state["orient"], self.state, not self.transposed)

    def __getitem__(self, index):
        idx = index if isinstance(index, tuple) else (index,)
        full = slice(None)
        if len(idx) == 3 and idx[0] is Ellipsis and idx[2] == full:
            idx = idx[1:]
        if len(idx) == 1 and idx[0] is not Ellipsis:
            style, i = "rows", idx[0]
        elif len(idx) == 2 and idx[1] == full and not isinstance(idx[0], slice) and idx[0] is not Ellipsis:
            style, i = "rows", idx[0]
        elif len(idx) == 2 and (idx[0] == full or idx[0] is Ellipsis) and not isinstance(idx[1], slice):
            style, i = "cols", idx[1]
        else:
            raise TraceError(f"x[{index!r}] is not supported in a traced model (use x[i], x[i, :] or x[:, i])")
        if self.transposed:
            style = "cols" if style == "rows" else "rows"
        return self._select(style, i)

    def _axis0_allowed(self) -> bool:
        """Whether x[i] (numpy's first axis, after any .T) selects an input."""
        orient = self.state["orient"]
        style = "cols" if self.transposed else "rows"
        return self.n is not None and (orient == "either" or orient == style or (orient == "open" and style == "rows"))

    def __len__(self):
        if not self._axis0_allowed():
            raise TraceError("len() of xdata counts its points here; not supported in a traced model")
        return self.n

    def __iter__(self):
        if not self._axis0_allowed():
            raise TraceError("iterating over xdata goes over its points here; not supported in a traced model")
        return iter([self[i] for i in range(self.n)])


class _MappingInputs(Mapping):
    """A dict ``xdata`` in a traced model: ``x["N"]`` is the input N."""

    def __init__(self, symbols: dict):
        self._symbols = symbols

    def __getitem__(self, key):
        return _Tracer(Sym(self._symbols[key]))

    def __iter__(self):
        return iter(self._symbols)

    def __len__(self):
        return len(self._symbols)


def _lift(value) -> Expr:
    """Expression of a tracer or of a scalar constant."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, _Tracer):
        return value.expr
    if isinstance(value, (numbers.Real, np.bool_)):
        return Num(float(value))
    if isinstance(value, np.ndarray):
        raise TraceError(f"a constant array of shape {value.shape} cannot be part of a traced model")
    raise TraceError(f"a value of type {type(value).__name__} cannot be part of a traced model")


# --------------------------------------------------------------------------
# Tracing


def _param_names(func: Callable, n_params: int | None) -> list[str]:
    """Parameter names from the signature ``func(x, p1, p2, ...)``."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise TraceError(f"cannot read the signature of {func!r}") from exc
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in sig.parameters.values() if p.kind in kinds][1:]
    var = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in sig.parameters.values())
    if n_params is None:
        if var:
            raise TraceError("the number of parameters of a function with *args must be given")
        return names
    if n_params <= len(names):
        return names[:n_params]
    if not var:
        raise TraceError(f"the function takes {len(names)} parameters, not {n_params}")
    return names + [f"p{i}" for i in range(len(names), n_params)]


def _free_prefix(names: list[str], indexed: bool) -> str:
    """An input name prefix that cannot clash with a parameter name."""
    prefix = "x"
    while (prefix in names if not indexed
           else any(re.fullmatch(re.escape(prefix) + r"\d+", n) for n in names)):
        prefix += "_"
    return prefix


def _run(func: Callable, x, names: list[str]) -> Expr:
    try:
        with np.errstate(all="ignore"):
            return _lift(func(x, *[_Tracer(Sym(n)) for n in names]))
    except TraceError:
        raise
    except RecursionError:
        raise TraceError("the model is nested too deeply to trace") from None
    except Exception as exc:
        raise TraceError(f"tracing failed with {type(exc).__name__}: {exc}") from exc


def _compile(expr: Expr, inputs: list[str], names: list[str]) -> Program:
    try:
        return compile_law(expr, inputs, names)
    except ValueError as exc:
        raise TraceError(str(exc)) from exc


def trace_function(func: Callable, n_params: int | None = None, x_ndim: int = 1, *,
                   n_inputs: int | None = None) -> Program:
    """Turn a model ``func(x, *params)`` written with numpy operations into a program.

    The low-level form of :func:`trace`, without data: ``x_ndim=1`` makes
    ``x`` the single input ``"x"``; ``x_ndim=2`` makes ``x[i]`` (a row) the
    input ``"x{i}"``, with ``n_inputs`` rows (default: one more than the
    highest row used).  ``n_params`` is required when ``func`` takes ``*args``
    (those are named ``p0, p1, ...``).

    Raises
    ------
    TraceError
        If ``func`` uses anything a program cannot express.
    """
    if x_ndim not in (1, 2):
        raise TraceError(f"x must be 1-D or 2-D, not {x_ndim}-D")
    names = _param_names(func, n_params)
    if x_ndim == 1:
        prefix = _free_prefix(names, indexed=False)
        return _compile(_run(func, _Tracer(Sym(prefix)), names), [prefix], names)
    prefix = _free_prefix(names, indexed=True)
    count = n_inputs if n_inputs is not None else 64
    x = _Inputs([f"{prefix}{i}" for i in range(count)], n_inputs, "open" if n_inputs is None else "rows")
    expr = _run(func, x, names)
    used = x.state["used"] if n_inputs is None else n_inputs
    return _compile(expr, [f"{prefix}{i}" for i in range(used)], names)


# --------------------------------------------------------------------------
# Layouts: how xdata maps onto the program's input rows


@dataclass(frozen=True)
class Layout:
    """Where a traced model's inputs are in ``xdata``.

    ``kind`` is ``"vector"`` (1-D xdata, one input), ``"rows"`` ((k, M):
    row i is input i), ``"cols"`` ((M, k): column i is input i) or
    ``"mapping"`` (a dict; ``keys`` in input order).
    """

    kind: str
    n_inputs: int
    keys: tuple = ()

    def matrix(self, xdata) -> np.ndarray:
        """The inputs as a (n_inputs, M) float64 array."""
        if self.kind == "mapping":
            return np.vstack([np.asarray(xdata[k], dtype=np.float64).ravel() for k in self.keys])
        x = np.asarray(xdata, dtype=np.float64)
        if self.kind == "vector":
            return x.reshape(1, -1)
        return x if self.kind == "rows" else np.ascontiguousarray(x.T)

    def n_points(self, xdata) -> int:
        if self.kind == "mapping":
            return int(np.size(xdata[self.keys[0]])) if self.keys else 0
        shape = np.shape(xdata)
        return int(shape[0] if self.kind == "cols" else shape[-1])

    def take(self, xdata, index: np.ndarray):
        """``xdata`` restricted to the points ``index``, in its own form."""
        if self.kind == "mapping":
            return {k: np.asarray(v)[index] if k in self.keys else v for k, v in xdata.items()}
        x = np.asarray(xdata)
        return x[index] if self.kind == "cols" else x[..., index]


def _layout_candidates(xdata, n_points: int | None):
    """(kind, n_inputs, keys, orient) for tracing, or raise TraceError saying why not."""
    if type(xdata) is np.ndarray and xdata.ndim == 1:
        return "vector", 1, (), None
    if xdata is None:
        raise TraceError("xdata is None (the model does not read its inputs)")
    if isinstance(xdata, Mapping):
        keys = tuple(xdata)
        sizes = {int(np.size(v)) for v in xdata.values()}
        if not keys or len(sizes) != 1:
            raise TraceError("a dict xdata needs 1-D values of one length")
        return "mapping", len(keys), keys, None
    try:
        shape = np.shape(xdata)
    except Exception:  # noqa: BLE001 - ragged sequences
        raise TraceError("xdata is not an array") from None
    if len(shape) == 1:
        return "vector", 1, (), None
    if len(shape) != 2:
        raise TraceError(f"xdata has {len(shape)} dimensions (a traced model takes 1-D or 2-D xdata)")
    r, c = shape
    if n_points is not None and (c == n_points) != (r == n_points):
        orient = "rows" if c == n_points else "cols"
    elif r == c:
        orient = "either"
    else:
        orient = "rows" if r < c else "cols"
    return "matrix", (r, c), (), orient


def _trace_layout(func: Callable, xdata, n_params: int, n_points: int | None) -> tuple[Program, Layout]:
    kind, n, keys, orient = _layout_candidates(xdata, n_points)
    names = _param_names(func, n_params)
    if kind == "vector":
        prefix = _free_prefix(names, indexed=False)
        return _compile(_run(func, _Tracer(Sym(prefix)), names), [prefix], names), Layout("vector", 1)
    if kind == "mapping":
        safe = all(isinstance(k, str) and k.isidentifier() and k not in names and k != "pi" for k in keys)
        prefix = _free_prefix(names, indexed=True)
        symbols = {k: (k if safe else f"{prefix}{i}") for i, k in enumerate(keys)}
        expr = _run(func, _MappingInputs(symbols), names)
        return _compile(expr, list(symbols.values()), names), Layout("mapping", len(keys), keys)
    r, c = n
    prefix = _free_prefix(names, indexed=True)
    k = c if orient == "cols" else r
    inputs = [f"{prefix}{i}" for i in range(k)]
    x = _Inputs(inputs, k, orient)
    expr = _run(func, x, names)
    style = x.state["style"] or ("cols" if orient == "cols" else "rows")
    return _compile(expr, inputs, names), Layout(style, k)


# --------------------------------------------------------------------------
# Verification


_CHECK_POINTS = 2048  # points of xdata used to verify a trace
_CHECK_RTOL = 1e-9


def _probe_points(p0: np.ndarray):
    yield p0
    for i in range(p0.size):
        p = p0.copy()
        p[i] = p0[i] * 1.03 if p0[i] != 0 else 0.03
        yield p


def _disagreement(func: Callable, program: Program, layout: Layout, xdata, p0: np.ndarray) -> str | None:
    """Why the program and ``func`` differ on (a sample of) xdata, or None when they agree.

    They must agree at ``p0`` and with each parameter moved by 3 %.
    """
    m = layout.n_points(xdata)
    sample = xdata
    if m > _CHECK_POINTS:
        sample = layout.take(xdata, np.linspace(0, m - 1, _CHECK_POINTS).astype(int))
    columns = program.input_matrix(layout.matrix(sample))
    for p in _probe_points(p0):
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = np.asarray(func(sample, *p), dtype=np.float64)
                got = program.evaluate_columns(p, columns)[0]
        except Exception as exc:  # noqa: BLE001 - the user's function raised
            return f"calling the function raised {type(exc).__name__}: {exc}"
        if expected.size == got.size:
            expected = expected.reshape(got.shape)
        elif expected.size != 1:
            return (f"the function returns {expected.size} values for {got.size} points "
                    "(a per-point array constant cannot be traced)")
        finite = np.abs(expected[np.isfinite(expected)])
        atol = 1e-12 * finite.max(initial=0.0)  # for values that cancel to ~0
        if not np.allclose(got, expected, rtol=_CHECK_RTOL, atol=atol, equal_nan=True):
            return (f"the traced program disagrees with calling the function at p = {p.tolist()} "
                    "(the function depends on something tracing cannot see, such as state or "
                    "its own calls)")
    return None


def trace_checked(func: Callable, xdata, p0) -> Program | None:
    """Trace ``func`` on ``xdata`` and verify the program against calling it; None if either fails."""
    try:
        p0 = np.asarray(p0, dtype=np.float64).ravel()
        program, layout = _trace_layout(func, xdata, p0.size, None)
        if _disagreement(func, program, layout, xdata, p0) is not None:
            return None
    except (TraceError, TypeError, ValueError):
        return None
    return program


# --------------------------------------------------------------------------
# The cache


@dataclass(frozen=True)
class Traced:
    """A model as lawfit runs it: the program and layout, or why there is none."""

    program: Program | None
    layout: Layout | None
    why: str | None = None


_MISSING = object()
_CACHE: "OrderedDict[object, Traced]" = OrderedDict()
_CACHE_SIZE = 256
_LOCK = threading.Lock()
_GLOBAL_NAMES: dict = {}  # code object -> names it (and its nested code) reads


def clear_trace_cache() -> None:
    """Forget every traced model (for models whose hidden state has changed)."""
    with _LOCK:
        _CACHE.clear()
        _KEY_MEMO.clear()


def _global_names(code: types.CodeType) -> tuple:
    names = _GLOBAL_NAMES.get(code)
    if names is None:
        found, stack = {}, [code]
        while stack:
            c = stack.pop()
            found.update(dict.fromkeys(c.co_names))
            stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        names = _GLOBAL_NAMES[code] = tuple(found)
    return names


_SCALARS = (bool, int, float, complex, str, bytes, type(None))


def _freeze(v, depth: int = 0):
    """A hashable stand-in for a value a model can read."""
    if isinstance(v, _SCALARS) or isinstance(v, np.generic):
        return (type(v), v)
    if isinstance(v, types.ModuleType):
        return ("module", v.__name__)
    if isinstance(v, (types.FunctionType, functools.partial, types.MethodType)):
        return _callable_key(v, depth + 1) if depth < 4 else ("callable", id(v))
    if isinstance(v, (type, types.BuiltinFunctionType, types.BuiltinMethodType, np.ufunc)):
        return ("id", id(v))
    if isinstance(v, np.ndarray):
        if v.size <= 4096:
            return ("ndarray", v.shape, v.dtype.str, v.tobytes())
        return ("ndarray", id(v), v.shape, v.dtype.str)
    if isinstance(v, (tuple, list)):
        return (type(v), tuple(_freeze(e, depth + 1) for e in v)) if depth < 6 and len(v) <= 256 else ("id", id(v))
    if isinstance(v, dict):
        if depth < 6 and len(v) <= 256:
            return (dict, tuple((k, _freeze(e, depth + 1)) for k, e in v.items()))
        return ("id", id(v))
    state = getattr(v, "__dict__", None)
    if isinstance(state, dict) and depth < 3 and len(state) <= 64:
        return ("object", type(v), id(v), tuple((k, _freeze(e, depth + 1)) for k, e in state.items()))
    return ("id", id(v))


def _callable_key(f, depth: int = 0):
    """Everything a traced model's program can depend on, hashable."""
    if isinstance(f, functools.partial):
        return ("partial", _callable_key(f.func, depth + 1), _freeze(f.args, depth + 1),
                _freeze(f.keywords, depth + 1))
    if isinstance(f, types.MethodType):
        return ("method", _freeze(f.__self__, depth + 1), _callable_key(f.__func__, depth + 1))
    code = getattr(f, "__code__", None)
    if code is None or not isinstance(f, types.FunctionType):
        call = getattr(type(f), "__call__", None)  # noqa: B004 (the class's __call__ function itself)
        if isinstance(call, types.FunctionType):  # a callable object
            return ("callable object", _freeze(f, depth + 1), _callable_key(call, depth + 1))
        return ("id", id(f))
    g = f.__globals__
    closure = () if f.__closure__ is None else tuple(
        _freeze(_cell(c), depth + 1) for c in f.__closure__)
    return (code, _freeze(f.__defaults__, depth + 1), _freeze(f.__kwdefaults__, depth + 1), closure,
            tuple(_freeze(g.get(n, _MISSING), depth + 1) if n in g else None for n in _global_names(code)))


# Plain functions whose key depends only on immutable things (no closure, scalar
# defaults, globals bound to modules, scalars, ufuncs, builtins or classes):
# id -> (function, code, defaults, ((name, value), ...), key).  The key is
# reused while the same objects are bound (identity checks, no freezing).
_KEY_MEMO: "OrderedDict[int, tuple]" = OrderedDict()
_F64 = np.dtype(np.float64)
_IMMUTABLE = _SCALARS + (np.generic, types.ModuleType, type, types.BuiltinFunctionType, np.ufunc)


def _memo_entry(f):
    """``f``'s :data:`_KEY_MEMO` entry while its bindings are the same objects, else None."""
    memo = _KEY_MEMO.get(id(f))
    if memo is not None and memo[0] is f and f.__code__ is memo[1] and f.__defaults__ is memo[2]:
        g = f.__globals__
        for name, v in memo[3]:
            if g.get(name, _MISSING) is not v:
                return None
        return memo
    return None


def _memo_key(f):
    """:func:`_callable_key`, from :data:`_KEY_MEMO` when ``f``'s bindings are the same objects."""
    memo = _memo_entry(f)
    if memo is not None:
        return memo[4]
    key = _callable_key(f)
    if (type(f) is types.FunctionType and f.__closure__ is None and f.__kwdefaults__ is None
            and all(isinstance(d, _SCALARS) for d in f.__defaults__ or ())):
        g = f.__globals__
        bound = tuple((name, g.get(name, _MISSING)) for name in _global_names(f.__code__))
        if all(v is _MISSING or isinstance(v, _IMMUTABLE) for _, v in bound):
            with _LOCK:
                # the last element: this key's traces by layout (traced_model), without hashing the key
                _KEY_MEMO[id(f)] = (f, f.__code__, f.__defaults__, bound, key, {})
                while len(_KEY_MEMO) > _CACHE_SIZE:
                    _KEY_MEMO.popitem(last=False)
    return key


def _cell(c):
    try:
        return c.cell_contents
    except ValueError:  # an empty cell
        return _MISSING


def traced_model(func: Callable, xdata, p0, n_points: int | None = None) -> Traced:
    """The program of ``func`` on data laid out like ``xdata``, from the cache or traced now.

    A new trace is verified against calling ``func`` on ``xdata`` at ``p0``
    (and with each parameter moved by 3 %).  Never raises for the model's sake:
    a model that cannot be traced comes back with ``program=None`` and the
    reason in ``why``.
    """
    if not (type(p0) is np.ndarray and p0.ndim == 1 and p0.dtype is _F64):
        p0 = np.asarray(p0, dtype=np.float64).ravel()
    try:
        kind, n, keys, orient = _layout_candidates(xdata, n_points)
    except TraceError as exc:
        return Traced(None, None, str(exc))
    where = (kind, n, keys, orient, p0.size)
    memo = _memo_entry(func)
    if memo is not None:  # the key's traces by layout: no hash of the key (its code object)
        hit = memo[5].get(where)
        if hit is not None:
            return hit
    try:
        key = (_memo_key(func),) + where
        hit = _CACHE.get(key)
    except Exception:  # noqa: BLE001 - an unhashable closure value: trace every call
        key = hit = None
    if hit is None:
        try:
            program, layout = _trace_layout(func, xdata, p0.size, n_points)
            why = _disagreement(func, program, layout, xdata, p0)
            hit = Traced(program, layout) if why is None else Traced(None, None, why)
        except TraceError as exc:
            hit = Traced(None, None, str(exc))
        if key is not None:
            with _LOCK:
                _CACHE[key] = hit
                while len(_CACHE) > _CACHE_SIZE:
                    _CACHE.popitem(last=False)
    memo = _memo_entry(func) if key is not None else None
    if memo is not None:
        by_layout = memo[5]
        if len(by_layout) >= 64:  # layouts include the data's shape: keep a few
            by_layout.clear()
        by_layout[where] = hit
    return hit


def trace(f: Callable, xdata, p0=None) -> Program:
    """The law program ``lawfit.curve_fit`` runs for the model ``f`` on ``xdata``.

    Parameters
    ----------
    f : callable
        The model ``f(x, *params)``.
    xdata : array_like or dict
        Data laid out as for ``curve_fit``: 1-D (one input named ``x``),
        (k, M) rows or (M, k) columns (inputs ``x0, x1, ...``), or a dict
        (inputs named by its keys).  Only its layout and a sample of its
        points (for the check) are used.
    p0 : array_like, optional
        Parameters at which the program is checked against calling ``f``
        (default: ones; their number from ``f``'s signature).

    Returns
    -------
    Program

    Raises
    ------
    TraceError
        With the reason when ``f`` cannot be traced (``curve_fit`` then calls
        it from Python, with finite differences, and reports the same reason
        in ``infodict["why"]``).

    Examples
    --------
    >>> import numpy as np, lawfit
    >>> def law(X, E, A, alpha, B, beta):
    ...     N, D = X
    ...     return E + A / N**alpha + B / D**beta
    >>> X = np.array([[1e8, 1e9, 1e10], [1e10, 1e11, 1e12]])
    >>> lawfit.trace(law, X).param_names
    ['E', 'A', 'alpha', 'B', 'beta']
    >>> lawfit.trace(lambda x, a: a * x if a > 0 else x, [1.0, 2.0], p0=[1.0])
    Traceback (most recent call last):
    ...
    lawfit.tracing.TraceError: data-dependent control flow (if, and, or, while on a traced condition) ...
    """
    if p0 is None:
        p0 = np.ones(len(_param_names(f, None)))
    if not isinstance(xdata, Mapping) and xdata is not None and not isinstance(xdata, np.ndarray):
        try:
            xdata = np.asarray(xdata, dtype=np.float64)
        except (TypeError, ValueError):
            raise TraceError("xdata is not an array of numbers") from None
    traced = traced_model(f, xdata, p0)
    if traced.program is None:
        raise TraceError(traced.why)
    return traced.program
