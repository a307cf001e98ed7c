// solve_callback: one problem whose residuals come from a Python callable.
#include <pybind11/functional.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <algorithm>

#include "callback_evaluator.hpp"
#include "common.hpp"

namespace lawfit {
namespace bindings {

namespace {

// (x, cost, nit, nfev, status, J^T J)
using CallbackResult = py::typing::Tuple<carray<double>, double, int, long, int, carray<double>>;

CallbackResult solve_callback(py::function fun, const carray<double>& p0,
                              const std::optional<carray<std::uint8_t>>& fixed, const carray<double>& lower,
                              const carray<double>& upper, double ftol, double xtol, double gtol, int max_nfev,
                              Loss loss, double delta) {
    const int P = static_cast<int>(p0.size());
    require(P >= 1 && P <= kMaxParams, "a fit needs between 1 and " + std::to_string(kMaxParams) + " parameters");
    require(lower.size() == P && upper.size() == P, "bounds must have one value per parameter");
    std::uint32_t free_mask = 0;
    for (int j = 0; j < P; ++j)
        if (!fixed || !fixed->data()[j]) free_mask |= 1u << j;
    carray<double> x(P);
    std::copy(p0.data(), p0.data() + P, x.mutable_data());
    require(delta > 0.0, "delta must be positive");
    CallbackEvaluator eval{fun, P, upper.data()};
    eval.loss = loss;
    eval.delta = delta;
    LmWork work;
    const LmOutcome o = lm_solve(eval, P, x.mutable_data(), free_mask, lower.data(), upper.data(),
                                 make_options(ftol, xtol, gtol, max_nfev), work);
    carray<double> jtj({P, P});
    std::copy(work.A, work.A + P * P, jtj.mutable_data());
    return py::make_tuple(x, o.cost, o.nit, eval.calls, static_cast<int>(o.status), jtj);
}

}  // namespace

void register_callback(py::module_& m) {
    m.def("solve_callback", &solve_callback, py::arg("fun"), py::arg("p0"), py::arg("fixed"),
          py::arg("lower"), py::arg("upper"), py::arg("ftol"), py::arg("xtol"), py::arg("gtol"),
          py::arg("max_nfev"), py::arg("loss") = Loss::L2, py::arg("delta") = 1.0,
          "Fit one problem whose weighted residuals (or (residuals, jacobian)) come from a Python callable; "
          "with a robust loss, 1/2 sum delta^2 rho((r / delta)^2) as least_squares.");
}

}  // namespace bindings
}  // namespace lawfit
