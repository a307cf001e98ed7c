// The law-program instruction set shared by the Python compiler
// (python/lawfit/_opcodes.py mirrors these numbers; a test checks they agree)
// and the interpreters in program.hpp.  A program is a postfix sequence of
// (opcode, argument) pairs evaluated on a value stack.
#pragma once
#include <cstdint>

#include "config.hpp"

namespace lawfit {

enum class Op : std::int32_t {
    CONST = 0,     // push consts[arg]
    INPUT = 1,     // push input column arg (x[arg, point])
    PARAM = 2,     // push parameter arg
    ADD = 3, SUB = 4, MUL = 5, DIV = 6,
    POW = 7,       // a ** b, both operands may depend on parameters
    NEG = 8,
    EXP = 9, LOG = 10, LOG10 = 11, LOG1P = 12, EXPM1 = 13, SQRT = 14, ABS = 15,
    SIN = 16, COS = 17, TAN = 18, ARCTAN = 19, TANH = 20,
    SIGMOID = 21,  // 1 / (1 + exp(-a))
    SOFTPLUS = 22, // log(1 + exp(a)), computed without overflow
    MIN = 23, MAX = 24,
    POWI = 25,     // a ** arg for a small integer arg (may be negative)
    LGAMMA = 26,   // log Gamma(a) for a > 0 (NaN for a <= 0); derivative digamma(a)
    N_OPS = 27
};

// Operations that push a value (no operand) and those that pop two.
LAWFIT_HD constexpr bool is_leaf(Op op) { return op == Op::CONST || op == Op::INPUT || op == Op::PARAM; }
LAWFIT_HD constexpr bool is_binary(Op op) {
    return op == Op::ADD || op == Op::SUB || op == Op::MUL || op == Op::DIV || op == Op::POW || op == Op::MIN ||
           op == Op::MAX;
}

// Limits of the interpreters: parameters per law and stack depth of a program.
constexpr int kMaxParams = 16;
constexpr int kMaxStack = 24;
// Largest |n| of a POWI instruction (the compiler emits |n| <= 64): bounds the
// interpreter's repeated multiplication and keeps -n defined.
constexpr int kMaxPowi = 64;

}  // namespace lawfit
