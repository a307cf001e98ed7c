// Per-problem outcome of a fit.  The numbers 1-4 follow MINPACK's `info`
// (Moré, Garbow & Hillstrom 1980, lmder) so scipy users read them the same way;
// the Python layer exports this enum as `lawfit.Status` (not retyped).
#pragma once
#include <cstdint>

#include "config.hpp"

namespace lawfit {

enum class Status : std::int32_t {
    NOT_RUN = 0,
    CONVERGED_FTOL = 1,       // relative reduction of the cost <= ftol
    CONVERGED_XTOL = 2,       // relative step size <= xtol
    CONVERGED_FTOL_XTOL = 3,  // both of the above
    CONVERGED_GTOL = 4,       // gradient orthogonal to the residuals within gtol
    MAX_EVALUATIONS = 5,      // evaluation budget used up before convergence
    STALLED = 6,              // no step reduces the cost although no test is met
    SINGULAR = 7,             // the damped normal equations could not be solved
    NON_FINITE = 8,           // the model is NaN/inf at the starting point
    BAD_INPUT = 9,            // invalid data, start or bounds for this problem
    INTERRUPTED = 10,         // the batch was cancelled before this problem ran
};

LAWFIT_HD inline constexpr bool converged(Status s) {
    return s == Status::CONVERGED_FTOL || s == Status::CONVERGED_XTOL ||
           s == Status::CONVERGED_FTOL_XTOL || s == Status::CONVERGED_GTOL;
}
}  // namespace lawfit
