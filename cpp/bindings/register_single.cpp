// solve_single: one law program fitted on the calling thread, without Python
// in the loop.  curve_fit's single fits ran the core's Levenberg-Marquardt
// through solve_callback with the core's own evaluate as the callable: every
// evaluation crossed into Python and back.  Here the residual program (the
// law's code, then - y and * sqrt(w) as lawfit.engine.single builds it) is
// run directly, block by block as evaluate runs it, and the normal equations
// are summed by the same function as the callback path's, so both give the
// same bits.
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "callback_evaluator.hpp"
#include "common.hpp"
#include "lawfit/config.hpp"
#include "lawfit/program.hpp"

namespace lawfit {
namespace bindings {

namespace {

// Residuals r_i = the residual program's value at point i, Jacobian its gradient.
// The scratch's size class holds the program (batch.hpp: with_size_class);
// values and gradients do not depend on it.
template <class Scratch>
struct ProgramResidualEvaluator {
    const ProgramView& prog;
    const double* columns;
    std::int64_t M;
    int P;
    Scratch& s;
    std::vector<double> r, J;
    long calls = 0;
    bool malformed = false;

    bool operator()(const double* x, std::uint32_t free_mask, double* A, double* g, double* cost) {
        ++calls;
        const std::uint32_t all = P >= 32 ? 0xffffffffu : ((1u << P) - 1u);
        for (std::int64_t p0 = 0; p0 < M; p0 += kBlock) {
            const int nb = static_cast<int>(std::min<std::int64_t>(kBlock, M - p0));
            if (!run_block(prog, columns, M, p0, nb, x, all, s)) {
                malformed = true;
                return false;
            }
            for (int i = 0; i < nb; ++i) {
                r[p0 + i] = s.val[0][i];
                for (int j = 0; j < P; ++j) J[(p0 + i) * P + j] = ((s.mask[0] >> j) & 1u) ? s.grad[0][j][i] : 0.0;
            }
        }
        for (double v : r)
            if (!std::isfinite(v)) return false;
        return normal_equations(r.data(), J.data(), static_cast<std::size_t>(M), P, free_mask, A, g, cost);
    }
};

// (x, cost, nit, nfev, status, J^T J), as solve_callback
using SingleResult = py::typing::Tuple<carray<double>, double, int, long, int, carray<double>>;

SingleResult solve_single(const carray<std::int32_t>& code, const carray<double>& consts, int n_params,
                          const carray<double>& columns, const carray<double>& p0, const carray<double>& lower,
                          const carray<double>& upper, double ftol, double xtol, double gtol, int max_nfev) {
    require(columns.ndim() == 2, "columns must be 2-D (n_columns, n_points)");
    const ProgramView prog = make_program(code, consts, n_params, static_cast<int>(columns.shape(0)));
    const int P = n_params;
    require(P >= 1, "a fit needs at least one parameter");
    require(p0.ndim() == 1 && p0.size() == P, "p0 must have one value per parameter");
    require(lower.size() == P && upper.size() == P, "bounds must have one value per parameter");
    const std::int64_t M = columns.shape(1);
    require(M >= 1, "a fit needs at least one point");
    carray<double> x(P);
    std::copy(p0.data(), p0.data() + P, x.mutable_data());
    carray<double> jtj({P, P});
    LmOutcome o;
    long calls = 0;
    bool malformed = false;
    {
        py::gil_scoped_release release;
        const bool held = with_size_class(prog, [&](auto size) {
            using Size = decltype(size);
            using Scratch = BlockScratch<kBlock, Size::kParams, Size::kStack>;
            std::unique_ptr<Scratch> scratch(new Scratch);  // default-initialised: every lane is written first
            ProgramResidualEvaluator<Scratch> eval{prog, columns.data(), M, P, *scratch};
            eval.r.resize(M);
            eval.J.resize(M * P);
            LmWork work;
            const std::uint32_t free_mask = P >= 32 ? 0xffffffffu : ((1u << P) - 1u);
            o = lm_solve(eval, P, x.mutable_data(), free_mask, lower.data(), upper.data(),
                         make_options(ftol, xtol, gtol, max_nfev), work);
            std::copy(work.A, work.A + P * P, jtj.mutable_data());
            calls = eval.calls;
            malformed = eval.malformed;
        });
        malformed = malformed || !held;
    }
    require(!malformed, "malformed program (stack misuse or bad argument)");
    return py::make_tuple(x, o.cost, o.nit, calls, static_cast<int>(o.status), jtj);
}

}  // namespace

void register_single(py::module_& m) {
    m.def("solve_single", &solve_single, py::arg("code"), py::arg("consts"), py::arg("n_params"),
          py::arg("columns"), py::arg("p0"), py::arg("lower"), py::arg("upper"), py::arg("ftol"),
          py::arg("xtol"), py::arg("gtol"), py::arg("max_nfev"),
          "Fit one residual program (its value at each point is a weighted residual) on the calling thread; "
          "returns (x, cost, nit, nfev, status, J^T J) as solve_callback.");
}

}  // namespace bindings
}  // namespace lawfit
