// Helpers shared by the C++ tests: law programs written as opcode lists, a
// whole-array evaluation with the block interpreter, a batch's output arrays.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <utility>
#include <vector>

#include "lawfit/batch.hpp"
#include "lawfit/opcodes.hpp"
#include "lawfit/program.hpp"

namespace lft {

using lawfit::Op;

struct Program {
    std::vector<std::int32_t> code;  // n_instr x 2
    std::vector<double> consts;
    int n_params = 0;
    int n_columns = 0;

    Program(std::initializer_list<std::pair<Op, int>> instr, std::vector<double> c, int params, int columns)
        : consts(std::move(c)), n_params(params), n_columns(columns) {
        for (const auto& [op, arg] : instr) {
            code.push_back(static_cast<std::int32_t>(op));
            code.push_back(arg);
        }
    }
    // Raw (possibly invalid) opcode numbers.
    Program(std::vector<std::int32_t> raw, std::vector<double> c, int params, int columns)
        : code(std::move(raw)), consts(std::move(c)), n_params(params), n_columns(columns) {}

    lawfit::ProgramView view() const {
        lawfit::ProgramView v{};  // fields set by name: robust to fields added later
        v.code = code.data();
        v.n_instr = static_cast<int>(code.size() / 2);
        v.consts = consts.data();
        set_n_consts(v, static_cast<int>(consts.size()), 0);
        v.n_params = n_params;
        v.n_columns = n_columns;
        return v;
    }

  private:
    // ProgramView::n_consts where the core has it.
    template <class V>
    static auto set_n_consts(V& v, int n, int) -> decltype(v.n_consts = n, void()) { v.n_consts = n; }
    template <class V>
    static void set_n_consts(V&, int, long) {}
};

// y = a * exp(-b * x) + c over input column 0.
inline Program exp_decay() {
    return Program({{Op::PARAM, 0}, {Op::INPUT, 0}, {Op::PARAM, 1}, {Op::MUL, 0}, {Op::NEG, 0},
                    {Op::EXP, 0}, {Op::MUL, 0}, {Op::PARAM, 2}, {Op::ADD, 0}},
                   {}, 3, 1);
}

// Value and gradient (all P columns, zero where the result does not depend on
// a parameter) at every point, run block by block with block size B.
struct Evaluation {
    bool ok = true;
    std::vector<double> value;  // n
    std::vector<double> grad;   // n x P
    std::uint32_t mask = 0;     // dependency mask of the result (last block)
};

template <int B>
Evaluation evaluate(const Program& prog, const std::vector<double>& columns, std::int64_t n,
                    const std::vector<double>& params, std::uint32_t free_mask) {
    auto s = std::make_unique<lawfit::BlockScratch<B>>();
    const lawfit::ProgramView view = prog.view();
    const int P = prog.n_params;
    Evaluation e;
    e.value.assign(n, 0.0);
    e.grad.assign(n * P, 0.0);
    for (std::int64_t p0 = 0; p0 < n; p0 += B) {
        const int nb = static_cast<int>(n - p0 < B ? n - p0 : B);
        if (!lawfit::run_block<B>(view, columns.data(), n, p0, nb, params.data(), free_mask, *s)) {
            e.ok = false;
            return e;
        }
        e.mask = s->mask[0];
        for (int i = 0; i < nb; ++i) {
            e.value[p0 + i] = s->val[0][i];
            for (int j = 0; j < P; ++j)
                if ((s->mask[0] >> j) & 1u) e.grad[(p0 + i) * P + j] = s->grad[0][j][i];
        }
    }
    return e;
}

inline std::uint32_t all_params(int P) { return P >= 32 ? 0xffffffffu : ((1u << P) - 1u); }

// The per-problem output arrays of a batch (K problems, P parameters) and
// the BatchView's output pointers into them; `fill` and `int_fill` mark
// entries the solver never wrote.
struct BatchOutputs {
    std::vector<double> params, cost, jtj;
    std::vector<std::int32_t> nit, nfev, status;

    void attach(lawfit::BatchView& b, std::int64_t K, int P, double fill, std::int32_t int_fill) {
        params.assign(K * P, fill);
        cost.assign(K, fill);
        jtj.assign(K * P * P, fill);
        nit.assign(K, int_fill);
        nfev.assign(K, int_fill);
        status.assign(K, -1);
        b.params = params.data();
        b.cost = cost.data();
        b.nit = nit.data();
        b.nfev = nfev.data();
        b.status = status.data();
        b.jtj = jtj.data();
    }
};

}  // namespace lft
