// The enums: per-problem status, program opcodes, robust losses (IntEnums).
#include <pybind11/native_enum.h>

#include "common.hpp"

namespace lawfit {
namespace bindings {

void register_enums(py::module_& m) {
    py::native_enum<Status>(m, "Status", "enum.IntEnum", "Per-problem outcome of a fit")
        .value("NOT_RUN", Status::NOT_RUN)
        .value("CONVERGED_FTOL", Status::CONVERGED_FTOL)
        .value("CONVERGED_XTOL", Status::CONVERGED_XTOL)
        .value("CONVERGED_FTOL_XTOL", Status::CONVERGED_FTOL_XTOL)
        .value("CONVERGED_GTOL", Status::CONVERGED_GTOL)
        .value("MAX_EVALUATIONS", Status::MAX_EVALUATIONS)
        .value("STALLED", Status::STALLED)
        .value("SINGULAR", Status::SINGULAR)
        .value("NON_FINITE", Status::NON_FINITE)
        .value("BAD_INPUT", Status::BAD_INPUT)
        .value("INTERRUPTED", Status::INTERRUPTED)
        .finalize();
    py::native_enum<Op>(m, "Op", "enum.IntEnum", "Law-program opcodes")
        .value("CONST", Op::CONST).value("INPUT", Op::INPUT).value("PARAM", Op::PARAM)
        .value("ADD", Op::ADD).value("SUB", Op::SUB).value("MUL", Op::MUL).value("DIV", Op::DIV)
        .value("POW", Op::POW).value("NEG", Op::NEG).value("EXP", Op::EXP).value("LOG", Op::LOG)
        .value("LOG10", Op::LOG10).value("LOG1P", Op::LOG1P).value("EXPM1", Op::EXPM1)
        .value("SQRT", Op::SQRT).value("ABS", Op::ABS).value("SIN", Op::SIN).value("COS", Op::COS)
        .value("TAN", Op::TAN).value("ARCTAN", Op::ARCTAN).value("TANH", Op::TANH)
        .value("SIGMOID", Op::SIGMOID).value("SOFTPLUS", Op::SOFTPLUS).value("MIN", Op::MIN)
        .value("MAX", Op::MAX).value("POWI", Op::POWI).value("LGAMMA", Op::LGAMMA)
        .finalize();
    py::native_enum<Loss>(m, "Loss", "enum.IntEnum", "Robust loss applied to the residuals")
        .value("L2", Loss::L2).value("HUBER", Loss::HUBER).value("SOFT_L1", Loss::SOFT_L1)
        .value("CAUCHY", Loss::CAUCHY).value("ARCTAN", Loss::ARCTAN)
        .finalize();
}

}  // namespace bindings
}  // namespace lawfit
