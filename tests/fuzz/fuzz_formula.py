"""Fuzz the formula parser and compiler with atheris.

    pip install atheris
    python tests/fuzz/fuzz_formula.py -max_total_time=300 -timeout=20 [corpus_dir]

The contract under test (`check_formula`):

* ``lawfit.parse`` and ``lawfit.compile_law`` either succeed or raise
  ``ValueError`` with a message: no other exception, no crash, no hang;
* a parsed tree prints back to text that parses to an equal tree;
* a compiled program runs in the C++ interpreter (``lawfit._core.evaluate``)
  with outputs of the right shapes, and where the numpy reference evaluator's
  value is finite, moderate and well-conditioned the C++ value agrees with it.

Inputs are raw text half of the time and token soup (names, numbers,
operators, functions, parentheses) the other half, which reaches deep into
the grammar.  tests/formula/test_fuzz_quick.py runs the same target on seeded random
inputs in CI; a failure there or here prints the offending formula.
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _source import Source, run_atheris  # noqa: E402

TOKENS = (["x", "y", "N", "D", "a", "b", "c", "E", "A", "alpha", "pi", "_p", "x1", "q"]
          + ["0", "1", "2", "3", "0.5", "1e-3", "1e308", "1e999", ".5", "2.", "64", "65", "-1"]
          + ["+", "-", "*", "/", "**", "^", "(", ")", ",", "(", ")", " ", "e", "E5"]
          + ["exp(", "log(", "log10(", "log1p(", "expm1(", "sqrt(", "abs(", "sin(", "cos(", "tan(",
             "arctan(", "atan(", "tanh(", "sigmoid(", "softplus(", "pow(", "minimum(", "maximum(",
             "min(", "max(", "square(", "lgamma(", "foo("])
INPUTS = ["x", "y", "N", "D"]
N_POINTS = 7


FUNCTIONS = ["exp", "log", "log10", "log1p", "expm1", "sqrt", "abs", "sin", "cos", "tan", "arctan",
             "tanh", "sigmoid", "softplus", "square", "lgamma"]
FUNCTIONS2 = ["pow", "minimum", "maximum", "min", "max"]
LEAVES = ["x", "y", "N", "D", "a", "b", "c", "E", "alpha", "pi", "0", "1", "2", "0.5", "3e-2", "1e300"]


def grammar_text(src: Source, depth: int = 0) -> str:
    """A well-formed formula (the parser's grammar), up to 6 levels deep."""
    kind = src.int(0, 9) if depth < 6 else 0
    if kind <= 2:
        return src.pick(LEAVES)
    if kind <= 5:
        op = src.pick(["+", "-", "*", "/", "**", "^"])
        return f"{grammar_text(src, depth + 1)} {op} {grammar_text(src, depth + 1)}"
    if kind == 6:
        return f"-{grammar_text(src, depth + 1)}"
    if kind == 7:
        return f"({grammar_text(src, depth + 1)})"
    if kind == 8:
        return f"{src.pick(FUNCTIONS)}({grammar_text(src, depth + 1)})"
    return f"{src.pick(FUNCTIONS2)}({grammar_text(src, depth + 1)}, {grammar_text(src, depth + 1)})"


def deep_text(src: Source) -> str:
    """Long chains that only nesting limits stop: --x, x**x**x, (((x))), f(f(x))."""
    n = src.int(50, 600)
    form = src.int(0, 4)
    if form == 0:
        return "-" * n + "a*x"
    if form == 1:
        return "x" + "**a" * n
    if form == 2:
        return "(" * n + "a*x" + ")" * n
    if form == 3:
        return "exp(" * n + "a*x" + ")" * n
    return "a" + " + x" * n  # long but shallow in the parser, deep as a left-leaning tree


def formula_text(src: Source) -> str:
    mode = src.int(0, 9)
    if mode <= 2:
        return src.text(120)
    if mode <= 5:
        return "".join(src.pick(TOKENS) for _ in range(src.int(1, 40)))
    if mode == 6:
        return deep_text(src)
    text = grammar_text(src)
    if src.chance(4):  # one small mutation: drop or insert a token-sized piece
        i = src.int(0, len(text))
        text = text[:i] + src.pick(TOKENS) + text[i + src.int(0, 2):]
    return text


def check_formula(text: str, inputs=None, params=None) -> str:
    """Run one formula through the contract; returns how far it got."""
    import lawfit
    from lawfit import _core

    inputs = INPUTS if inputs is None else inputs
    try:
        tree = lawfit.parse(text)
    except ValueError:
        return "rejected by parse"
    again = lawfit.parse(tree.to_formula())
    assert again == tree, f"round trip changed the tree: {text!r} -> {tree.to_formula()!r}"
    try:
        program = lawfit.compile_law(text, inputs, params)
    except ValueError:
        return "rejected by compile_law"
    P = program.n_params
    assert program.code.dtype == np.int32 and program.code.ndim == 2 and program.code.shape[1] == 2
    assert program.max_stack <= lawfit._core.MAX_STACK and P <= lawfit.MAX_PARAMS
    grid = np.linspace(0.25, 3.0, N_POINTS)
    columns = program.input_matrix({name: grid * (1 + k) for k, name in enumerate(inputs)})
    p = np.linspace(0.4, 1.6, P)
    value, grad = _core.evaluate(program.code, program.consts, P, columns, p)
    assert value.shape == (N_POINTS,) and grad.shape == (N_POINTS, P)
    with np.errstate(all="ignore"):
        ref, _ = program.evaluate_columns(p, columns)
        # Points where the value hangs on the last bits (tan of 1e300, x - x*(1+1e-15))
        # are left out: a 1-ulp difference inside exp or log legitimately changes them.
        # Their tell: moving the parameters by 1e-9 (relative) moves the value by far more.
        nudged, _ = program.evaluate_columns(p * (1 + 1e-9), columns)
        stable = np.abs(nudged - ref) <= 1e-7 * np.abs(ref)
    moderate = stable & np.isfinite(ref) & (np.abs(ref) < 1e100) & (np.abs(ref) > 1e-100)
    if moderate.any():
        rel = np.abs(value[moderate] - ref[moderate]) / np.abs(ref[moderate])
        assert np.all(rel < 1e-6), f"C++ and numpy values differ for {text!r}: {value} vs {ref}"
    return "compiled and evaluated"


def one_input(src: Source) -> str:
    text = formula_text(src)
    params = None
    if src.chance(4):  # declared parameter lists, sometimes with clashes
        params = [src.pick(["a", "b", "c", "x", "E", "zz"]) for _ in range(src.int(0, 4))]
    return check_formula(text, params=params)


def main(argv=None):
    run_atheris(one_input, globals(), argv, extra_imports=("lawfit.formula",))


if __name__ == "__main__":
    main()
