"""Law formulas: parsing and compilation to stack programs.

A law such as ``"E + A/N**alpha + B/D**beta"`` is parsed into a small
expression tree, simplified, and compiled into a postfix `Program` (opcodes in
`lawfit.opcodes`) that the C++ and CUDA interpreters run with forward-mode
derivatives.  Every subtree that depends on inputs but on no parameter (here
``log(N)`` and ``log(D)``) is *hoisted*: computed once with numpy as an extra
input column, so a fit never recomputes it.  `Program.evaluate` is the numpy
reference for the interpreters' semantics.

Python model functions written with numpy operations are turned into the same
programs by :mod:`lawfit.tracing`.

Compilation rewrites ``a ** b`` with a parameter-dependent exponent into
``exp(b * log(a))`` so that ``log(a)`` can be hoisted; a negative base then
gives NaN, as numpy's ``a ** b`` does for a non-integer exponent.
"""
from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Mapping, Sequence, Union

import numpy as np

from .engine.pool import thread_pool
from .opcodes import BINARY_OPS, LEAF_OPS, MAX_PARAMS, MAX_STACK, Op, stack_effect

__all__ = [
    "Expr", "Num", "Sym", "Unary", "Binary", "Call", "parse",
    "Program", "compile_law",
]

# --------------------------------------------------------------------------
# Expression tree


class Expr:
    """A node of a formula's expression tree: immutable, hashable, compared by value.

    Hashing by value is what lets identical hoisted subtrees share a column.
    """

    @property
    def children(self) -> tuple[Expr, ...]:
        return ()

    def with_children(self, children: Sequence[Expr]) -> Expr:
        """The same node over new children (leaves return themselves)."""
        return self

    @cached_property
    def symbols(self) -> tuple[str, ...]:
        """Names of the symbols in the tree, in order of first appearance."""
        return tuple(dict.fromkeys(s for child in self.children for s in child.symbols))

    def to_formula(self) -> str:
        """Formula text; `parse` turns it back into an equal tree.

        Exact for parsed trees.  Negative and non-finite numbers, which only
        constant folding creates, come back as equivalent expressions.
        """
        return _format(self)[0]

    def __str__(self) -> str:
        return self.to_formula()


@dataclass(frozen=True)
class Num(Expr):
    """A numeric constant."""

    value: float

    def __post_init__(self):
        object.__setattr__(self, "value", float(self.value))


@dataclass(frozen=True)
class Sym(Expr):
    """An input, a parameter or the constant ``pi``; `compile_law` decides which."""

    name: str

    @property
    def symbols(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class Unary(Expr):
    """Negation (``op`` is ``"-"``; unary plus is dropped by the parser)."""

    op: str
    a: Expr

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.a,)

    def with_children(self, children: Sequence[Expr]) -> Expr:
        return Unary(self.op, *children)


@dataclass(frozen=True)
class Binary(Expr):
    """``a op b`` for op in ``+ - * / **``."""

    op: str
    a: Expr
    b: Expr

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.a, self.b)

    def with_children(self, children: Sequence[Expr]) -> Expr:
        return Binary(self.op, *children)


@dataclass(frozen=True)
class Call(Expr):
    """A function call; ``fn`` is the canonical name (``atan`` becomes ``arctan``)."""

    fn: str
    args: tuple[Expr, ...]

    @property
    def children(self) -> tuple[Expr, ...]:
        return self.args

    def with_children(self, children: Sequence[Expr]) -> Expr:
        return Call(self.fn, tuple(children))


# Functions of the formula language.  pow and square are rewritten into ** by
# the compiler; the others map to one opcode each.
_FUNCTION_OPS = {
    "exp": Op.EXP, "log": Op.LOG, "log10": Op.LOG10, "log1p": Op.LOG1P,
    "expm1": Op.EXPM1, "sqrt": Op.SQRT, "abs": Op.ABS, "sin": Op.SIN, "cos": Op.COS,
    "tan": Op.TAN, "arctan": Op.ARCTAN, "tanh": Op.TANH, "sigmoid": Op.SIGMOID,
    "softplus": Op.SOFTPLUS, "minimum": Op.MIN, "maximum": Op.MAX, "lgamma": Op.LGAMMA,
}
# Conditions: comparisons and their logical combinations, 1.0 where true and
# 0.0 where false.  They may depend on inputs only (a parameter-dependent
# condition would make the law discontinuous in its parameters); ``where``
# selects between two branches by such a condition.
_CONDITIONS = {
    "greater": np.greater, "greater_equal": np.greater_equal, "less": np.less,
    "less_equal": np.less_equal, "equal": np.equal, "not_equal": np.not_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or,
}
_ARITY = {
    **{fn: 2 if op in BINARY_OPS else 1 for fn, op in _FUNCTION_OPS.items()},
    **dict.fromkeys(_CONDITIONS, 2),
    "pow": 2, "square": 1, "where": 3, "logical_not": 1,
    "guard": 2,  # internal: see _guard_branch
}
_ALIASES = {"atan": "arctan", "min": "minimum", "max": "maximum"}
_OPERATOR_OPS = {"+": Op.ADD, "-": Op.SUB, "*": Op.MUL, "/": Op.DIV, "**": Op.POW}

