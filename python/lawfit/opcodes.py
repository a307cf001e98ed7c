"""The law-program instruction set, mirrored from ``cpp/lawfit/opcodes.hpp``.

A program is a postfix sequence of ``(opcode, argument)`` pairs run on a value
stack.  Binary operations pop ``b`` then ``a`` and push ``a op b``; the argument
is 0 for operations that take none.  The numbers are part of the contract with
the C++ and CUDA interpreters (a test checks that both files agree).
"""
from __future__ import annotations

import enum


class Op(enum.IntEnum):
    """Opcodes; see ``cpp/lawfit/opcodes.hpp`` for the semantics."""

    CONST = 0  # push consts[arg]
    INPUT = 1  # push input column arg
    PARAM = 2  # push parameter arg
    ADD = 3
    SUB = 4
    MUL = 5
    DIV = 6
    POW = 7  # a ** b, both operands may depend on parameters
    NEG = 8
    EXP = 9
    LOG = 10
    LOG10 = 11
    LOG1P = 12
    EXPM1 = 13
    SQRT = 14
    ABS = 15
    SIN = 16
    COS = 17
    TAN = 18
    ARCTAN = 19
    TANH = 20
    SIGMOID = 21  # 1 / (1 + exp(-a))
    SOFTPLUS = 22  # log(1 + exp(a)), computed without overflow
    MIN = 23
    MAX = 24
    POWI = 25  # a ** arg for a small integer arg (may be negative)
    LGAMMA = 26  # log Gamma(a) for a > 0 (NaN for a <= 0); derivative digamma(a)
    N_OPS = 27


#: Most parameters one law may have (bits of the interpreters' gradient mask).
MAX_PARAMS = 16
#: Deepest value stack the interpreters provide.
MAX_STACK = 24

LEAF_OPS = frozenset({Op.CONST, Op.INPUT, Op.PARAM})
BINARY_OPS = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.POW, Op.MIN, Op.MAX})


def stack_effect(op: Op) -> int:
    """Net change of the stack depth caused by one instruction."""
    if op in LEAF_OPS:
        return 1
    return -1 if op in BINARY_OPS else 0
