// The law-program interpreter: runs a postfix program (opcodes.hpp) over a
// block of B points and produces each point's value and its exact gradient
// with respect to every parameter in one pass (forward-mode differentiation).
//
// Why blocks: dispatch is paid once per opcode per block and each opcode is a
// short loop over B points that the compiler vectorises (DESIGN.md, "Making an
// interpreter fast").  The GPU back end instantiates the same code with B = 1.
// Gradients are stored only for the parameters a stack slot depends on (a
// bitmask per slot), so E + A*N^-alpha costs two gradient rows per term, not P.
#pragma once
#include <cmath>
#include <cstdint>

#include "config.hpp"
#include "math.hpp"
#include "opcodes.hpp"

namespace lawfit {

struct ProgramView {
    const std::int32_t* code;  // n_instr x 2: opcode, argument
    int n_instr;
    const double* consts;
    int n_consts;
    int n_params;
    int n_columns;  // rows of the input matrix the program may read
};

// Scratch for one block: B values and NP gradient rows for each of NS stack
// slots.  NP and NS are capacities (size classes, batch.hpp): a 5-parameter
// law needs a third of the memory the 16-parameter maximum would take, which
// matters for L1 on the CPU and for local memory on the GPU.
// Lane arrays are 64-byte aligned so vector loads never straddle cache lines.
template <int B, int NP = kMaxParams, int NS = kMaxStack>
struct BlockScratch {
    static constexpr int kParams = NP;
    static constexpr int kStack = NS;
    alignas(64) double val[NS][B];
    alignas(64) double grad[NS][NP][B];
    alignas(64) double tmp_a[B];
    alignas(64) double tmp_b[B];
    std::uint32_t mask[NS];
};

// Deepest stack the program reaches (leaves push, binary operations pop one),
// or -1 if it underflows; picks the size class before any block runs.
LAWFIT_HD inline int program_stack_depth(const ProgramView& prog) {
    int sp = 0, deepest = 0;
    for (int pc = 0; pc < prog.n_instr; ++pc) {
        const Op op = static_cast<Op>(prog.code[2 * pc]);
        if (is_leaf(op)) {
            deepest = ++sp > deepest ? sp : deepest;
        } else if (is_binary(op)) {
            if (--sp < 1) return -1;
        } else if (sp < 1) {
            return -1;
        }
    }
    return deepest;
}

namespace detail {

LAWFIT_HD inline int next_bit(std::uint32_t& m) {
#if defined(__CUDA_ARCH__)
    int j = __ffs(static_cast<int>(m)) - 1;
#else
    int j = __builtin_ctz(m);
#endif
    m &= m - 1;
    return j;
}

LAWFIT_HD LAWFIT_INLINE double sigmoid(double a) {
    // Evaluated on the side where exp cannot overflow.
    double e = math::exp(-(a < 0 ? -a : a));
    return a >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

// dst[i] = src[i] for the block's nb points, dst[nb .. W) = pad (the padding
// lanes: see run_block).  A full block, the common case, is copied with a
// count known at compile time: a variable count made the compiler call
// memcpy for every input of every block (a call per 16 points).
template <int W, class T>
LAWFIT_HD LAWFIT_INLINE void load_lanes(double* __restrict dst, const T* __restrict src, int nb, double pad) {
    if (nb >= W) {  // (nb never exceeds W; >= tells the compiler the tail is short)
        for (int i = 0; i < W; ++i) dst[i] = static_cast<double>(src[i]);
        return;
    }
    for (int i = 0; i < nb; ++i) dst[i] = static_cast<double>(src[i]);
    for (int i = nb; i < W; ++i) dst[i] = pad;
}

// dst[0 .. nb) = value, dst[nb .. W) = pad.
template <int W>
LAWFIT_HD LAWFIT_INLINE void fill_lanes(double* __restrict dst, int nb, double value, double pad) {
    if (nb >= W) {  // (nb never exceeds W; >= tells the compiler the tail is short)
        for (int i = 0; i < W; ++i) dst[i] = value;
        return;
    }
    for (int i = 0; i < nb; ++i) dst[i] = value;
    for (int i = nb; i < W; ++i) dst[i] = pad;
}

// Applies d(out)/d(in) = d[i] to every gradient row of a slot.
template <int B>
LAWFIT_HD inline void scale_grads(double (*g)[B], std::uint32_t m, const double* __restrict d) {
    while (m) {
        double* __restrict gj = g[next_bit(m)];
        LAWFIT_LANES for (int i = 0; i < B; ++i) gj[i] *= d[i];
    }
}

}  // namespace detail

// Runs the program over points [0, nb) of a block whose inputs start at
// columns + point0 (column c of point i is columns[c * col_stride + point0 + i]).
// Every loop runs over all B lanes (fixed trip counts vectorise cleanly); lanes
// nb..B-1 repeat the last point, so they hold valid values that callers ignore.
// `params` are all P values; gradients are tracked only for `free_mask`.
// On return the result is in slot 0: s.val[0][i], s.grad[0][j][i] for j in s.mask[0].
// Returns false if the program is malformed (stack misuse, bad argument).
template <int B, int NP, int NS>
LAWFIT_HD bool run_block(const ProgramView& prog, const double* columns, std::int64_t col_stride,
                         std::int64_t point0, int nb, const double* params,
                         std::uint32_t free_mask, BlockScratch<B, NP, NS>& s) {
    if (prog.n_params > NP) return false;
    int sp = 0;  // number of occupied slots
    for (int pc = 0; pc < prog.n_instr; ++pc) {
        const Op op = static_cast<Op>(prog.code[2 * pc]);
        const std::int32_t arg = prog.code[2 * pc + 1];
        if (is_leaf(op)) {
            if (sp >= NS) return false;
            double* v = s.val[sp];
            s.mask[sp] = 0;
            if (op == Op::CONST) {
                const double c = prog.consts[arg];
                LAWFIT_LANES for (int i = 0; i < B; ++i) v[i] = c;
            } else if (op == Op::INPUT) {
                if (arg < 0 || arg >= prog.n_columns) return false;
                const double* col = columns + arg * col_stride + point0;
                detail::load_lanes<B>(v, col, nb, col[nb - 1]);  // pad: see run_block
            } else {
                if (arg < 0 || arg >= prog.n_params) return false;
                const double c = params[arg];
                LAWFIT_LANES for (int i = 0; i < B; ++i) v[i] = c;
                if ((free_mask >> arg) & 1u) {
                    s.mask[sp] = 1u << arg;
                    double* g = s.grad[sp][arg];
                    LAWFIT_LANES for (int i = 0; i < B; ++i) g[i] = 1.0;
                }
            }
            ++sp;
            continue;
        }
        if (is_binary(op)) {
            if (sp < 2) return false;
            double* __restrict a = s.val[sp - 2];
            const double* __restrict b = s.val[sp - 1];
            double (*ga)[B] = s.grad[sp - 2];
            double (*gb)[B] = s.grad[sp - 1];
            const std::uint32_t ma = s.mask[sp - 2], mb = s.mask[sp - 1];
            double* __restrict da = s.tmp_a;  // d(out)/da
            double* __restrict db = s.tmp_b;  // d(out)/db
            switch (op) {
                case Op::ADD:
                case Op::SUB: {
                    const double sign = op == Op::ADD ? 1.0 : -1.0;
                    LAWFIT_LANES for (int i = 0; i < B; ++i) a[i] = a[i] + sign * b[i];
                    // Adding needs no scaling of a's rows; b's rows are added in.
                    std::uint32_t m = mb;
                    while (m) {
                        const int j = detail::next_bit(m);
                        double* __restrict g = ga[j];
                        const double* __restrict h = gb[j];
                        if ((ma >> j) & 1u) {
                            LAWFIT_LANES for (int i = 0; i < B; ++i) g[i] += sign * h[i];
                        } else {
                            LAWFIT_LANES for (int i = 0; i < B; ++i) g[i] = sign * h[i];
                        }
                    }
                    s.mask[sp - 2] = ma | mb;
                    --sp;
                    continue;
                }
                case Op::MUL:
                    LAWFIT_LANES for (int i = 0; i < B; ++i) {
                        da[i] = b[i];
                        db[i] = a[i];
                        a[i] = a[i] * b[i];
                    }
                    break;
                case Op::DIV:
                    LAWFIT_LANES for (int i = 0; i < B; ++i) {
                        const double rb = 1.0 / b[i];  // one division per lane
                        const double q = a[i] * rb;
                        da[i] = rb;
                        db[i] = -q * rb;
                        a[i] = q;
                    }
                    break;
                case Op::POW:
                    LAWFIT_LANES for (int i = 0; i < B; ++i) {
                        const double v = std::pow(a[i], b[i]);
                        da[i] = b[i] * std::pow(a[i], b[i] - 1.0);
                        // log(a) only where the exponent carries a gradient, so
                        // x ** 0.5 of a negative x is not poisoned by log(x).
                        db[i] = mb ? v * std::log(a[i]) : 0.0;
                        a[i] = v;
                    }
                    break;
                case Op::MIN:
                case Op::MAX:
                    LAWFIT_LANES for (int i = 0; i < B; ++i) {
                        const bool take_a = op == Op::MIN ? a[i] <= b[i] : a[i] >= b[i];
                        da[i] = take_a ? 1.0 : 0.0;
                        db[i] = take_a ? 0.0 : 1.0;
                        a[i] = take_a ? a[i] : b[i];
                    }
                    break;
                default:
                    return false;
            }
            // out_j = da * ga_j + db * gb_j, written into a's rows.
            std::uint32_t m = ma | mb;
            while (m) {
                const int j = detail::next_bit(m);
                const bool in_a = (ma >> j) & 1u, in_b = (mb >> j) & 1u;
                double* __restrict g = ga[j];
                const double* __restrict h = gb[j];
                if (in_a && in_b) {
                    LAWFIT_LANES for (int i = 0; i < B; ++i) g[i] = da[i] * g[i] + db[i] * h[i];
                } else if (in_a) {
                    LAWFIT_LANES for (int i = 0; i < B; ++i) g[i] = da[i] * g[i];
                } else {
                    LAWFIT_LANES for (int i = 0; i < B; ++i) g[i] = db[i] * h[i];
                }
            }
            s.mask[sp - 2] = ma | mb;
            --sp;
            continue;
        }
        // Unary operations: value in place, then every gradient row times d.
        if (sp < 1) return false;
        double* __restrict a = s.val[sp - 1];
        double* __restrict d = s.tmp_a;
        switch (op) {
            case Op::NEG:
                LAWFIT_LANES for (int i = 0; i < B; ++i) { a[i] = -a[i]; d[i] = -1.0; }
                break;
            case Op::EXP:
                LAWFIT_LANES for (int i = 0; i < B; ++i) { a[i] = math::exp(a[i]); d[i] = a[i]; }
                break;
            case Op::LOG:
                LAWFIT_LANES for (int i = 0; i < B; ++i) { d[i] = 1.0 / a[i]; a[i] = math::log(a[i]); }
                break;
            case Op::LOG10:
                LAWFIT_LANES for (int i = 0; i < B; ++i) {
                    d[i] = 1.0 / (a[i] * 2.302585092994046);
                    a[i] = math::log(a[i]) * 0.43429448190325176;
                }
                break;
            case Op::LOG1P:
                LAWFIT_LANES for (int i = 0; i < B; ++i) { d[i] = 1.0 / (1.0 + a[i]); a[i] = std::log1p(a[i]); }
                break;
            case Op::EXPM1:
                LAWFIT_LANES for (int i = 0; i < B; ++i) { d[i] = math::exp(a[i]); a[i] = std::expm1(a[i]); }
                break;
            case Op::SQRT:
                LAWFIT_LANES for (int i = 0; i < B; ++i) { a[i] = std::sqrt(a[i]); d[i] = 0.5 / a[i]; }
                break;
            case Op::ABS:
                LAWFIT_LANES for (int i = 0; i < B; ++i) {
                    d[i] = a[i] > 0 ? 1.0 : (a[i] < 0 ? -1.0 : 0.0);
                    a[i] = std::fabs(a[i]);
                }
                break;
            case Op::SIN:
                LAWFIT_LANES for (int i = 0; i < B; ++i) { d[i] = std::cos(a[i]); a[i] = std::sin(a[i]); }
                break;
            case Op::COS:
                LAWFIT_LANES for (int i = 0; i < B; ++i) { d[i] = -std::sin(a[i]); a[i] = std::cos(a[i]); }
                break;
            case Op::TAN:
                LAWFIT_LANES for (int i = 0; i < B; ++i) { a[i] = std::tan(a[i]); d[i] = 1.0 + a[i] * a[i]; }
                break;
            case Op::ARCTAN:
                LAWFIT_LANES for (int i = 0; i < B; ++i) { d[i] = 1.0 / (1.0 + a[i] * a[i]); a[i] = std::atan(a[i]); }
                break;
            case Op::TANH:
                LAWFIT_LANES for (int i = 0; i < B; ++i) { a[i] = std::tanh(a[i]); d[i] = 1.0 - a[i] * a[i]; }
                break;
            case Op::SIGMOID:
                LAWFIT_LANES for (int i = 0; i < B; ++i) { a[i] = detail::sigmoid(a[i]); d[i] = a[i] * (1.0 - a[i]); }
                break;
            case Op::SOFTPLUS:
                LAWFIT_LANES for (int i = 0; i < B; ++i) {
                    const double x = a[i];
                    d[i] = detail::sigmoid(x);
                    // max(x, 0) + log1p(exp(-|x|)) never overflows.
                    a[i] = (x > 0 ? x : 0.0) + std::log1p(math::exp(-(x < 0 ? -x : x)));
                }
                break;
            case Op::LGAMMA:
                LAWFIT_LANES for (int i = 0; i < B; ++i) {
                    const math::LgammaDigamma r = math::lgamma_digamma(a[i]);
                    a[i] = r.lgamma;
                    d[i] = r.digamma;
                }
                break;
            case Op::POWI: {
                if (arg < -kMaxPowi || arg > kMaxPowi) return false;
                const int n = arg < 0 ? -arg : arg;
                LAWFIT_LANES for (int i = 0; i < B; ++i) {
                    // a^(n-1) by repeated multiplication: exact for small n.
                    double pm1 = 1.0;
                    for (int k = 1; k < n; ++k) pm1 *= a[i];
                    const double pn = n == 0 ? 1.0 : pm1 * a[i];
                    if (arg >= 0) {
                        d[i] = n * pm1;
                        a[i] = pn;
                    } else {
                        const double v = 1.0 / pn;
                        d[i] = -n * v / a[i];
                        a[i] = v;
                    }
                }
                break;
            }
            default:
                return false;
        }
        detail::scale_grads<B>(s.grad[sp - 1], s.mask[sp - 1], d);
    }
    return sp == 1;
}

}  // namespace lawfit
