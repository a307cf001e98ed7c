// Robust losses rho(z) of the squared scaled residual z = (r / delta)^2, with
// the definitions of scipy.optimize.least_squares (loss=..., f_scale=delta):
//   l2       rho = z
//   huber    rho = z                      (z <= 1),  2 sqrt(z) - 1   (z > 1)
//   soft_l1  rho = 2 (sqrt(1 + z) - 1)
//   cauchy   rho = log(1 + z)
//   arctan   rho = arctan(z)
// The cost is 1/2 delta^2 sum rho.  For delta * huber this is Huber's (1964)
// loss, 1/2 r^2 inside [-delta, delta] and delta (|r| - delta/2) outside, the
// form Hoffmann et al. (2022, eq. 3 / Appendix D.2) minimise on log-loss
// residuals with delta = 1e-3.
#pragma once
#include <cmath>
#include <cstdint>

#include "config.hpp"

namespace lawfit {

enum class Loss : std::int32_t { L2 = 0, HUBER = 1, SOFT_L1 = 2, CAUCHY = 3, ARCTAN = 4 };

// rho(z) and its first two derivatives.
LAWFIT_HD inline void loss_rho(Loss loss, double z, double& r0, double& r1, double& r2) {
    switch (loss) {
        case Loss::HUBER:
            if (z <= 1.0) {
                r0 = z; r1 = 1.0; r2 = 0.0;
            } else {
                const double s = std::sqrt(z);
                r0 = 2.0 * s - 1.0; r1 = 1.0 / s; r2 = -0.5 / (z * s);
            }
            return;
        case Loss::SOFT_L1: {
            const double t = 1.0 + z, s = std::sqrt(t);
            r0 = 2.0 * (s - 1.0); r1 = 1.0 / s; r2 = -0.5 / (t * s);
            return;
        }
        case Loss::CAUCHY: {
            const double t = 1.0 + z;
            r0 = std::log1p(z); r1 = 1.0 / t; r2 = -1.0 / (t * t);
            return;
        }
        case Loss::ARCTAN: {
            const double t = 1.0 + z * z;
            r0 = std::atan(z); r1 = 1.0 / t; r2 = -2.0 * z / (t * t);
            return;
        }
        default:
            r0 = z; r1 = 1.0; r2 = 0.0;
    }
}

}  // namespace lawfit
