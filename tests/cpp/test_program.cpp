// The block interpreter (program.hpp): every opcode's value against the C
// library and its forward-mode gradient against central finite differences;
// dependency masks, padding lanes, block sizes, malformed programs.
#define LAWFIT_TEST_MAIN
#include <climits>
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "harness.hpp"
#include "programs.hpp"

using lawfit::Op;
using lft::Program;

namespace {

const double kInf = std::numeric_limits<double>::infinity();

// Two input columns over n points: x in [0.1, 3.0], y in [0.4, 2.1] (reversed).
struct Inputs {
    std::int64_t n;
    std::vector<double> columns;  // 2 x n
    double x(std::int64_t i) const { return columns[i]; }
    double y(std::int64_t i) const { return columns[n + i]; }
};

Inputs make_inputs(std::int64_t n) {
    Inputs in{n, std::vector<double>(2 * n)};
    for (std::int64_t i = 0; i < n; ++i) {
        in.columns[i] = 0.1 + 2.9 * static_cast<double>(i) / static_cast<double>(n - 1);
        in.columns[n + i] = 2.1 - 1.7 * static_cast<double>(i) / static_cast<double>(n - 1);
    }
    return in;
}

// Central difference of the interpreter's own value with respect to param j.
std::vector<double> finite_difference(const Program& prog, const Inputs& in, std::vector<double> p, int j) {
    const double h = 1e-6 * std::max(1.0, std::fabs(p[j]));
    const double pj = p[j];
    p[j] = pj + h;
    const auto up = lft::evaluate<16>(prog, in.columns, in.n, p, lft::all_params(prog.n_params));
    p[j] = pj - h;
    const auto down = lft::evaluate<16>(prog, in.columns, in.n, p, lft::all_params(prog.n_params));
    std::vector<double> d(in.n);
    for (std::int64_t i = 0; i < in.n; ++i) d[i] = (up.value[i] - down.value[i]) / (2.0 * h);
    return d;
}

// Checks value (against `ref`, rtol) and gradient (against finite
// differences) of a program at every point where `usable` holds.
void check_program(const std::string& what, const Program& prog, const std::vector<double>& p,
                   const std::function<double(double, double)>& ref, double rtol,
                   const std::function<bool(double, double)>& usable = nullptr) {
    const Inputs in = make_inputs(37);  // 37 = 2 full blocks of 16 + a padded one
    const auto e = lft::evaluate<16>(prog, in.columns, in.n, p, lft::all_params(prog.n_params));
    if (!CHECK(e.ok)) return;
    std::vector<std::vector<double>> fd;
    for (int j = 0; j < prog.n_params; ++j) fd.push_back(finite_difference(prog, in, p, j));
    int used = 0;
    for (std::int64_t i = 0; i < in.n; ++i) {
        if (usable && !usable(in.x(i), in.y(i))) continue;
        ++used;
        const double expected = ref(in.x(i), in.y(i));
        if (!lft::near(e.value[i], expected, rtol, 1e-300))
            lft::report(false, __FILE__, __LINE__,
                        what + ": value " + lft::fmt(e.value[i]) + " vs " + lft::fmt(expected) +
                            " at point " + std::to_string(i));
        for (int j = 0; j < prog.n_params; ++j) {
            const double g = e.grad[i * prog.n_params + j];
            const double scale = std::max(std::fabs(fd[j][i]), std::fabs(e.value[i]));
            if (!lft::near(g, fd[j][i], 1e-6, 1e-8 * std::max(scale, 1e-3)))
                lft::report(false, __FILE__, __LINE__,
                            what + ": d/dp" + std::to_string(j) + " " + lft::fmt(g) + " vs finite difference " +
                                lft::fmt(fd[j][i]) + " at point " + std::to_string(i));
        }
    }
    CHECK(used >= 20);
    lft::report(true, __FILE__, __LINE__, what);
}

// u = a*x + b (params a, b), then the unary op.
Program unary_program(Op op, int arg = 0) {
    return Program({{Op::PARAM, 0}, {Op::INPUT, 0}, {Op::MUL, 0}, {Op::PARAM, 1}, {Op::ADD, 0}, {op, arg}}, {},
                   2, 2);
}

// u = a*x, v = b + y, then u op v.
Program binary_program(Op op) {
    return Program({{Op::PARAM, 0}, {Op::INPUT, 0}, {Op::MUL, 0}, {Op::PARAM, 1}, {Op::INPUT, 1}, {Op::ADD, 0},
                    {op, 0}},
                   {}, 2, 2);
}

struct UnaryCase {
    Op op;
    double a, b;  // u = a*x + b stays inside the op's smooth domain
    double (*fn)(double);
    double rtol;
};

double ref_log10(double u) { return std::log(u) / std::log(10.0); }
double ref_sigmoid(double u) { return 1.0 / (1.0 + std::exp(-u)); }
double ref_softplus(double u) { return std::log1p(std::exp(u)); }
double ref_neg(double u) { return -u; }
double ref_exp(double u) { return std::exp(u); }
double ref_log(double u) { return std::log(u); }
double ref_log1p(double u) { return std::log1p(u); }
double ref_expm1(double u) { return std::expm1(u); }
double ref_sqrt(double u) { return std::sqrt(u); }
double ref_abs(double u) { return std::fabs(u); }
double ref_sin(double u) { return std::sin(u); }
double ref_cos(double u) { return std::cos(u); }
double ref_tan(double u) { return std::tan(u); }
double ref_atan(double u) { return std::atan(u); }
double ref_tanh(double u) { return std::tanh(u); }
double ref_lgamma(double u) { return std::lgamma(u); }

}  // namespace

