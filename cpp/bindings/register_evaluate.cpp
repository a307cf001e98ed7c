// evaluate: a program's value and gradient at every point.
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include "common.hpp"
#include "cpu_backend.hpp"

namespace lawfit {
namespace bindings {

namespace {

py::typing::Tuple<carray<double>, carray<double>> evaluate(const carray<std::int32_t>& code, const carray<double>& consts, int n_params,
                   const carray<double>& columns, const carray<double>& params,
                   const std::optional<carray<std::int64_t>>& offsets, bool gradient) {
    require(columns.ndim() == 2, "columns must be 2-D (n_columns, n_points)");
    const ProgramView prog = make_program(code, consts, n_params, static_cast<int>(columns.shape(0)));
    const std::int64_t n = columns.shape(1);
    std::int64_t n_laws = 1;
    if (offsets) {
        n_laws = offsets->size() - 1;
        require(offsets->ndim() == 1 && n_laws >= 0, "offsets must be 1-D with n_laws + 1 entries");
        const auto* o = offsets->data();
        require(o[0] == 0 && o[n_laws] == n, "offsets must run from 0 to the number of points");
        for (std::int64_t l = 0; l < n_laws; ++l) require(o[l + 1] >= o[l], "offsets must not decrease");
        require(params.ndim() == 2 && params.shape(0) == n_laws && params.shape(1) == n_params,
                "params must have shape (n_laws, n_params) with offsets");
    } else {
        require(params.ndim() == 1 && params.shape(0) == n_params, "params must have one value per parameter");
    }
    carray<double> value(n);
    carray<double> grad({gradient ? n : 0, static_cast<std::int64_t>(n_params)});
    bool ok;
    {
        py::gil_scoped_release release;
        ok = evaluate_program_cpu(prog, columns.data(), n, ptr_or_null(offsets), n_laws, params.data(),
                                  value.mutable_data(), gradient ? grad.mutable_data() : nullptr);
    }
    require(ok, "malformed program (stack misuse or bad argument)");
    return py::make_tuple(value, grad);
}

}  // namespace

void register_evaluate(py::module_& m) {
    m.def("evaluate", &evaluate, py::arg("code"), py::arg("consts"), py::arg("n_params"),
          py::arg("columns"), py::arg("params"), py::arg("offsets") = py::none(), py::arg("gradient") = true,
          "Value and gradient of a program at every point; with offsets, law l's points use params[l]. "
          "gradient=False: values only (the gradient has 0 rows).");
}

}  // namespace bindings
}  // namespace lawfit