# Binding strength, as in Python: ** binds tighter than a unary minus on its left.
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "**": 4}
_UNARY_PRECEDENCE = 3
_ATOM = 5


def _format(e: Expr) -> tuple[str, int]:
    """Text of ``e`` and the precedence of its outermost operation."""
    if isinstance(e, Num):
        return _format_number(e.value), _ATOM
    if isinstance(e, Sym):
        return e.name, _ATOM
    if isinstance(e, Call):
        return f"{e.fn}({', '.join(_format(a)[0] for a in e.args)})", _ATOM
    if isinstance(e, Unary):
        return e.op + _wrap(e.a, _UNARY_PRECEDENCE), _UNARY_PRECEDENCE
    prec = _PRECEDENCE[e.op]
    if e.op == "**":  # right-associative, and its right operand may be unary
        return f"{_wrap(e.a, _ATOM)}**{_wrap(e.b, _UNARY_PRECEDENCE)}", prec
    return f"{_wrap(e.a, prec)} {e.op} {_wrap(e.b, prec + 1)}", prec


def _wrap(e: Expr, min_precedence: int) -> str:
    text, prec = _format(e)
    return text if prec >= min_precedence else f"({text})"


def _format_number(v: float) -> str:
    if math.isnan(v):
        return "(1e999 - 1e999)"
    text = ("1e999" if v > 0 else "-1e999") if math.isinf(v) else repr(v)
    if text.endswith(".0"):
        text = text[:-2]
    return f"({text})" if text.startswith("-") else text


# --------------------------------------------------------------------------
# Parser

_TOKEN = re.compile(
    r"(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^(),])"
)


def _syntax_error(text: str, pos: int, message: str) -> ValueError:
    return ValueError(f"{message} at position {pos}\n    {text}\n    {' ' * pos}^")


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, position) tokens, ending with an ``end`` token."""
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _syntax_error(text, pos, f"unexpected character {text[pos]!r}")
        tokens.append((m.lastgroup, m.group(), pos))
        pos = m.end()
    tokens.append(("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive descent over the grammar::

        expr  := term (('+' | '-') term)*
        term  := unary (('*' | '/') unary)*
        unary := ('-' | '+') unary | power
        power := atom (('**' | '^') unary)?
        atom  := number | name | name '(' [expr (',' expr)*] ')' | '(' expr ')'
    """

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> str:
        return self.tokens[self.i][1]

    def take(self) -> tuple[str, str, int]:
        self.i += 1
        return self.tokens[self.i - 1]

    def error(self, message: str, pos: int) -> ValueError:
        return _syntax_error(self.text, pos, message)

    def unexpected(self) -> ValueError:
        kind, value, pos = self.tokens[self.i]
        message = "unexpected end of formula" if kind == "end" else f"unexpected {value!r}"
        return self.error(message, pos)

    def parse(self) -> Expr:
        if self.tokens[0][0] == "end":
            raise self.error("empty formula", 0)
        e = self.expr()
        if self.tokens[self.i][0] != "end":
            raise self.unexpected()
        return e

    def expr(self) -> Expr:
        e = self.term()
        while self.peek() in ("+", "-"):
            e = Binary(self.take()[1], e, self.term())
        return e

    def term(self) -> Expr:
        e = self.unary()
        while self.peek() in ("*", "/"):
            e = Binary(self.take()[1], e, self.unary())
        return e

    def unary(self) -> Expr:
        if self.peek() == "-":
            self.take()
            return Unary("-", self.unary())
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Expr:
        base = self.atom()
        if self.peek() in ("**", "^"):
            self.take()
            return Binary("**", base, self.unary())
        return base

    def atom(self) -> Expr:
        kind, value, pos = self.tokens[self.i]
        if kind == "num":
            self.take()
            return Num(float(value))
        if kind == "name":
            self.take()
            return self.call(value, pos) if self.peek() == "(" else Sym(value)
        if value == "(":
            self.take()
            e = self.expr()
            self.close(pos)
            return e
        raise self.unexpected()

    def call(self, name: str, pos: int) -> Expr:
        fn = _ALIASES.get(name, name)
        if fn not in _ARITY:
            raise self.error(f"unknown function {name!r}", pos)
        open_pos = self.take()[2]
        args = []
        if self.peek() != ")":
            args.append(self.expr())
            while self.peek() == ",":
                self.take()
                args.append(self.expr())
        self.close(open_pos)
        if len(args) != _ARITY[fn]:
            n = _ARITY[fn]
            raise self.error(
                f"{name}() takes {n} argument{'s' if n > 1 else ''}, got {len(args)}", pos)
        return Call(fn, tuple(args))

    def close(self, open_pos: int) -> None:
        if self.peek() != ")":
            if self.tokens[self.i][0] == "end":
                raise self.error("unclosed '('", open_pos)
            raise self.unexpected()
        self.take()


