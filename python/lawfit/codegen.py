"""Straight-line C++ for one law program: the interpreter's arithmetic without dispatch.

:func:`runner_source` turns a compiled :class:`~lawfit.formula.Program` into
a C++ struct with the same ``run()`` as the interpreter's
(``cpp/lawfit/evaluator.hpp``, ``Interpreter``): one loop over the 16 points
of a block whose body holds every operation of the law and of its gradient,
with the dependency masks resolved when the code is generated.  Each value and
gradient row is computed by the same floating-point operations, in the same
order, as ``cpp/lawfit/program.hpp`` computes it, so with multiply-add
contraction off (the core's build flags) the results are bit-identical to the
interpreter's; the tests check that.

The source is device-agnostic (``LAWFIT_HD``): :mod:`lawfit.engine.jit` compiles it
for the CPU with the system's C++ compiler; the same text is what an NVRTC
path on the GPU would compile (not built: see the README's GPU notes).

Safe by construction: the generator reads only the program's opcodes and
arguments (as integers), its constants (as float64, written as exact
hexadecimal literals) and the number of its parameters and columns -- never a
name, a formula or any other text a user wrote.  What it emits is fixed
template text, identifiers it made itself (``t12``, ``p3``, ``x0``) and numeric
literals; :func:`audit_source` checks exactly that on every file before it is
compiled, and the tests fuzz it with hostile names and constants.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from .opcodes import Op

__all__ = ["runner_source", "size_class", "audit_source"]

_BINARY = {Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.POW, Op.MIN, Op.MAX}
_LEAVES = {Op.CONST, Op.INPUT, Op.PARAM}


def size_class(n_params: int) -> int:
    """Gradient rows the scratch holds (batch.hpp's size classes: 4, 8 or 16)."""
    for cap in (4, 8, 16):
        if n_params <= cap:
            return cap
    raise ValueError(f"a law may have at most 16 parameters, got {n_params}")


def _literal(c: float) -> str:
    """An exact C++ literal for a double."""
    c = float(c)
    if math.isnan(c):
        return "(0.0 / 0.0)"
    if math.isinf(c):
        return "(1.0 / 0.0)" if c > 0 else "(-1.0 / 0.0)"
    return f"{c.hex()}"  # hexadecimal floating literal: exact


@dataclass
class _Slot:
    value: str
    grads: dict = field(default_factory=dict)  # parameter index -> expression name


_LANE_TERM = re.compile(r"\bx\d+\[i\]|\bt\d+\b")


class _Emitter:
    """Named temporaries; those that depend on no input (parameters and
    constants only: e.g. exp(e) of a log-parameterised law) are computed once
    before the loop over points (``invariant``), the rest inside it (``lines``).
    Same operations either way; hoisting also keeps GCC vectorising the loop,
    which it refuses when an invariant exp sits inside it."""

    def __init__(self):
        self.lines: list[str] = []
        self.invariant: list[str] = []
        self.lane_names: set[str] = set()
        self.n = 0

    def let(self, expr: str) -> str:
        name = f"t{self.n}"
        self.n += 1
        lane = any(term.startswith("x") or term in self.lane_names for term in _LANE_TERM.findall(expr))
        (self.lines if lane else self.invariant).append(f"const double {name} = {expr};")
        if lane:
            self.lane_names.add(name)
        return name


def _combine(em: _Emitter, a: _Slot, b: _Slot, da: str, db: str) -> dict:
    """Rows of d(out) = da * d(a) + db * d(b), as program.hpp writes them."""
    rows = {}
    for j in sorted(set(a.grads) | set(b.grads)):
        in_a, in_b = j in a.grads, j in b.grads
        if in_a and in_b:
            rows[j] = em.let(f"{da} * {a.grads[j]} + {db} * {b.grads[j]}")
        elif in_a:
            rows[j] = em.let(f"{da} * {a.grads[j]}")
        else:
            rows[j] = em.let(f"{db} * {b.grads[j]}")
    return rows


def _binary(em: _Emitter, op: Op, a: _Slot, b: _Slot) -> _Slot:
    if op in (Op.ADD, Op.SUB):
        sign = "+" if op == Op.ADD else "-"
        rows = dict(a.grads)
        for j, h in b.grads.items():
            rows[j] = em.let(f"{a.grads[j]} {sign} {h}" if j in a.grads else (h if op == Op.ADD else f"-{h}"))
        return _Slot(em.let(f"{a.value} {sign} {b.value}"), rows)
    if op == Op.MUL:
        return _Slot(em.let(f"{a.value} * {b.value}"), _combine(em, a, b, b.value, a.value))
    if op == Op.DIV:
        rb = em.let(f"1.0 / {b.value}")  # one division per lane, as the interpreter
        q = em.let(f"{a.value} * {rb}")
        db = em.let(f"-{q} * {rb}")
        return _Slot(q, _combine(em, a, b, rb, db))
    if op == Op.POW:
        v = em.let(f"std::pow({a.value}, {b.value})")
        da = em.let(f"{b.value} * std::pow({a.value}, {b.value} - 1.0)")
        db = em.let(f"{v} * std::log({a.value})") if b.grads else "0.0"
        return _Slot(v, _combine(em, a, b, da, db))
    # MIN, MAX
    cmp = "<=" if op == Op.MIN else ">="
    take = f"({a.value} {cmp} {b.value})"
    da, db = em.let(f"{take} ? 1.0 : 0.0"), em.let(f"{take} ? 0.0 : 1.0")
    rows = _combine(em, a, b, da, db)
    return _Slot(em.let(f"{take} ? {a.value} : {b.value}"), rows)


# Unary operations as program.hpp computes them: (first, second) steps, each
# naming what it computes ("v" the value, "d" the derivative) and its
# expression in x (the operand) and whichever of v, d came first.
_UNARY = {
    Op.NEG: (("v", "-{x}"), ("d", "-1.0")),
    Op.EXP: (("v", "lawfit::math::exp({x})"), ("d", "{v}")),
    Op.LOG: (("d", "1.0 / {x}"), ("v", "lawfit::math::log({x})")),
    Op.LOG10: (("d", "1.0 / ({x} * 2.302585092994046)"), ("v", "lawfit::math::log({x}) * 0.43429448190325176")),
    Op.LOG1P: (("d", "1.0 / (1.0 + {x})"), ("v", "std::log1p({x})")),
    Op.EXPM1: (("d", "lawfit::math::exp({x})"), ("v", "std::expm1({x})")),
    Op.SQRT: (("v", "std::sqrt({x})"), ("d", "0.5 / {v}")),
    Op.ABS: (("d", "{x} > 0 ? 1.0 : ({x} < 0 ? -1.0 : 0.0)"), ("v", "std::fabs({x})")),
    Op.SIN: (("d", "std::cos({x})"), ("v", "std::sin({x})")),
    Op.COS: (("d", "-std::sin({x})"), ("v", "std::cos({x})")),
    Op.TAN: (("v", "std::tan({x})"), ("d", "1.0 + {v} * {v}")),
    Op.ARCTAN: (("d", "1.0 / (1.0 + {x} * {x})"), ("v", "std::atan({x})")),
    Op.TANH: (("v", "std::tanh({x})"), ("d", "1.0 - {v} * {v}")),
    Op.SIGMOID: (("v", "lawfit::detail::sigmoid({x})"), ("d", "{v} * (1.0 - {v})")),
    Op.SOFTPLUS: (("d", "lawfit::detail::sigmoid({x})"),
                  ("v", "({x} > 0 ? {x} : 0.0) + std::log1p(lawfit::math::exp(-({x} < 0 ? -{x} : {x})))")),
    Op.LGAMMA: (("d", "lawfit::math::digamma({x})"), ("v", "lawfit::math::lgamma({x})")),
}


def _powi(em: _Emitter, arg: int, x: str) -> tuple[str, str]:
    """(value, derivative) of x**arg by repeated multiplication, as the interpreter."""
    if not -64 <= arg <= 64:
        raise ValueError(f"POWI exponent {arg} out of range")
    n = abs(arg)
    pm1 = "1.0"
    for _ in range(1, n):
        pm1 = em.let(f"{pm1} * {x}")
    pn = "1.0" if n == 0 else em.let(f"{pm1} * {x}")
    if arg >= 0:
        return pn, em.let(f"{_literal(float(n))} * {pm1}")
    v = em.let(f"1.0 / {pn}")
    return v, em.let(f"{_literal(float(-n))} * {v} / {x}")


def _unary(em: _Emitter, op: Op, arg: int, a: _Slot) -> _Slot:
    if op == Op.POWI:
        v, d = _powi(em, arg, a.value)
    elif op in _UNARY:
        got = {"x": a.value}
        for what, expr in _UNARY[op]:
            text = expr.format(**got)
            got[what] = text if text in ("-1.0", got.get("v")) else em.let(text)
        v, d = got["v"], got["d"]
    else:
        raise ValueError(f"opcode {op!r} has no code generator")
    return _Slot(v, {j: em.let(f"{g} * {d}") for j, g in a.grads.items()})


def runner_source(program, name: str = "GeneratedRunner") -> str:
    """C++ source of a struct ``name`` with the interpreter's ``run()`` for ``program``.

    Raises ValueError for programs the interpreter would reject (stack
    misuse, inputs or parameters out of range, unknown opcodes).
    """
    if not _IDENTIFIER.fullmatch(name) or name in _VOCABULARY - {"GeneratedRunner"}:
        raise ValueError("name must be a plain C++ identifier")
    P, n_cols = int(len(program.param_names)), int(program.n_columns)
    code = np.asarray(program.code)
    if code.dtype.kind not in "iu" or code.ndim != 2 or code.shape[1] != 2:
        raise ValueError("the program's code must be an integer array of (opcode, argument) rows")
    consts = np.asarray(program.consts, dtype=np.float64).ravel()
    em = _Emitter()
    stack: list[_Slot] = []
    inputs: set[int] = set()
    for op_code, arg in code.tolist():
        op, arg = Op(int(op_code)), int(arg)
        if op in _LEAVES:
            if op == Op.CONST:
                if not 0 <= arg < consts.size:
                    raise ValueError(f"constant {arg} out of range")
                stack.append(_Slot(_literal(consts[arg])))
            elif op == Op.INPUT:
                if not 0 <= arg < n_cols:
                    raise ValueError(f"input column {arg} out of range")
                inputs.add(arg)
                stack.append(_Slot(f"x{arg}[i]"))
            else:
                if not 0 <= arg < P:
                    raise ValueError(f"parameter {arg} out of range")
                stack.append(_Slot(f"p{arg}", {arg: "1.0"}))
        elif op in _BINARY:
            if len(stack) < 2:
                raise ValueError("the program pops more values than it pushes")
            b, a = stack.pop(), stack.pop()
            stack.append(_binary(em, op, a, b))
        else:
            if not stack:
                raise ValueError("the program pops more values than it pushes")
            stack.append(_unary(em, op, arg, stack.pop()))
    if len(stack) != 1:
        raise ValueError("the program must leave exactly one value")
    out = stack[0]
    mask = sum(1 << j for j in out.grads)
    body = "\n            ".join(em.lines)
    stores = "\n            ".join([f"s.val[0][i] = {out.value};"] +
                                   [f"s.grad[0][{j}][i] = {g};" for j, g in sorted(out.grads.items())])
    def pad_to(width: str) -> str:
        return "\n        ".join(
            f"const double* in{c} = columns + {c} * col_stride + point0;\n"
            f"        alignas(64) double x{c}[B];\n"
            f"        lawfit::detail::load_lanes<{width}>(x{c}, in{c}, nb, in{c}[nb - 1]);  // pad: see run_block"
            for c in sorted(inputs))
    pad, pad_lanes = pad_to("B"), pad_to("W")
    params = "\n        ".join([f"const double p{j} = params[{j}];" for j in range(P)] + em.invariant)
    rows = sorted(out.grads.items())
    # The fused accumulation: accumulate_block's operations with the masks
    # resolved (every row of kMask free), in its order: log residuals first
    # (value to log, rows times 1/value), then the loss's weights of r and of
    # J J^T, then the sums.
    fused = ["double fv = " + f"{out.value};"]
    grads = {j: f"g{j}" for j, _ in rows}
    fused += [f"double g{j} = {gj};" for j, gj in rows]
    fused += ["if (kLog) {", "    const double inv_f = 1.0 / fv;", "    fv = lawfit::math::log(fv);"]
    fused += [f"    g{j} *= inv_f;" for j, _ in rows] + ["}"]
    fused += ["const double r = fv - yv[i];", "double wr, wt;",
              "if (kLoss == lawfit::Loss::L2) {", "    wt = kUnit ? 1.0 : wv[i] * mult[i];",
              "    wr = kUnit ? r : wt * r;",
              "    acc.cost[lane0 + i] += wr * r;", "} else {",
              "    lawfit::detail::robust_point<kLoss == lawfit::Loss::HUBER>(r, wv[i], mult[i], d2, floor, "
              "acc.cost[lane0 + i], wr, wt);", "}"]
    for first, (j, _) in enumerate(rows):
        fused += [f"acc.g[{j}][lane0 + i] += wr * {grads[j]};", f"const double wg{j} = wt * {grads[j]};"]
        fused += [f"acc.A[{j}][{k}][lane0 + i] += wg{j} * {grads[k]};" for k, _ in rows[first:]]
    fused_body = "\n            ".join(fused)
    source = f"""// Generated by lawfit.codegen for one law program ({P} parameters); do not edit.
struct {name} {{
    static constexpr std::uint32_t kMask = {mask}u;  // parameters the law depends on
    static constexpr bool kFused = true;          // has run_fused (evaluator.hpp)

    template <int B, int NP, int NS>
    LAWFIT_HD static bool run(const lawfit::ProgramView&, const double* columns, std::int64_t col_stride,
                              std::int64_t point0, int nb, const double* params, std::uint32_t free_mask,
                              lawfit::BlockScratch<B, NP, NS>& s) {{
        static_assert(NP >= {max(P, 1)}, "scratch too small for this law");
        (void)col_stride; (void)point0; (void)nb; (void)params;
        {pad}
        {params}
        LAWFIT_LANES for (int i = 0; i < B; ++i) {{
            {body}
            {stores}
        }}
        s.mask[0] = kMask & free_mask;
        return true;
    }}

    // run() and the accumulation of accumulate_block in one pass over the
    // block, for linear (or, kLog, log) residuals and the losses L2, HUBER and
    // SOFT_L1 (every parameter of kMask free); counts: the block's bootstrap
    // multiplicities, or null for the data as given; d2 = delta^2.
    // W lanes (W <= B) from lane0 on: points point0 .. point0 + nb - 1 go to
    // lanes lane0 .. lane0 + nb - 1 of acc.
    // kUnit: L2, a whole block, no weights or counts (every weight 1, which
    // multiplies exactly: the same bits without the multiplications).
    template <int B, int NP, bool kLog, lawfit::Loss kLoss, int W, bool kUnit = false>
    LAWFIT_HD static void run_fused(const double* columns, std::int64_t col_stride, std::int64_t point0, int nb,
                                    const double* params, const double* y, const double* weight,
                                    const std::int32_t* counts, double d2, double floor,
                                    lawfit::Accumulator<B, NP>& acc, int lane0) {{
        static_assert(!kUnit || (kLoss == lawfit::Loss::L2 && W == B), "unit weights: L2 on whole blocks");
        (void)col_stride; (void)params; (void)d2; (void)floor;
        {pad_lanes}
        {params}
        alignas(64) double yv[B], wv[B], mult[B];
        lawfit::detail::load_lanes<W>(yv, y + point0, nb, y[point0 + nb - 1]);
        if (!kUnit) {{
            if (weight) {{
                lawfit::detail::load_lanes<W>(wv, weight + point0, nb, 0.0);
            }} else {{
                lawfit::detail::fill_lanes<W>(wv, nb, 1.0, 0.0);
            }}
            if (counts) {{
                lawfit::detail::load_lanes<W>(mult, counts, nb, 0.0);
            }} else {{
                lawfit::detail::fill_lanes<W>(mult, nb, 1.0, 0.0);
            }}
        }}
        LAWFIT_LANES for (int i = 0; i < W; ++i) {{
            {body}
            {fused_body}
        }}
    }}
}};
"""
    audit_source(source)
    return source


# --------------------------------------------------------------------------
# The audit: what generated code may contain

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Names the generator makes: temporaries, parameters, input columns and their pointers, fused gradients and weights.
_GENERATED = re.compile(r"(?:t|p|x|in|wg|g)\d+")
#: Every other identifier the templates (here and in lawfit.engine.jit's entry points) write.
_VOCABULARY = frozenset("""
    struct static constexpr const bool true std uint32_t uint64_t int64_t int32_t template int double void
    return for if u ull alignas sizeof unsigned char __attribute__ visibility used
    LAWFIT_HD LAWFIT_LANES lawfit ProgramView BlockScratch Accumulator math detail exp log sigmoid pow log1p
    lgamma digamma
    expm1 sqrt fabs sin cos tan atan tanh static_assert GeneratedRunner kMask run B NP NS
    columns col_stride point0 nb params free_mask s val grad mask i y weight acc yv wv mult r wt wr cost g A
    lawfit_jit_program code n_instr const_bits n_consts n_params kCode kConstBits
    lawfit_jit_signature size kSignature
    kFused run_fused kLog kLoss Loss L2 HUBER robust_point fv inv_f d2 floor counts counts_size else W lane0
    load_lanes fill_lanes kUnit false
""".split())
#: The only comments and strings templates write.
_FIXED_TEXT = frozenset([
    "// parameters the law depends on", "// has run_fused (evaluator.hpp)", "// pad: see run_block",
    "// run() and the accumulation of accumulate_block in one pass over the",
    "// block, for linear (or, kLog, log) residuals and the losses L2, HUBER and",
    "// SOFT_L1 (every parameter of kMask free); counts: the block's bootstrap",
    "// multiplicities, or null for the data as given; d2 = delta^2.",
    "// W lanes (W <= B) from lane0 on: points point0 .. point0 + nb - 1 go to",
    "// lanes lane0 .. lane0 + nb - 1 of acc.",
    "// kUnit: L2, a whole block, no weights or counts (every weight 1, which",
    "// multiplies exactly: the same bits without the multiplications).",
    '"scratch too small for this law"', '"unit weights: L2 on whole blocks"', '"default"',
])
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>//[^\n]*)
  | (?P<string>"[^"\\\n]*")
  | (?P<number>0[xX][0-9a-fA-F]*(?:\.[0-9a-fA-F]*)?(?:[pP][+-]?[0-9]+)?(?:ull|u)?
              |[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?(?:ull|u)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>::|\+\+|\+=|-=|\*=|<=|>=|==|!=|&&|\|\||[{}()\[\];,<>=!+\-*/?:.&])
""", re.VERBOSE)
_HEADER = re.compile(r"// Generated by lawfit\.codegen for one law program \(\d+ parameters\); do not edit\.")


def audit_source(source: str) -> None:
    """Raise ValueError unless ``source`` holds only template text, identifiers the
    generator made (``t12``, ``p3``, ``x0``, ``in0``, ``wg2``), numeric literals and
    the templates' fixed comments and strings.

    This is what keeps text from outside -- a parameter or input name, a
    formula, a preprocessor line -- out of the C++ that :mod:`lawfit.engine.jit`
    compiles, whatever the program object holds.

    Examples
    --------
    >>> audit_source("const double t0 = p0 * 0x1.8p+1;")
    >>> audit_source('#include "evil.h"')
    Traceback (most recent call last):
    ...
    ValueError: generated code holds unexpected text at offset 0: '#include "evil.h"'
    """
    pos = 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        kind = m.lastgroup if m else None
        text = m.group() if m else ""
        ok = m is not None and (
            kind in ("space", "number", "punct")
            or (kind == "name" and (text in _VOCABULARY or _GENERATED.fullmatch(text) is not None))
            or (kind in ("comment", "string") and (text in _FIXED_TEXT or _HEADER.fullmatch(text) is not None)))
        if not ok or m is None:
            raise ValueError(f"generated code holds unexpected text at offset {pos}: {source[pos:pos + 40]!r}")
        pos = m.end()
