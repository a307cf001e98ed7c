// Evaluator for problems the law-program path cannot express: the model is a
// Python callable (untraceable function, user-supplied jac, 2-D sigma).  The
// callable returns weighted residuals r(p), or (r, J); without J, forward
// differences as MINPACK's fdjac2 (step sqrt(eps) * |p_j|, eps = machine eps,
// scipy.optimize.leastsq's default epsfcn), turned back inside the bounds.
// Host only; runs with the GIL held.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "lawfit/evaluator.hpp"
#include "lawfit/loss.hpp"
#include "lawfit/opcodes.hpp"

namespace lawfit {

namespace py = pybind11;

// g = J^T u and A = J^T diag(v) J over the free parameters (zero rows and columns
// for the others; v = null: A = J^T J) from J (M x P, row-major), added in point
// order.  One order of summation for every single-fit path, so that a law program
// evaluated in the core (ProgramResidualEvaluator) and the same program called back
// from Python give the same bits.
inline void gram(const double* u, const double* v, const double* J, std::size_t M, int P, std::uint32_t free_mask,
                 double* A, double* g) {
    for (int j = 0; j < P; ++j) {
        g[j] = 0.0;
        for (int k = 0; k < P; ++k) A[j * P + k] = 0.0;
    }
    for (int j = 0; j < P; ++j) {
        if (!((free_mask >> j) & 1u)) continue;
        double gj = 0.0;
        for (std::size_t i = 0; i < M; ++i) gj += J[i * P + j] * u[i];
        g[j] = gj;
        for (int k = j; k < P; ++k) {
            if (!((free_mask >> k) & 1u)) continue;
            double a = 0.0;
            if (v)
                for (std::size_t i = 0; i < M; ++i) a += J[i * P + j] * v[i] * J[i * P + k];
            else
                for (std::size_t i = 0; i < M; ++i) a += J[i * P + j] * J[i * P + k];
            A[j * P + k] = a;
            A[k * P + j] = a;
        }
    }
}

// True when all n values are finite (check_points' bit test).
inline bool all_finite(const double* v, int n) {
    std::uint64_t bad = 0;
    for (int j = 0; j < n; ++j) bad |= math::non_finite_bit(v[j]);
    return !bad;
}

// cost = 1/2 sum r^2, g = J^T r, A = J^T J from residuals r (M) and their
// Jacobian J.  False when the cost or A is not finite.
inline bool normal_equations(const double* r, const double* J, std::size_t M, int P, std::uint32_t free_mask,
                             double* A, double* g, double* cost) {
    double c = 0.0;
    for (std::size_t i = 0; i < M; ++i) c += r[i] * r[i];
    *cost = 0.5 * c;
    gram(r, nullptr, J, M, P, free_mask, A, g);
    return all_finite(cost, 1) && all_finite(A, P * P);
}

// The same for a robust loss (least_squares' rho of z = r^2 / delta^2): cost = 1/2 sum delta^2 rho,
// g = J^T (rho' r), A = J^T diag(h) J with the batch's curvature h (robust_tail: rho' + 2 rho'' z
// floored at floor * rho' and eps).  False when the cost, g or A is not finite.
inline bool robust_equations(const double* r, const double* J, std::size_t M, int P, std::uint32_t free_mask,
                             Loss loss, double delta, double floor, std::vector<double>& wr,
                             std::vector<double>& wt, double* A, double* g, double* cost) {
    const double d2 = delta * delta;
    double c = 0.0;
    wr.resize(M);
    wt.resize(M);
    for (std::size_t i = 0; i < M; ++i) {
        const double z = r[i] * r[i] / d2;
        double r0, r1, r2;
        loss_rho(loss, z, r0, r1, r2);
        detail::robust_tail(r0, r1, r2, z, r[i], 1.0, 1.0, d2, floor, c, wr[i], wt[i]);
    }
    *cost = 0.5 * c;
    gram(wr.data(), wt.data(), J, M, P, free_mask, A, g);
    return all_finite(cost, 1) && all_finite(g, P) && all_finite(A, P * P);
}

struct CallbackEvaluator {
    py::function fun;
    int P;
    const double* hi;
    Loss loss = Loss::L2;
    double delta = 1.0;
    static constexpr double kIrlsFloor = 1.0;  // IRLS curvature, the batch solver's default
    long calls = 0;
    std::vector<double> r, rh, J;  // J: n_points x P
    std::vector<double> wr, wt;    // robust weights of r in g and of J J^T in A

    bool residuals(const double* x, std::vector<double>& out, bool* has_jac) {
        py::array_t<double> px(P);
        std::copy(x, x + P, px.mutable_data());
        py::object res = fun(px);
        ++calls;
        py::array_t<double, py::array::c_style | py::array::forcecast> rv;
        *has_jac = false;
        if (py::isinstance<py::tuple>(res)) {
            py::tuple t = res.cast<py::tuple>();
            rv = t[0].cast<py::array_t<double, py::array::c_style | py::array::forcecast>>();
            auto jv = t[1].cast<py::array_t<double, py::array::c_style | py::array::forcecast>>();
            if (jv.ndim() != 2 || jv.shape(0) != rv.size() || jv.shape(1) != P)
                throw py::value_error("jac returned an array of the wrong shape");
            J.assign(jv.data(), jv.data() + jv.size());
            *has_jac = true;
        } else {
            rv = res.cast<py::array_t<double, py::array::c_style | py::array::forcecast>>();
        }
        out.assign(rv.data(), rv.data() + rv.size());
        for (double v : out)
            if (!std::isfinite(v)) return false;
        return true;
    }

    bool operator()(const double* x, std::uint32_t free_mask, double* A, double* g, double* cost) {
        bool has_jac = false;
        if (!residuals(x, r, &has_jac)) return false;
        const std::size_t M = r.size();
        if (!has_jac) {
            J.assign(M * P, 0.0);
            std::vector<double> xh(x, x + P);
            const double root_eps = std::sqrt(2.220446049250313e-16);
            for (int j = 0; j < P; ++j) {
                if (!((free_mask >> j) & 1u)) continue;
                double h = root_eps * std::fabs(x[j]);
                if (h == 0.0) h = root_eps;
                if (x[j] + h > hi[j]) h = -h;
                xh[j] = x[j] + h;
                bool dummy;
                if (!residuals(xh.data(), rh, &dummy) || rh.size() != M) return false;
                for (std::size_t i = 0; i < M; ++i) J[i * P + j] = (rh[i] - r[i]) / h;
                xh[j] = x[j];
            }
        }
        if (loss != Loss::L2)
            return robust_equations(r.data(), J.data(), M, P, free_mask, loss, delta, kIrlsFloor, wr, wt, A, g, cost);
        return normal_equations(r.data(), J.data(), M, P, free_mask, A, g, cost);
    }
};

}  // namespace lawfit