LF_TEST(unary_opcodes_values_and_gradients) {
    const UnaryCase cases[] = {
        {Op::NEG, 0.7, -1.1, ref_neg, 0.0},          {Op::EXP, 1.3, -0.4, ref_exp, 4e-16},
        {Op::LOG, 0.7, 1.3, ref_log, 4e-16},         {Op::LOG10, 0.7, 1.3, ref_log10, 1e-15},
        {Op::LOG1P, 0.3, -0.5, ref_log1p, 0.0},      {Op::EXPM1, 0.9, -1.2, ref_expm1, 0.0},
        {Op::SQRT, 0.7, 0.2, ref_sqrt, 0.0},         {Op::ABS, 1.1, -1.6, ref_abs, 0.0},
        {Op::SIN, 1.7, -2.0, ref_sin, 0.0},          {Op::COS, 1.7, -2.0, ref_cos, 0.0},
        {Op::TAN, 0.3, -0.2, ref_tan, 0.0},          {Op::ARCTAN, 1.5, -2.0, ref_atan, 0.0},
        {Op::TANH, 0.8, -1.1, ref_tanh, 0.0},        {Op::SIGMOID, 2.0, -3.0, ref_sigmoid, 1e-15},
        {Op::SOFTPLUS, 2.0, -3.0, ref_softplus, 1e-15},
        {Op::LGAMMA, 2.5, 2.5, ref_lgamma, 1e-14},   // u in [2.75, 10]: shifted and not
    };
    for (const UnaryCase& c : cases) {
        const Program prog = unary_program(c.op);
        const auto fn = c.fn;
        const double a = c.a, b = c.b;
        // abs: skip points whose finite difference would straddle the kink.
        auto usable = [&](double x, double) { return c.op != Op::ABS || std::fabs(a * x + b) > 1e-3; };
        check_program("unary op " + std::to_string(static_cast<int>(c.op)), prog, {a, b},
                      [=](double x, double) { return fn(a * x + b); }, c.rtol, usable);
    }
}

LF_TEST(binary_opcodes_values_and_gradients) {
    const double a = 0.8, b = 0.35;
    struct Case {
        Op op;
        std::function<double(double, double)> fn;
    };
    const Case cases[] = {
        {Op::ADD, [](double u, double v) { return u + v; }},
        {Op::SUB, [](double u, double v) { return u - v; }},
        {Op::MUL, [](double u, double v) { return u * v; }},
        {Op::DIV, [](double u, double v) { return u / v; }},
        {Op::POW, [](double u, double v) { return std::pow(u, v); }},
        {Op::MIN, [](double u, double v) { return std::fmin(u, v); }},
        {Op::MAX, [](double u, double v) { return std::fmax(u, v); }},
    };
    for (const Case& c : cases) {
        const auto fn = c.fn;
        // min/max: skip points within a finite-difference step of the switch.
        auto usable = [&](double x, double y) {
            return (c.op != Op::MIN && c.op != Op::MAX) || std::fabs(a * x - (b + y)) > 1e-3;
        };
        check_program("binary op " + std::to_string(static_cast<int>(c.op)), binary_program(c.op), {a, b},
                      [=](double x, double y) { return fn(a * x, b + y); }, 4e-16, usable);
    }
}

