// Small dense linear algebra (linalg.hpp): Cholesky factorisation and solves,
// refusal of matrices that are not positive definite, the scaled SPD inverse.
#define LAWFIT_TEST_MAIN
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "harness.hpp"
#include "lawfit/linalg.hpp"

namespace {

constexpr int kLd = lawfit::kMaxParams;

// A random SPD matrix G G^T + shift I (n x n, row-major with leading dimension ld).
std::vector<double> random_spd(int n, int ld, double shift, std::mt19937_64& gen) {
    std::normal_distribution<double> nd;
    std::vector<double> G(n * n), A(n * ld, 0.0);
    for (double& g : G) g = nd(gen);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
            double s = i == j ? shift : 0.0;
            for (int k = 0; k < n; ++k) s += G[i * n + k] * G[j * n + k];
            A[i * ld + j] = s;
        }
    return A;
}

}  // namespace

LF_TEST(cholesky_reconstructs_and_solves) {
    std::mt19937_64 gen(1);
    for (int n = 1; n <= lawfit::kMaxParams; ++n) {
        const std::vector<double> A = random_spd(n, kLd, 0.5, gen);
        std::vector<double> L = A;
        double inv[lawfit::kMaxParams];
        if (!CHECK(lawfit::cholesky(L.data(), n, kLd, inv))) continue;
        double scale = 0.0;
        for (int i = 0; i < n; ++i) scale = std::max(scale, A[i * kLd + i]);
        for (int i = 0; i < n; ++i) {
            CHECK(L[i * kLd + i] > 0.0);
            CHECK_NEAR(inv[i] * L[i * kLd + i], 1.0, 1e-15, 0.0);
            for (int j = 0; j <= i; ++j) {  // (L L^T)_ij == A_ij
                double s = 0.0;
                for (int k = 0; k <= j; ++k) s += L[i * kLd + k] * L[j * kLd + k];
                CHECK_NEAR(s, A[i * kLd + j], 0.0, 1e-13 * scale);
            }
        }
        // Upper triangle is never touched.
        for (int i = 0; i < n; ++i)
            for (int j = i + 1; j < n; ++j) CHECK_SAME_BITS(L[i * kLd + j], A[i * kLd + j]);
        // Solve A x = b for a known x.
        std::vector<double> x(n), b(n, 0.0);
        for (int i = 0; i < n; ++i) x[i] = std::sin(1.0 + i);
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) b[i] += A[i * kLd + j] * x[j];
        lawfit::cholesky_solve(L.data(), inv, n, kLd, b.data());
        for (int i = 0; i < n; ++i) CHECK_NEAR(b[i], x[i], 1e-9, 1e-9);
    }
}

LF_TEST(cholesky_refuses_matrices_that_are_not_positive_definite) {
    double inv[4];
    {
        double M[4] = {1.0, 2.0, 2.0, 1.0};  // eigenvalues 3, -1
        CHECK(!lawfit::cholesky(M, 2, 2, inv));
    }
    {
        double M[4] = {1.0, 1.0, 1.0, 1.0};  // singular: second pivot exactly 0
        CHECK(!lawfit::cholesky(M, 2, 2, inv));
    }
    {
        double M[1] = {-1.0};
        CHECK(!lawfit::cholesky(M, 1, 1, inv));
    }
    {
        double M[4] = {std::numeric_limits<double>::quiet_NaN(), 0.0, 0.0, 1.0};
        CHECK(!lawfit::cholesky(M, 2, 2, inv));
    }
    {
        double M[4] = {std::numeric_limits<double>::infinity(), 0.0, 0.0, 1.0};
        CHECK(!lawfit::cholesky(M, 2, 2, inv));
    }
    {
        double M[4] = {4.0, 0.0, std::numeric_limits<double>::quiet_NaN(), 1.0};  // NaN below the diagonal
        CHECK(!lawfit::cholesky(M, 2, 2, inv));
    }
    {
        double M[1] = {0.0};
        CHECK(lawfit::cholesky(M, 0, 1, inv));  // n = 0: nothing to factor
    }
}

LF_TEST(forward_solve_is_the_lower_triangular_solve) {
    // L = [[2, 0], [1, 4]]: L y = (2, 9) -> y = (1, 2).
    double L[4] = {2.0, 99.0, 1.0, 4.0};
    const double inv[2] = {0.5, 0.25};
    double b[2] = {2.0, 9.0};
    lawfit::forward_solve(L, inv, 2, 2, b);
    CHECK_EQ(b[0], 1.0);
    CHECK_EQ(b[1], 2.0);
}

