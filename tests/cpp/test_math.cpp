// lawfit::math::exp / log against the C library: within 1 ulp of the exact
// value (long double reference) and IEEE results at the special values.
#define LAWFIT_TEST_MAIN
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "harness.hpp"
#include "lawfit/math.hpp"

namespace {

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kMinNormal = DBL_MIN;
const double kMinSub = std::numeric_limits<double>::denorm_min();

// Error of `got` in ulps of the exact result, estimated with long double
// (64-bit mantissa on x86; elsewhere equal to double and the bound below then
// compares against the C library's double result, which is within 0.5 ulp).
double ulp_error(double got, long double exact) {
    if (std::isinf(got) || std::isinf(static_cast<double>(exact)))
        return got == static_cast<double>(exact) ? 0.0 : 1e300;
    const double e = static_cast<double>(exact);
    // Spacing of doubles at the exact value (subnormal spacing below DBL_MIN).
    const double mag = std::fabs(e);
    const double ulp = mag < kMinNormal ? kMinSub : std::nextafter(mag, kInf) - mag;
    return static_cast<double>(std::fabs(static_cast<long double>(got) - exact) / ulp);
}

struct Worst {
    double err = 0.0, at = 0.0;
    std::uint64_t max_ulps_vs_libm = 0;
    void add(double e, double x) {
        if (e > err) { err = e; at = x; }
    }
};

template <class Ours, class Libm, class Exact>
Worst sweep(const std::vector<double>& xs, Ours ours, Libm libm, Exact exact) {
    Worst w;
    for (double x : xs) {
        const double got = ours(x);
        w.add(ulp_error(got, exact(x)), x);
        const double ref = libm(x);
        if (std::isfinite(got) && std::isfinite(ref)) {
            const std::uint64_t d = lft::ulp_distance(got, ref);
            if (d > w.max_ulps_vs_libm) w.max_ulps_vs_libm = d;
        }
    }
    return w;
}

std::vector<double> uniform(double lo, double hi, int n, unsigned seed) {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<double> u(lo, hi);
    std::vector<double> v(n);
    for (double& x : v) x = u(gen);
    return v;
}

// Arguments spread over the whole positive double range: random bit patterns.
std::vector<double> positive_bit_patterns(int n, unsigned seed) {
    std::mt19937_64 gen(seed);
    std::vector<double> v;
    while (static_cast<int>(v.size()) < n) {
        const std::uint64_t bits = gen() & 0x7fffffffffffffffull;
        const double x = lawfit::math::from_bits(bits);
        if (std::isfinite(x) && x > 0.0) v.push_back(x);
    }
    return v;
}

std::vector<double> exp_arguments() {
    std::vector<double> xs = uniform(-745.0, 709.7, 200000, 1);
    for (double x : uniform(-1.0, 1.0, 100000, 2)) xs.push_back(x);
    for (double x : uniform(-1e-8, 1e-8, 20000, 3)) xs.push_back(x);
    // Near the ends: the largest finite result and the subnormal results.
    for (double x : uniform(709.0, 709.782712893384, 20000, 4)) xs.push_back(x);
    for (double x : uniform(-745.13321910194110, -708.0, 50000, 5)) xs.push_back(x);
    return xs;
}

Worst exp_sweep() {
    return sweep(
        exp_arguments(), [](double x) { return lawfit::math::exp(x); }, [](double x) { return std::exp(x); },
        [](double x) { return std::exp(static_cast<long double>(x)); });
}

}  // namespace

// The two checks the README promises: <= 1 ulp from the exact value, and so at
// most one ulp away from glibc's (nearly correctly rounded) exp.
LF_TEST(exp_within_one_ulp_of_libm) {
    const Worst w = exp_sweep();
    std::printf("  exp: at most %llu ulp from libm\n", static_cast<unsigned long long>(w.max_ulps_vs_libm));
    CHECK(w.max_ulps_vs_libm <= 1);
}

LF_TEST(exp_within_one_ulp_of_exact) {
    const Worst w = exp_sweep();
    std::printf("  exp: worst %.3f ulp of the exact value at x = %.17g\n", w.err, w.at);
    CHECK(w.err <= 1.0);
}

LF_TEST(log_within_one_ulp_on_the_positive_range) {
    std::vector<double> xs = positive_bit_patterns(200000, 6);  // subnormals included
    for (double x : uniform(0.5, 2.0, 100000, 7)) xs.push_back(x);  // cancellation near 1
    for (double x : uniform(1.0 - 1e-6, 1.0 + 1e-6, 20000, 8)) xs.push_back(x);
    for (double x : uniform(0.0, 1e-300, 20000, 9)) xs.push_back(x);
    const Worst w = sweep(
        xs, [](double x) { return lawfit::math::log(x); }, [](double x) { return std::log(x); },
        [](double x) { return std::log(static_cast<long double>(x)); });
    std::printf("  log: worst %.3f ulp at x = %.17g; at most %llu ulp from libm\n", w.err, w.at,
                static_cast<unsigned long long>(w.max_ulps_vs_libm));
    CHECK(w.err <= 1.0);
    CHECK(w.max_ulps_vs_libm <= 1);
}

LF_TEST(exp_special_values) {
    using lawfit::math::exp;
    CHECK(exp(0.0) == 1.0);
    CHECK(exp(-0.0) == 1.0);
    CHECK(exp(kInf) == kInf);
    CHECK(exp(-kInf) == 0.0);
    CHECK(std::isnan(exp(kNaN)));
    CHECK(std::isnan(exp(-kNaN)));
    CHECK(exp(710.0) == kInf);
    CHECK(exp(1e308) == kInf);
    CHECK(exp(-1e308) == 0.0);
    CHECK(exp(-746.0) == 0.0);
    CHECK(std::isfinite(exp(709.782712893384)));
    CHECK(exp(-745.1332191019411) == kMinSub);  // smallest subnormal
    CHECK(lft::ulp_distance(exp(1.0), std::exp(1.0)) <= 1);
    CHECK(exp(DBL_MIN) == 1.0);
}

LF_TEST(log_special_values) {
    using lawfit::math::log;
    CHECK(log(1.0) == 0.0);
    CHECK(log(0.0) == -kInf);
    CHECK(log(-0.0) == -kInf);
    CHECK(std::isnan(log(-1.0)));
    CHECK(std::isnan(log(-kInf)));
    CHECK(std::isnan(log(-kMinSub)));
    CHECK(log(kInf) == kInf);
    CHECK(std::isnan(log(kNaN)));
    CHECK_NEAR(log(kMinSub), -744.44007192138126, 1e-15, 0.0);
    CHECK_NEAR(log(DBL_MAX), 709.78271289338397, 1e-15, 0.0);
    CHECK(log(2.0) == std::log(2.0));
    // Exact powers of two: e*ln2 computed from the split constant.
    for (int e = -1074; e <= 1023; e += 7) {
        const double x = std::ldexp(1.0, e);
        CHECK(lft::ulp_distance(log(x), std::log(x)) <= 1);
    }
}

LF_TEST(exp_log_round_trip) {
    std::mt19937_64 gen(10);
    std::uniform_real_distribution<double> u(-700.0, 700.0);
    for (int i = 0; i < 10000; ++i) {
        const double x = u(gen);
        CHECK_NEAR(lawfit::math::log(lawfit::math::exp(x)), x, 4e-16, 1e-300);
    }
}