LF_TEST(powi_values_and_gradients) {
    for (int n : {-64, -7, -2, -1, 0, 1, 2, 3, 5, 17, 64}) {
        const double a = 0.9, b = 0.2;
        check_program("powi " + std::to_string(n), unary_program(Op::POWI, n), {a, b},
                      [=](double x, double) { return std::pow(a * x + b, n); }, 1e-13);
    }
}

LF_TEST(constants_and_repeated_parameters) {
    // c0 * a * a - x / b  with c0 = 2.5: rows from both operands of MUL and
    // a row only in the right operand of SUB.
    const Program prog({{Op::CONST, 0}, {Op::PARAM, 0}, {Op::MUL, 0}, {Op::PARAM, 0}, {Op::MUL, 0},
                        {Op::INPUT, 0}, {Op::PARAM, 1}, {Op::DIV, 0}, {Op::SUB, 0}},
                       {2.5}, 2, 1);
    check_program("const/repeated", prog, {1.3, 0.6},
                  [](double x, double) { return 2.5 * 1.3 * 1.3 - x / 0.6; }, 1e-15);
    const Inputs in = make_inputs(5);
    const auto e = lft::evaluate<16>(prog, in.columns, in.n, {1.3, 0.6}, 3u);
    CHECK(e.ok);
    for (std::int64_t i = 0; i < in.n; ++i) {
        CHECK_NEAR(e.grad[2 * i], 2.0 * 2.5 * 1.3, 1e-15, 0.0);
        CHECK_NEAR(e.grad[2 * i + 1], in.x(i) / (0.6 * 0.6), 1e-15, 0.0);
    }
    // Parameter-free program: no gradient rows at all.
    const Program constant({{Op::INPUT, 0}, {Op::CONST, 0}, {Op::ADD, 0}}, {1.0}, 2, 1);
    const auto c = lft::evaluate<16>(constant, in.columns, in.n, {0.0, 0.0}, 3u);
    CHECK(c.ok);
    CHECK_EQ(c.mask, 0u);
    CHECK_EQ(c.value[2], in.x(2) + 1.0);
}

LF_TEST(dependency_mask_and_free_mask) {
    // a * exp(-c * x) with b unused: the result depends on a and c only.
    const Program prog({{Op::PARAM, 0}, {Op::PARAM, 2}, {Op::INPUT, 0}, {Op::MUL, 0}, {Op::NEG, 0},
                        {Op::EXP, 0}, {Op::MUL, 0}},
                       {}, 3, 1);
    const Inputs in = make_inputs(20);
    const std::vector<double> p{2.0, 123.0, 0.5};
    const auto all = lft::evaluate<16>(prog, in.columns, in.n, p, 7u);
    CHECK(all.ok);
    CHECK_EQ(all.mask, 5u);
    // Holding a: its row disappears, the value and c's row are unchanged.
    const auto held = lft::evaluate<16>(prog, in.columns, in.n, p, 6u);
    CHECK(held.ok);
    CHECK_EQ(held.mask, 4u);
    for (std::int64_t i = 0; i < in.n; ++i) {
        CHECK_SAME_BITS(held.value[i], all.value[i]);
        CHECK_SAME_BITS(held.grad[3 * i + 2], all.grad[3 * i + 2]);
        CHECK_EQ(held.grad[3 * i], 0.0);
        CHECK_NEAR(all.grad[3 * i], std::exp(-0.5 * in.x(i)), 1e-15, 0.0);
    }
}