def parse(text: str) -> Expr:
    """Parse a formula into an expression tree.

    Parameters
    ----------
    text : str
        Python-like arithmetic: numbers, names, ``+ - * / **`` (``^`` also means
        power), parentheses and calls of the supported functions.

    Raises
    ------
    ValueError
        For malformed text; the message gives the position and a caret under it.
    """
    try:
        tree = _Parser(text).parse()
    except RecursionError:
        raise _syntax_error(text, 0, "formula nested too deeply") from None
    if _depth(tree) > MAX_DEPTH:
        raise _syntax_error(text, 0, f"formula nested more than {MAX_DEPTH} levels deep")
    return tree


#: Deepest expression tree a formula may have (the compiler's passes recurse).
MAX_DEPTH = 100


def _depth(tree: Expr) -> int:
    """Depth of a tree, measured without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((child, d + 1) for child in node.children)
    return deepest


# --------------------------------------------------------------------------
# Numeric semantics shared by constant folding, hoisted columns and the
# reference evaluator.  They mirror cpp/lawfit/program.hpp.

_LN10 = math.log(10.0)


def _sigmoid(a):
    # Evaluated on the side where exp cannot overflow, like the interpreters.
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0, e) / (1.0 + e)


def _softplus(a):
    return np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))


# Coefficients B_2n / (2n (2n - 1)) and B_2n / (2n), n = 8 down to 1 (Abramowitz &
# Stegun 6.1.41, 6.3.18; Bernoulli numbers from A&S Table 23.2).
_STIRLING = (-3617.0 / 122400.0, 1.0 / 156.0, -691.0 / 360360.0, 1.0 / 1188.0, -1.0 / 1680.0,
             1.0 / 1260.0, -1.0 / 360.0, 1.0 / 12.0)
_PSI_ASYMPTOTIC = (-3617.0 / 8160.0, 1.0 / 12.0, -691.0 / 32760.0, 1.0 / 132.0, -1.0 / 240.0,
                   1.0 / 252.0, -1.0 / 120.0, 1.0 / 12.0)


def lgamma_digamma(a):
    """log Gamma(a) and digamma(a) for a > 0, NaN for a <= 0, as ``math::lgamma_digamma``.

    The same steps as cpp/lawfit/math.hpp: the recurrence raises the argument
    to z >= 10 (A&S 6.1.15, 6.3.5), then Stirling's series (A&S 6.1.41) and the
    asymptotic series of digamma (A&S 6.3.18), each to the B_16 term.
    """
    x = np.asarray(a, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z, prod, inv_sum = x.copy(), np.ones_like(x), np.zeros_like(x)
        for _ in range(10):
            shift = z < 10.0
            prod = np.where(shift, prod * z, prod)
            inv_sum = np.where(shift, inv_sum + 1.0 / z, inv_sum)
            z = np.where(shift, z + 1.0, z)
        r = 1.0 / z
        r2 = r * r
        sl, sd = 0.0 * r, 0.0 * r
        for cl, cd in zip(_STIRLING, _PSI_ASYMPTOTIC):
            sl = sl * r2 + cl
            sd = sd * r2 + cd
        lz = np.log(z)
        lg = (((z - 0.5) * (lz - 1.0) - 0.5 + 0.91893853320467274178) + sl * r) - np.log(prod)
        dg = (lz - 0.5 * r - sd * r2) - inv_sum
        lg = np.where(x == np.inf, np.inf, lg)
        dg = np.where(x == np.inf, np.inf, dg)
        ok = x > 0.0
        return np.where(ok, lg, np.nan), np.where(ok, dg, np.nan)


# op: (value(a), derivative(a, value))
_UNARY_RULES: dict[Op, tuple[Callable, Callable]] = {
    Op.NEG: (np.negative, lambda a, v: -1.0),
    Op.EXP: (np.exp, lambda a, v: v),
    Op.LOG: (np.log, lambda a, v: 1.0 / a),
    Op.LOG10: (np.log10, lambda a, v: 1.0 / (a * _LN10)),
    Op.LOG1P: (np.log1p, lambda a, v: 1.0 / (1.0 + a)),
    Op.EXPM1: (np.expm1, lambda a, v: np.exp(a)),
    Op.SQRT: (np.sqrt, lambda a, v: 0.5 / v),
    Op.ABS: (np.abs, lambda a, v: np.sign(a)),
    Op.SIN: (np.sin, lambda a, v: np.cos(a)),
    Op.COS: (np.cos, lambda a, v: -np.sin(a)),
    Op.TAN: (np.tan, lambda a, v: 1.0 + v * v),
    Op.ARCTAN: (np.arctan, lambda a, v: 1.0 / (1.0 + a * a)),
    Op.TANH: (np.tanh, lambda a, v: 1.0 - v * v),
    Op.SIGMOID: (_sigmoid, lambda a, v: v * (1.0 - v)),
    Op.SOFTPLUS: (_softplus, lambda a, v: _sigmoid(a)),
    Op.LGAMMA: (lambda a: lgamma_digamma(a)[0], lambda a, v: lgamma_digamma(a)[1]),
}


def _binary_rule(op: Op, a, b):
    """Value and the partial derivatives d/da, d/db of a binary operation."""
    if op is Op.ADD:
        return a + b, 1.0, 1.0
    if op is Op.SUB:
        return a - b, 1.0, -1.0
    if op is Op.MUL:
        return a * b, b, a
    if op is Op.DIV:
        q = a / b
        return q, 1.0 / b, -q / b
    if op is Op.POW:
        v = np.power(a, b)
        # The log term is used only when b depends on a parameter (gradient mask).
        return v, b * np.power(a, b - 1.0), v * np.log(a)
    take_a = a <= b if op is Op.MIN else a >= b  # ties take a
    return np.where(take_a, a, b), np.where(take_a, 1.0, 0.0), np.where(take_a, 0.0, 1.0)


def _powi_rule(a, n: int):
    """``a ** n`` and its derivative by repeated multiplication, as the interpreters do."""
    m = abs(n)
    pm1 = np.ones_like(a)
    for _ in range(1, m):
        pm1 = pm1 * a
    pn = pm1 * a if m else np.ones_like(a)
    if n >= 0:
        return pn, m * pm1
    v = 1.0 / pn
    return v, -m * v / a


def _guard_values(c, s):
    """``s`` where ``c`` holds, elsewhere ``s`` at the first point where ``c`` holds.

    The inputs of a ``where`` branch, replaced this way at the points the
    branch is not selected, keep the branch finite there, so that the 0/1
    mask arithmetic the interpreters run (``m * a + (1 - m) * b``) never
    multiplies 0 by an infinite or NaN value of the unselected branch.
    """
    c = np.asarray(c) != 0
    s = np.asarray(s, dtype=np.float64)
    if c.ndim == 0 or s.ndim == 0 or not c.any():
        return s
    s = np.broadcast_to(s, np.broadcast_shapes(s.shape, c.shape))
    return np.where(c, s, s.reshape(-1)[int(np.argmax(c.reshape(-1)))])


def _evaluate_call(fn: str, args):
    """numpy value of a condition, ``where`` or ``guard`` call (parameter-free by construction)."""
    if fn in _CONDITIONS:
        if fn.startswith("logical"):
            args = [np.asarray(a) != 0 for a in args]
        return np.asarray(_CONDITIONS[fn](*args), dtype=np.float64)
    if fn == "logical_not":
        return np.asarray(np.asarray(args[0]) == 0, dtype=np.float64)
    if fn == "where":
        return np.where(np.asarray(args[0]) != 0, args[1], args[2]).astype(np.float64)
    return _guard_values(*args)


def _evaluate_expr(e: Expr, env: Mapping[str, np.ndarray]):
    """Value of a compiled (lowered) tree with numpy: hoisted columns and folding."""
    if isinstance(e, Num):
        return np.float64(e.value)
    if isinstance(e, Sym):
        return env[e.name]
    args = [_evaluate_expr(c, env) for c in e.children]
    if isinstance(e, Unary):
        return -args[0]
    if isinstance(e, Call) and e.fn not in _FUNCTION_OPS:
        return _evaluate_call(e.fn, args)
    op = _OPERATOR_OPS[e.op] if isinstance(e, Binary) else _FUNCTION_OPS[e.fn]
    if op in BINARY_OPS:
        return _binary_rule(op, *args)[0]
    return _UNARY_RULES[op][0](*args)


_BINARY_VALUES: dict[Op, Callable] = {
    Op.ADD: np.add, Op.SUB: np.subtract, Op.MUL: np.multiply, Op.DIV: np.divide, Op.POW: np.power,
    Op.MIN: lambda a, b: np.where(a <= b, a, b), Op.MAX: lambda a, b: np.where(a >= b, a, b),
}


_F64 = np.dtype(np.float64)

#: Inputs of at most this many points keep their hoisted columns for the next call.
_MEMO_POINTS = 4096

#: Points from which the hoisted columns are computed in slices on several threads
#: (numpy's ufuncs release the GIL; each slice is the same arithmetic, so the
#: values do not depend on the split).
_PARALLEL_POINTS = 200_000


def _ignoring_errors(fn: Callable) -> Callable:
    """``fn`` run under ``np.errstate(all="ignore")``: numpy's decorator from numpy 2 on (one object,
    thread-safe, cheaper than a ``with`` per call), a ``with`` per call before (numpy 1's decorator
    keeps the previous state on the shared object)."""
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
        return np.errstate(all="ignore")(fn)

    @functools.wraps(fn)
    def ignoring(*args):
        with np.errstate(all="ignore"):
            return fn(*args)

    return ignoring


def _fill_columns(write: Callable, out: np.ndarray) -> None:
    """The hoisted rows of an input matrix, by the program's writer (:func:`_generate_rows_writer`)."""
    n = out.shape[1]
    workers = min(os.cpu_count() or 1, 8, n // (_PARALLEL_POINTS // 2)) if n >= _PARALLEL_POINTS else 1
    if workers <= 1:
        write(out)
        return
    cuts = np.linspace(0, n, workers + 1).astype(int)
    list(thread_pool().map(lambda a, b: write(out[:, a:b]), cuts[:-1], cuts[1:]))


def _generate_rows_writer(columns: Sequence[Expr], rows: Mapping[str, int], first: int) -> Callable:
    """``write(matrix)``: the hoisted ``columns`` into rows ``first, first + 1, ...`` of ``matrix`` (its
    inputs at rows ``rows[name]``), as one generated function under ``np.errstate(all="ignore")``.

    The operations are :func:`_evaluate_expr`'s, in its order (the same values, bit for bit); a
    column's last operation, when a ufunc, writes straight into its row.  One Python frame per call
    instead of a closure per tree node (curve_fit's per-call cost).
    """
    names: dict = {"_call": _evaluate_call}

    def bind(value, prefix: str) -> str:
        key = f"{prefix}{len(names)}"
        names[key] = value
        return key

    def ufunc_of(e: Expr):
        if isinstance(e, Unary):
            return np.negative
        if isinstance(e, Binary) or (isinstance(e, Call) and e.fn in _FUNCTION_OPS):
            op = _OPERATOR_OPS[e.op] if isinstance(e, Binary) else _FUNCTION_OPS[e.fn]
            rule = _BINARY_VALUES[op] if op in BINARY_OPS else _UNARY_RULES[op][0]
            return rule
        return None

    def source(e: Expr) -> str:
        if isinstance(e, Num):
            return bind(np.float64(e.value), "c")
        if isinstance(e, Sym):
            return f"m[{rows[e.name]}]"
        args = ", ".join(source(c) for c in e.children)
        if isinstance(e, Unary):
            return f"(-{args})"
        if isinstance(e, Call) and e.fn not in _FUNCTION_OPS:
            return f"_call({e.fn!r}, [{args}])"
        return f"{bind(ufunc_of(e), 'f')}({args})"

    lines = []
    for k, e in enumerate(columns, start=first):
        rule = ufunc_of(e)
        if isinstance(rule, np.ufunc) and rule.nin == len(e.children):
            args = ", ".join(source(c) for c in e.children)
            lines.append(f"    {bind(rule, 'f')}({args}, m[{k}])")  # the ufunc's out, positional
        else:
            lines.append(f"    m[{k}] = {source(e)}")
    code = "def write(m):\n" + ("\n".join(lines) or "    pass") + "\n"
    exec(compile(code, "<lawfit hoisted rows>", "exec"), names)
    return _ignoring_errors(names["write"])


# --------------------------------------------------------------------------
# Compiler


def _lower(e: Expr, constants: Mapping[str, float], params: frozenset) -> Expr:
    """Simplify bottom-up for code generation.

    Substitutes named constants, rewrites pow/square as ``**``, folds
    symbol-free subtrees, drops ``a**1`` and ``a**0``, and turns a
    parameter-dependent exponent into ``exp(b*log(a))``.  Two rewrites keep
    divisions and negations out of the interpreter's hot loop: ``a / exp(u)``
    becomes ``a * exp(-u)``, and ``-(p * c)`` with ``c`` free of parameters
    becomes ``p * (-c)``, so ``A / N**alpha`` runs as ``A * exp(alpha * c)``
    with the column ``c = -log(N)`` computed once.
    """
    if isinstance(e, Num):
        return e
    if isinstance(e, Sym):
        return Num(constants[e.name]) if e.name in constants else e
    if isinstance(e, Call) and e.fn == "pow":
        e = Binary("**", *e.args)
    elif isinstance(e, Call) and e.fn == "square":
        e = Binary("**", e.args[0], Num(2.0))
    e = e.with_children([_lower(c, constants, params) for c in e.children])
    if not e.symbols:
        return Num(_evaluate_expr(e, {}))
    if isinstance(e, Call) and (e.fn in _CONDITIONS or e.fn in ("logical_not", "where")):
        condition = e.args[0] if e.fn == "where" else e
        if params.intersection(condition.symbols):
            where = " of where()" if e.fn == "where" else ""
            raise ValueError(f"the condition {condition.to_formula()}{where} depends on a parameter "
                             "(conditions may depend on inputs only)")
        if e.fn == "where":
            return _lower_where(*e.args, params)
        return e
    if isinstance(e, Binary) and e.op == "**":
        if e.b == Num(1.0):
            return e.a
        if e.b == Num(0.0):
            return Num(1.0)
        if params.intersection(e.b.symbols):
            return _lower(Call("exp", (Binary("*", e.b, Call("log", (e.a,))),)), constants, params)
    if isinstance(e, Binary) and e.op == "/" and isinstance(e.b, Call) and e.b.fn == "exp":
        return _lower(Binary("*", e.a, Call("exp", (Unary("-", e.b.args[0]),))), constants, params)
    if isinstance(e, Unary) and e.op == "-" and isinstance(e.a, Binary) and e.a.op == "*":
        left, right = e.a.a, e.a.b
        if not params.intersection(right.symbols):
            return Binary("*", left, _lower(Unary("-", right), constants, params))
        if not params.intersection(left.symbols):
            return Binary("*", _lower(Unary("-", left), constants, params), right)
    return e


def _lower_where(c: Expr, a: Expr, b: Expr, params: frozenset) -> Expr:
    """``where(c, a, b)`` with a parameter-free condition, in the interpreters' operations.

    A constant condition picks its branch.  Parameter-free branches stay one
    hoisted ``where`` column.  Otherwise the result is ``m * a' + (1 - m) * b'``
    with the 0/1 column ``m = where(c, 1, 0)``: exact at every point (``1 * v``
    and ``v + 0`` are exact, and so are the derivatives).  ``a'`` is ``a``
    with its input columns guarded (:func:`_guard_values`), so that ``0 * a'``
    is 0 where ``a`` itself would be infinite or NaN (``log(x)`` where
    ``x > 0`` does not hold).
    """
    if isinstance(c, Num):
        return a if c.value != 0 else b
    if not params.intersection(a.symbols + b.symbols):
        return Call("where", (c, a, b))
    mask = Call("where", (c, Num(1.0), Num(0.0)))
    not_c = Call("logical_not", (c,))

    def term(branch: Expr, holds: Expr, weight: Expr, selected_first: bool) -> Expr:
        if not params.intersection(branch.symbols):
            args = (c, branch, Num(0.0)) if selected_first else (c, Num(0.0), branch)
            return Call("where", args)
        return Binary("*", weight, _guard_branch(branch, holds, params))

    return Binary("+", term(a, c, mask, True), term(b, not_c, Binary("-", Num(1.0), mask), False))


def _guard_branch(e: Expr, holds: Expr, params: frozenset) -> Expr:
    """``e`` with every parameter-free subtree over inputs wrapped in ``guard(holds, .)``."""
    if not params.intersection(e.symbols):
        return Call("guard", (holds, e)) if e.symbols else e
    return e.with_children([_guard_branch(child, holds, params) for child in e.children])


def _is_small_integer(e: Expr) -> bool:
    return isinstance(e, Num) and e.value.is_integer() and abs(e.value) <= 64


def _generate(tree: Expr, inputs: list[str], params: list[str]):
    """Postfix code, constants and columns; hoists parameter-free input subtrees."""
    code: list[tuple[int, int]] = []
    consts: list[float] = []
    const_index: dict[str, int] = {}
    columns = {Sym(name): k for k, name in enumerate(inputs)}
    param_index = {name: j for j, name in enumerate(params)}

    def emit(e: Expr) -> None:
        if not any(s in param_index for s in e.symbols):
            if e.symbols:  # depends on inputs only: one (possibly shared) column
                code.append((Op.INPUT, columns.setdefault(e, len(columns))))
            else:
                key = e.value.hex()
                if key not in const_index:
                    const_index[key] = len(consts)
                    consts.append(e.value)
                code.append((Op.CONST, const_index[key]))
            return
        if isinstance(e, Sym):
            code.append((Op.PARAM, param_index[e.name]))
            return
        if isinstance(e, Binary) and e.op == "**" and _is_small_integer(e.b):
            emit(e.a)
            code.append((Op.POWI, int(e.b.value)))
            return
        for child in e.children:
            emit(child)
        if isinstance(e, Unary):
            code.append((Op.NEG, 0))
        elif isinstance(e, Binary):
            code.append((_OPERATOR_OPS[e.op], 0))
        else:
            code.append((_FUNCTION_OPS[e.fn], 0))

    emit(tree)
    return code, consts, list(columns)


def _name_list(names: Union[str, Sequence[str]]) -> list[str]:
    return [names] if isinstance(names, str) else list(names)


def compile_law(
    law: Union[str, Expr],
    inputs: Union[str, Sequence[str]],
    params: Union[str, Sequence[str], None] = None,
) -> Program:
    """Compile a formula into a law program.

    Parameters
    ----------
    law : str or Expr
        The formula.
    inputs : list of str
        Names of the input variables, in the row order of the data.
    params : list of str, optional
        Parameter names in fitting order.  By default every other symbol, in
        order of first appearance.  A listed parameter need not appear (its
        gradient is zero).  ``pi`` is the constant unless listed as a name.

    Raises
    ------
    ValueError
        For a malformed formula, duplicate names, a symbol that is neither
        input nor parameter, more than ``MAX_PARAMS`` parameters, or a program
        deeper than ``MAX_STACK``.
    """
    try:
        return _compile(law, inputs, params)
    except RecursionError:  # a hand-built Expr or a traced function nested too deeply
        raise ValueError(f"formula nested too deeply to compile (more than about {MAX_DEPTH} levels)") from None


def _compile(law, inputs, params) -> Program:
    expr = parse(law) if isinstance(law, str) else law
    inputs = _name_list(inputs)
    listed = inputs + ([] if params is None else _name_list(params))
    for name in listed:
        if listed.count(name) > 1:
            raise ValueError(f"duplicate name {name!r} among inputs and parameters")
    constants = {} if "pi" in listed else {"pi": math.pi}
    free = [s for s in expr.symbols if s not in inputs and s not in constants]
    if params is None:
        params = free
    else:
        params = _name_list(params)
        for s in free:
            if s not in params:
                raise ValueError(
                    f"unknown symbol {s!r}: not an input ({', '.join(inputs)}) "
                    f"nor a parameter ({', '.join(params)})")
    if len(params) > MAX_PARAMS:
        raise ValueError(f"a law may have at most {MAX_PARAMS} parameters, got {len(params)}")
    with np.errstate(all="ignore"):
        tree = _lower(expr, constants, frozenset(params))
    code, consts, columns = _generate(tree, inputs, params)
    depth = max_stack = 0
    for op, _ in code:
        depth += stack_effect(op)
        max_stack = max(max_stack, depth)
    if max_stack > MAX_STACK:
        raise ValueError(
            f"the program needs a stack of {max_stack} values; the limit is {MAX_STACK}")
    return Program(
        code=np.ascontiguousarray(np.array(code, dtype=np.int32).reshape(-1, 2)),
        consts=np.array(consts, dtype=np.float64),
        input_names=inputs,
        param_names=params,
        columns=columns,
        max_stack=max_stack,
        formula=law if isinstance(law, str) else expr.to_formula(),
    )


@dataclass(eq=False)
class Program:
    """A compiled law: postfix code over input columns and parameters.

    Attributes
    ----------
    code : ndarray of int32, shape (n_instr, 2)
        ``(opcode, argument)`` rows, C-contiguous.
    consts : ndarray of float64
        Constants referenced by ``CONST`` instructions.
    input_names, param_names : list of str
        The user's inputs and the parameters, in order.
    columns : list of Expr
        What each input column holds: the user's inputs (as `Sym`) first, then
        the hoisted subtrees.  ``INPUT k`` reads column ``k``.
    max_stack : int
        Deepest stack the code reaches.
    formula : str
        The law as given (or as formatted from the tree).
    """

    code: np.ndarray
    consts: np.ndarray
    input_names: list[str]
    param_names: list[str]
    columns: list[Expr]
    max_stack: int
    formula: str
    _hoisted_memo = None  # (input bytes, hoisted rows or None) of the last small input_matrix call; not a field

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    @property
    def n_columns(self) -> int:
        return len(self.columns)

    @cached_property
    def key(self) -> tuple:
        """What identifies the compiled law: the code's and constants' bytes and the number of
        parameters (the key of the built-in catalog, the compile cache and the loaded laws)."""
        return (np.ascontiguousarray(self.code, dtype=np.int32).tobytes(),
                np.ascontiguousarray(self.consts, dtype=np.float64).tobytes(), len(self.param_names))

    def __repr__(self) -> str:
        return (f"Program({self.formula!r}, inputs={self.input_names}, params={self.param_names}, "
                f"{len(self.code)} instructions, {self.n_columns - len(self.input_names)} hoisted)")

    def describe(self) -> str:
        """The program, one instruction per line, for debugging."""
        lines = [repr(self)]
        for i, (code, arg) in enumerate(self.code.tolist()):
            op = Op(code)
            note = ""
            if op is Op.CONST:
                note = repr(float(self.consts[arg]))
            elif op is Op.INPUT:
                note = self.columns[arg].to_formula()
            elif op is Op.PARAM:
                note = self.param_names[arg]
            lines.append(f"{i:4d}  {op.name:<8} {arg:3d}  {note}".rstrip())
        return "\n".join(lines)

    def input_matrix(self, x, out: np.ndarray | None = None) -> np.ndarray:
        """All input columns, derived ones computed, as the interpreters read them.

        Parameters
        ----------
        x : array_like or mapping
            A 1-D array (one input), an ``(n_inputs, n_points)`` array, or a
            mapping from input name to values (extra keys are ignored).

        out : ndarray, optional
            Where to write the result (shape (n_columns, n_points), float64).

        Returns
        -------
        ndarray of float64, shape (n_columns, n_points), C-contiguous
        """
        names = self.input_names
        rows: list | np.ndarray
        if type(x) is np.ndarray and (x.dtype is _F64 or x.dtype == _F64) and (
                x.ndim == 2 and x.shape[0] == len(names) or x.ndim == 1 and len(names) == 1):
            rows, n = x, x.shape[-1]  # the common case, ready as it is: (n_inputs, n) or one input (n,)
        elif isinstance(x, Mapping):
            missing = [n for n in names if n not in x]
            if missing:
                raise ValueError(f"missing input {missing[0]!r}")
            rows = [np.asarray(x[n], dtype=np.float64).ravel() for n in names]
            if len({r.size for r in rows}) > 1:
                sizes = ", ".join(f"{n}: {r.size}" for n, r in zip(names, rows))
                raise ValueError(f"inputs have different lengths ({sizes})")
            n = rows[0].size if rows else 0
        else:
            x = np.asarray(x, dtype=np.float64)
            if x.ndim == 1 and len(names) == 1:
                x = x[np.newaxis]
            if x.ndim != 2 or x.shape[0] != len(names):
                raise ValueError(
                    f"expected {len(names)} input row(s) ({', '.join(names)}), got shape {x.shape}")
            rows, n = x, x.shape[1]
        if out is None:
            out = np.empty((len(self.columns), n))
        first = len(names)
        if type(rows) is np.ndarray:
            out[:first] = rows
            key = rows  # its bytes are those of out[:first]
        else:
            for k, r in enumerate(rows):  # straight into the matrix: no stacked intermediate
                out[k] = r
            key = out[:first]
        if len(self.columns) > first:
            if n > _MEMO_POINTS:
                _fill_columns(self._rows_writer, out)
                return out
            # One law fitted again and again on the same x (curve_fit in a loop): the hoisted
            # rows of a small input seen twice in a row are kept, and reused while the inputs
            # are the same bytes (an input seen once costs no copy).
            key = key.tobytes()
            memo = self._hoisted_memo
            if memo is not None and memo[0] == key:
                if memo[1] is not None:
                    out[first:] = memo[1]
                    return out
                self._rows_writer(out)  # small: on this thread
                self._hoisted_memo = (key, out[first:].copy())
                return out
            self._rows_writer(out)
            self._hoisted_memo = (key, None)
        return out

    def __getstate__(self) -> dict:
        """Pickled without the generated writer (made again, on first use, where it is unpickled)."""
        state = self.__dict__.copy()
        state.pop("_rows_writer", None)
        return state

    @cached_property
    def _rows_writer(self) -> Callable:
        """The hoisted rows' writer (:func:`_generate_rows_writer`), generated once per program."""
        first = len(self.input_names)
        rows = {name: k for k, name in enumerate(self.input_names)}
        return _generate_rows_writer(self.columns[first:], rows, first)

    def evaluate(self, params, x) -> tuple[np.ndarray, np.ndarray]:
        """Value and parameter gradient at every point (numpy reference).

        ``x`` is anything `input_matrix` accepts.  Returns arrays of shapes
        ``(n_points,)`` and ``(n_points, n_params)``.
        """
        return self.evaluate_columns(params, self.input_matrix(x))

    def evaluate_columns(self, params, columns) -> tuple[np.ndarray, np.ndarray]:
        """`evaluate` on a ready input matrix ``(n_columns, n_points)``.

        Runs the code with forward-mode derivatives exactly as the
        interpreters do: a stack slot carries gradient rows only for the
        parameters it depends on (the others are exactly zero and never
        multiplied), and each operation combines rows as
        ``da * grad_a + db * grad_b``.
        """
        p = np.asarray(params, dtype=np.float64)
        columns = np.asarray(columns, dtype=np.float64)
        if p.shape != (self.n_params,):
            raise ValueError(f"expected {self.n_params} parameters, got shape {p.shape}")
        if columns.ndim != 2 or columns.shape[0] != self.n_columns:
            raise ValueError(f"expected an input matrix with {self.n_columns} rows, "
                             f"got shape {columns.shape}")
        n = columns.shape[1]
        stack = []  # (value (n,), gradient (n, P), dependency mask (P,))
        with np.errstate(all="ignore"):
            for code, arg in self.code.tolist():
                op = Op(code)
                if op in LEAF_OPS:
                    mask = np.zeros(self.n_params, dtype=bool)
                    grad = np.zeros((n, self.n_params))
                    if op is Op.CONST:
                        value = np.full(n, self.consts[arg])
                    elif op is Op.INPUT:
                        value = columns[arg].copy()
                    else:
                        value = np.full(n, p[arg])
                        mask[arg] = True
                        grad[:, arg] = 1.0
                    stack.append((value, grad, mask))
                elif op in BINARY_OPS:
                    b, gb, mb = stack.pop()
                    a, ga, ma = stack.pop()
                    value, da, db = _binary_rule(op, a, b)
                    grad = (np.where(ma, _column(da) * ga, 0.0)
                            + np.where(mb, _column(db) * gb, 0.0))
                    stack.append((value, grad, ma | mb))
                else:
                    a, ga, ma = stack.pop()
                    if op is Op.POWI:
                        value, d = _powi_rule(a, arg)
                    else:
                        f, df = _UNARY_RULES[op]
                        value = f(a)
                        d = df(a, value)
                    stack.append((value, np.where(ma, _column(d) * ga, 0.0), ma))
        value, grad, _ = stack.pop()
        return value, grad


def _column(d) -> np.ndarray:
    """A per-point derivative (or a scalar) shaped to scale gradient rows."""
    return np.reshape(d, (-1, 1))


# --------------------------------------------------------------------------
# Tracing lives in lawfit.tracing; these names stay importable from here.

_TRACING_NAMES = {"TraceError": "TraceError", "trace": "trace_function", "trace_checked": "trace_checked"}


def __getattr__(name: str):
    if name in _TRACING_NAMES:
        from . import tracing

        return getattr(tracing, _TRACING_NAMES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