LF_TEST(scaled_spd_inverse_inverts_badly_scaled_matrices) {
    std::mt19937_64 gen(2);
    for (int P = 1; P <= lawfit::kMaxParams; ++P) {
        std::vector<double> S = random_spd(P, P, 1.0, gen);
        // Parameters of very different magnitudes: D S D with D from 1e-6 to 1e6.
        std::vector<double> d(P), A(P * P), out(P * P), work(P * P);
        for (int i = 0; i < P; ++i) d[i] = std::pow(10.0, -6.0 + 12.0 * i / std::max(1, P - 1));
        for (int i = 0; i < P; ++i)
            for (int j = 0; j < P; ++j) A[i * P + j] = d[i] * S[i * P + j] * d[j];
        if (!CHECK(lawfit::scaled_spd_inverse(A.data(), P, out.data(), work.data(), 1e-10))) continue;
        for (int i = 0; i < P; ++i)  // A * inv(A) == I, column by column in relative terms
            for (int j = 0; j < P; ++j) {
                double s = 0.0;
                for (int k = 0; k < P; ++k) s += A[i * P + k] * out[k * P + j];
                CHECK_NEAR(s * d[j] / d[i], i == j ? 1.0 : 0.0, 0.0, 1e-9);
                CHECK_NEAR(out[i * P + j], out[j * P + i], 1e-12, 0.0);  // symmetric
            }
    }
}

LF_TEST(scaled_spd_inverse_reports_singular_matrices) {
    std::vector<double> out(9), work(9);
    const double zero_diag[9] = {1, 0, 0, 0, 0, 0, 0, 0, 1};
    CHECK(!lawfit::scaled_spd_inverse(zero_diag, 3, out.data(), work.data(), 1e-10));
    const double rank2[9] = {1, 1, 0, 1, 1, 0, 0, 0, 1};  // two equal columns
    CHECK(!lawfit::scaled_spd_inverse(rank2, 3, out.data(), work.data(), 1e-10));
    const double nearly[4] = {1.0, 1.0 - 1e-13, 1.0 - 1e-13, 1.0};  // scaled pivot ~2e-13
    CHECK(!lawfit::scaled_spd_inverse(nearly, 2, out.data(), work.data(), 1e-10));
    CHECK(lawfit::scaled_spd_inverse(nearly, 2, out.data(), work.data(), 1e-14));
    const double negative[4] = {-1.0, 0.0, 0.0, 1.0};
    CHECK(!lawfit::scaled_spd_inverse(negative, 2, out.data(), work.data(), 1e-10));
}

// Each lane's result has the scalar function's bits, and a lane the scalar function refuses
// (zero diagonal, collinear, nearly singular, negative, NaN) is refused and left untouched while
// its neighbours are inverted.  W lanes; KP > 0: P fixed at compile time (the bindings' form).
template <int W, int KP>
void check_inverse_lanes_bits() {
    std::mt19937_64 gen(3 + W + KP);
    for (int P = KP > 0 ? KP : 1; P <= (KP > 0 ? KP : lawfit::kMaxParams); ++P) {
        for (int trial = 0; trial < 4 + 4 * W; ++trial) {
            std::vector<std::vector<double>> A(W), got(W, std::vector<double>(P * P, -7.0));
            for (int l = 0; l < W; ++l) {
                std::vector<double> S = random_spd(P, P, 1e-3, gen);
                for (int i = 0; i < P; ++i)
                    for (int j = 0; j < P; ++j)
                        S[i * P + j] *= std::pow(10.0, (i + j) % 7 - 3.0);  // different magnitudes
                A[l] = S;
            }
            const int bad = (trial / 4) % W;  // spoil one lane (each in turn) in most trials
            const int how = trial % 4;
            if (trial >= 4) {
                if (how == 0) A[bad][0] = 0.0;
                if (how == 1) A[bad][0] = -1.0;
                if (how == 2 && P > 1)
                    for (int i = 0; i < P; ++i) A[bad][i * P + 1] = A[bad][i * P + 0], A[bad][1 * P + i] = A[bad][0 * P + i];
                if (how == 3) A[bad][P * P - 1] = std::numeric_limits<double>::quiet_NaN();
            }
            const double* in[W];
            double* out[W];
            for (int l = 0; l < W; ++l) in[l] = A[l].data(), out[l] = got[l].data();
            bool ok[W];
            lawfit::scaled_spd_inverse_lanes<W, KP>(in, P, out, ok, 1e-10);
            for (int l = 0; l < W; ++l) {
                std::vector<double> ref(P * P, -7.0), work(P * P);
                const bool want = lawfit::scaled_spd_inverse(A[l].data(), P, ref.data(), work.data(), 1e-10);
                CHECK_EQ(ok[l], want);
                if (want) {
                    for (int i = 0; i < P * P; ++i) CHECK(std::memcmp(&got[l][i], &ref[i], sizeof(double)) == 0);
                } else {
                    for (int i = 0; i < P * P; ++i) CHECK_EQ(got[l][i], -7.0);  // untouched
                }
            }
        }
    }
}

LF_TEST(scaled_spd_inverse_lanes_gives_the_scalar_bits) {
    check_inverse_lanes_bits<4, 0>();
    check_inverse_lanes_bits<8, 0>();
    check_inverse_lanes_bits<8, 2>();
    check_inverse_lanes_bits<8, 5>();
    check_inverse_lanes_bits<8, lawfit::kMaxParams>();
}