LF_TEST(block_sizes_agree_bit_for_bit) {
    // The GPU runs the interpreter with B = 1; the CPU with B = 16.  Values
    // and gradients must not depend on B (or on a point's lane).
    const Program prog({{Op::PARAM, 0}, {Op::INPUT, 0}, {Op::LOG, 0}, {Op::PARAM, 1}, {Op::MUL, 0},
                        {Op::NEG, 0}, {Op::EXP, 0}, {Op::MUL, 0}, {Op::INPUT, 1}, {Op::PARAM, 2},
                        {Op::POW, 0}, {Op::SIGMOID, 0}, {Op::ADD, 0}, {Op::PARAM, 2}, {Op::INPUT, 0},
                        {Op::MAX, 0}, {Op::SOFTPLUS, 0}, {Op::SUB, 0}, {Op::POWI, 3}},
                       {}, 3, 2);
    const std::vector<double> p{400.0, 0.34, 0.7};
    for (std::int64_t n : {1, 5, 16, 17, 33, 100}) {
        const Inputs in = make_inputs(n < 2 ? 2 : n);
        const auto e1 = lft::evaluate<1>(prog, in.columns, in.n, p, 7u);
        const auto e4 = lft::evaluate<4>(prog, in.columns, in.n, p, 7u);
        const auto e16 = lft::evaluate<16>(prog, in.columns, in.n, p, 7u);
        CHECK(e1.ok && e4.ok && e16.ok);
        for (std::int64_t k = 0; k < in.n; ++k) {
            CHECK_SAME_BITS(e16.value[k], e1.value[k]);
            CHECK_SAME_BITS(e4.value[k], e1.value[k]);
            for (int j = 0; j < 3; ++j) {
                CHECK_SAME_BITS(e16.grad[3 * k + j], e1.grad[3 * k + j]);
                CHECK_SAME_BITS(e4.grad[3 * k + j], e1.grad[3 * k + j]);
            }
        }
    }
}

LF_TEST(padding_lanes_repeat_the_last_point) {
    const Program prog = lft::exp_decay();
    const Inputs in = make_inputs(3);
    auto s = std::make_unique<lawfit::BlockScratch<16>>();
    const std::vector<double> p{2.0, 0.5, 0.1};
    CHECK(lawfit::run_block<16>(prog.view(), in.columns.data(), in.n, 0, 3, p.data(), 7u, *s));
    for (int i = 3; i < 16; ++i) {
        CHECK_SAME_BITS(s->val[0][i], s->val[0][2]);
        for (int j = 0; j < 3; ++j) CHECK_SAME_BITS(s->grad[0][j][i], s->grad[0][j][2]);
    }
}

LF_TEST(edge_semantics_match_the_reference_evaluator) {
    // Values at the edges that formula.py's reference evaluator documents.
    const Inputs in = make_inputs(2);
    auto at = [&](const Program& prog, std::vector<double> p) {
        return lft::evaluate<16>(prog, in.columns, 1, p, lft::all_params(prog.n_params));
    };
    const Program abs_a({{Op::PARAM, 0}, {Op::ABS, 0}}, {}, 1, 0);
    CHECK_EQ(at(abs_a, {0.0}).grad[0], 0.0);
    const Program min_ab({{Op::PARAM, 0}, {Op::PARAM, 1}, {Op::MIN, 0}}, {}, 2, 0);
    const auto tie = at(min_ab, {1.0, 1.0});  // ties take a
    CHECK(tie.grad[0] == 1.0 && tie.grad[1] == 0.0);
    const Program sp({{Op::PARAM, 0}, {Op::SOFTPLUS, 0}}, {}, 1, 0);
    CHECK(at(sp, {1000.0}).value[0] == 1000.0 && at(sp, {1000.0}).grad[0] == 1.0);
    CHECK(at(sp, {-1000.0}).value[0] == 0.0 && at(sp, {-1000.0}).grad[0] == 0.0);
    const Program sg({{Op::PARAM, 0}, {Op::SIGMOID, 0}}, {}, 1, 0);
    CHECK(at(sg, {-1000.0}).value[0] == 0.0 && at(sg, {1000.0}).value[0] == 1.0);
    CHECK(std::isfinite(at(sg, {-1000.0}).grad[0]));
    // A constant exponent never takes log(base): (-1.1)^70 keeps its gradient.
    const Program pow_c({{Op::PARAM, 0}, {Op::CONST, 0}, {Op::POW, 0}}, {70.0}, 1, 0);
    const auto pc = at(pow_c, {-1.1});
    CHECK_NEAR(pc.value[0], std::pow(1.1, 70), 1e-14, 0.0);
    CHECK_NEAR(pc.grad[0], -70.0 * std::pow(1.1, 69), 1e-14, 0.0);
    const Program inv_sq({{Op::PARAM, 0}, {Op::CONST, 0}, {Op::ADD, 0}, {Op::POWI, -2}}, {1.0}, 1, 0);
    CHECK(at(inv_sq, {-1.0}).value[0] == kInf);
    const Program log_a({{Op::PARAM, 0}, {Op::LOG, 0}}, {}, 1, 0);
    CHECK(std::isnan(at(log_a, {-2.0}).value[0]));
}

LF_TEST(malformed_programs_are_rejected) {
    const Inputs in = make_inputs(4);
    auto runs = [&](const Program& prog) {
        std::vector<double> p(prog.n_params > 0 ? prog.n_params : 1, 1.0);
        return lft::evaluate<16>(prog, in.columns, in.n, p, lft::all_params(prog.n_params)).ok;
    };
    CHECK(!runs(Program(std::vector<std::int32_t>{}, {}, 1, 2)));                       // empty
    CHECK(!runs(Program({{Op::PARAM, 0}, {Op::ADD, 0}}, {}, 1, 2)));                    // underflow
    CHECK(!runs(Program({{Op::EXP, 0}}, {}, 1, 2)));                                    // unary on empty
    CHECK(!runs(Program({{Op::PARAM, 0}, {Op::PARAM, 0}}, {}, 1, 2)));                  // two values left
    CHECK(!runs(Program({{Op::PARAM, 1}}, {}, 1, 2)));                                  // param out of range
    CHECK(!runs(Program({{Op::PARAM, -1}}, {}, 1, 2)));
    CHECK(!runs(Program({{Op::INPUT, 2}}, {}, 1, 2)));                                  // column out of range
    CHECK(!runs(Program({{Op::INPUT, -1}}, {}, 1, 2)));
    CHECK(!runs(Program(std::vector<std::int32_t>{2, 0, static_cast<std::int32_t>(Op::N_OPS), 0}, {}, 1, 2)));  // unknown opcodes
    CHECK(!runs(Program(std::vector<std::int32_t>{2, 0, -1, 0}, {}, 1, 2)));
    CHECK(!runs(Program(std::vector<std::int32_t>{2, 0, 2, 0, 1000, 0}, {}, 1, 2)));
    std::vector<std::int32_t> deep;  // one push more than the stack holds
    for (int k = 0; k <= lawfit::kMaxStack; ++k) deep.insert(deep.end(), {2, 0});
    for (int k = 0; k < lawfit::kMaxStack; ++k) deep.insert(deep.end(), {3, 0});
    CHECK(!runs(Program(deep, {}, 1, 2)));
    deep.erase(deep.begin(), deep.begin() + 2);  // kMaxStack pushes, then adds: fits exactly
    deep.erase(deep.end() - 2, deep.end());
    CHECK(runs(Program(deep, {}, 1, 2)));
}

// Regression (found while writing these tests): POWI's argument is not
// range-checked, so a program from outside the compiler (which emits |n| <= 64)
// can make the interpreter loop 2^31 times per lane per block (a batch that
// never ends and cannot be interrupted) and arg = INT_MIN negates INT_MIN
// (undefined behaviour, a wrong value in practice).  Such programs must be
// rejected like any other malformed program.  Kept last: under UBSan the
// INT_MIN case aborts the executable while the bug is present.
LF_TEST(powi_argument_out_of_range_is_rejected) {
    const Inputs in = make_inputs(4);
    for (int n : {65, -65, 1000, -100000, INT_MIN}) {
        const Program prog({{Op::PARAM, 0}, {Op::POWI, n}}, {}, 1, 2);
        const auto e = lft::evaluate<16>(prog, in.columns, in.n, {1.0000001}, 1u);
        if (!CHECK(!e.ok)) std::fprintf(stderr, "  POWI %d was accepted\n", n);
    }
}
