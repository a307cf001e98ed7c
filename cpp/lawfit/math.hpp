// exp and log written once for every back end.  Why not std::exp/std::log:
// (1) these are branch-free, so the compiler vectorises a loop over a block of
// points (glibc's scalar exp/log stop vectorisation without -ffast-math), and
// (2) CPU and GPU compute bit-identical values, which is what lets the two back
// ends agree to the last bit on the same inputs.
// Accuracy: below 1 ulp over the whole double range, including subnormal
// results/arguments, with IEEE results for 0, inf and NaN.  Worst seen over
// 5e7 arguments each (against long double; the spread of tests/cpp/test_math.cpp):
// exp 0.889 ulp, log 0.844 ulp.
// Method: Cody-Waite range reduction with fdlibm's split ln2 constants
// (Sun Microsystems fdlibm, e_exp.c / e_log.c); polynomials are Taylor series
// truncated where the next term is below 2^-56 on the reduced range, evaluated
// by Estrin's scheme (Knuth, TAOCP vol. 2, 4.6.4) rather than Horner's: the
// same plain multiplies and adds (no FMA, so CPU and GPU still round alike),
// but a dependency chain of 8 operations instead of 24, which is what bounds
// a block of points (latency, not throughput).  Against the Horner form this
// changes the last bit of about 1 exp in 1,400 and 1 log in 3,500, with the
// same worst error.
#pragma once
#include <cstdint>
#include <cstring>

#include "config.hpp"

namespace lawfit {
namespace math {

LAWFIT_HD LAWFIT_INLINE std::uint64_t to_bits(double x) {
    std::uint64_t u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}
LAWFIT_HD LAWFIT_INLINE double from_bits(std::uint64_t u) {
    double x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

// 1 when v is infinite or NaN (exponent bits all ones), else 0: isfinite's test
// on the bits, which loops vectorise (no branch, no FP compare).
LAWFIT_HD LAWFIT_INLINE std::uint64_t non_finite_bit(double v) {
    return (to_bits(v) & 0x7ff0000000000000ull) == 0x7ff0000000000000ull;
}

constexpr double kLn2Hi = 6.93147180369123816490e-01;  // low 32 bits zero
constexpr double kLn2Lo = 1.90821492927058770002e-10;
constexpr double kRoundMagic = 6755399441055744.0;      // 1.5 * 2^52

LAWFIT_HD LAWFIT_INLINE double exp(double x) {
    // Clamp so that the integer part fits the two-step scaling below; the
    // clamped ends still over/underflow to inf/0.  NaN passes through the
    // comparisons unchanged and propagates through the polynomial.
    double xc = x < -750.0 ? -750.0 : (x > 750.0 ? 750.0 : x);
    double t = xc * 1.4426950408889634 + kRoundMagic;  // round(x / ln2)
    double kd = t - kRoundMagic;
    std::int64_t k = static_cast<std::int64_t>(to_bits(t) - to_bits(kRoundMagic));
    // r = hi - lo, |r| <= ln2/2; hi is exact, lo carries the low bits of k ln2.
    const double hi = xc - kd * kLn2Hi;
    const double lo = kd * kLn2Lo;
    const double r = hi - lo;
    // exp(r) = 1 + r + r^2 q(r); adding the small terms to hi and lo
    // separately (fdlibm e_exp.c's ordering) keeps the error below 1 ulp.
    // q(r) = sum_{i=0..11} r^i / (i + 2)! by Estrin's scheme (Knuth, TAOCP
    // vol. 2, 4.6.4): pairs c_i + c_{i+1} r, then pairs of pairs in r^2, r^4,
    // r^8.  Plain mul/add as Horner's form, but a dependency chain of 8
    // operations instead of 24.  The leading 1/2 is added last so that the
    // roundings of the other sums are those of terms below 0.06 (with it in
    // the first pair, the worst error seen grew from 0.89 to 0.94 ulp).
    const double r2 = r * r;
    const double r4 = r2 * r2;
    const double r8 = r4 * r4;
    const double q23 = 1.0 / 24.0 + r * (1.0 / 120.0);
    const double q45 = 1.0 / 720.0 + r * (1.0 / 5040.0);
    const double q67 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
    const double q89 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
    const double q1011 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
    const double q1_3 = r * (1.0 / 6.0) + r2 * q23;
    const double q4_7 = q45 + r2 * q67;
    const double q8_11 = q89 + r2 * q1011;
    const double q = 0.5 + ((q1_3 + r4 * q4_7) + r8 * q8_11);
    const double p = 1.0 + (hi - (lo - r2 * q));
    // 2^k split in two factors so neither exponent field overflows and a
    // subnormal result is rounded only once.
    std::int64_t k1 = k / 2;
    std::int64_t k2 = k - k1;
    double s1 = from_bits(static_cast<std::uint64_t>(k1 + 1023) << 52);
    double s2 = from_bits(static_cast<std::uint64_t>(k2 + 1023) << 52);
    double result = (p * s1) * s2;
    return x != x ? x : result;
}

LAWFIT_HD LAWFIT_INLINE double log(double x) {
    // Subnormal arguments are scaled into the normal range first.
    bool tiny = x < 2.2250738585072014e-308;
    double xs = tiny ? x * 18014398509481984.0 : x;  // 2^54
    std::uint64_t bits = to_bits(xs);
    // Exponent field as a double without an int64->double conversion.
    double ebias = from_bits((bits >> 52) | 0x4330000000000000ull) - 4503599627370496.0;
    double e = ebias - (tiny ? 1077.0 : 1023.0);
    double m = from_bits((bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull);  // [1, 2)
    bool big = m > 1.4142135623730951;
    m = big ? 0.5 * m : m;
    e = big ? e + 1.0 : e;
    double f = m - 1.0;  // [sqrt(1/2)-1, sqrt(2)-1]
    double s = f / (2.0 + f);
    double z = s * s;
    // log(1+f) = f - hfsq + s*(hfsq + R) (fdlibm e_log.c), R = 2z/3 + 2z^2/5 +
    // ... + 2z^11/23 (the series of log((1+s)/(1-s)) = 2s + 2s^3/3 + ...), by
    // Estrin's scheme in z as exp's q above: dependency chain 7, not 22.
    const double z2 = z * z;
    const double z4 = z2 * z2;
    const double z8 = z4 * z4;
    const double R01 = 2.0 / 3.0 + z * (2.0 / 5.0);
    const double R23 = 2.0 / 7.0 + z * (2.0 / 9.0);
    const double R45 = 2.0 / 11.0 + z * (2.0 / 13.0);
    const double R67 = 2.0 / 15.0 + z * (2.0 / 17.0);
    const double R89 = 2.0 / 19.0 + z * (2.0 / 21.0);
    const double R10 = 2.0 / 23.0;
    const double R0_3 = R01 + z2 * R23;
    const double R4_7 = R45 + z2 * R67;
    const double R8_10 = R89 + z2 * R10;
    const double R = z * ((R0_3 + z4 * R4_7) + z8 * R8_10);
    double hfsq = 0.5 * f * f;
    double result = e * kLn2Hi - ((hfsq - (s * (hfsq + R) + e * kLn2Lo)) - f);
    const double inf = from_bits(0x7ff0000000000000ull);
    const double nan = from_bits(0x7ff8000000000000ull);
    result = x == 0.0 ? -inf : result;
    result = x < 0.0 ? nan : result;
    result = x == inf ? inf : result;
    return x != x ? x : result;
}


// ---------------------------------------------------------------------------
// log Gamma and digamma for x > 0 (the LGAMMA opcode: value and derivative).
// Method: the recurrences Gamma(x + 1) = x Gamma(x) (Abramowitz & Stegun 6.1.15)
// and psi(x + 1) = psi(x) + 1/x (A&S 6.3.5) raise the argument to z >= 10, then
//   log Gamma(z) = (z - 1/2) log z - z + log(2 pi)/2 + sum_n B_2n / (2n (2n - 1) z^(2n - 1))   (A&S 6.1.41)
//   psi(z)       = log z - 1/(2z) - sum_n B_2n / (2n z^(2n))                                 (A&S 6.3.18)
// with Bernoulli numbers B_2 .. B_16 (A&S Table 23.2); at z >= 10 the first
// omitted terms are below 2e-18 and 4e-18.  The shift is a fixed 10-step loop
// with selects, so a block of points vectorises like the other opcodes.
// Accuracy (tests/test_lgamma.py, against scipy.special): 1e-15 relative for
// x >= 10, and for x < 10 a few 1e-15 absolute (relative near the zeros of
// log Gamma at 1 and 2, and of psi at 1.4616, is limited by that absolute error).
// x <= 0 and NaN give NaN; x = +inf gives +inf for both.
struct LgammaDigamma {
    double lgamma;
    double digamma;
};

LAWFIT_HD LAWFIT_INLINE LgammaDigamma lgamma_digamma(double x) {
    double z = x, prod = 1.0, inv_sum = 0.0;
    for (int k = 0; k < 10; ++k) {
        const bool shift = z < 10.0;
        prod *= shift ? z : 1.0;
        inv_sum += shift ? 1.0 / z : 0.0;
        z += shift ? 1.0 : 0.0;
    }
    const double r = 1.0 / z;
    const double r2 = r * r;
    // sum_n B_2n / (2n (2n - 1)) r^(2n - 1), n = 1..8, in Horner form in r^2.
    double sl = -3617.0 / 122400.0;
    sl = sl * r2 + 1.0 / 156.0;
    sl = sl * r2 - 691.0 / 360360.0;
    sl = sl * r2 + 1.0 / 1188.0;
    sl = sl * r2 - 1.0 / 1680.0;
    sl = sl * r2 + 1.0 / 1260.0;
    sl = sl * r2 - 1.0 / 360.0;
    sl = sl * r2 + 1.0 / 12.0;
    sl *= r;
    // sum_n B_2n / (2n) r^(2n), n = 1..8.
    double sd = -3617.0 / 8160.0;
    sd = sd * r2 + 1.0 / 12.0;
    sd = sd * r2 - 691.0 / 32760.0;
    sd = sd * r2 + 1.0 / 132.0;
    sd = sd * r2 - 1.0 / 240.0;
    sd = sd * r2 + 1.0 / 252.0;
    sd = sd * r2 - 1.0 / 120.0;
    sd = sd * r2 + 1.0 / 12.0;
    sd *= r2;
    const double lz = log(z);
    constexpr double kHalfLog2Pi = 0.91893853320467274178;  // log(2 pi) / 2
    // (z - 1/2) log z - z written as (z - 1/2)(log z - 1) - 1/2: smaller terms, less rounding.
    double lg = (((z - 0.5) * (lz - 1.0) - 0.5 + kHalfLog2Pi) + sl) - log(prod);
    double dg = (lz - 0.5 * r - sd) - inv_sum;
    const double inf = from_bits(0x7ff0000000000000ull);
    const double nan = from_bits(0x7ff8000000000000ull);
    lg = x == inf ? inf : lg;
    dg = x == inf ? inf : dg;
    lg = x > 0.0 ? lg : nan;  // also NaN for a NaN argument
    dg = x > 0.0 ? dg : nan;
    return {lg, dg};
}

// One of the pair, for generated code (inlined, the shared shift is computed once).
LAWFIT_HD LAWFIT_INLINE double lgamma(double x) { return lgamma_digamma(x).lgamma; }
LAWFIT_HD LAWFIT_INLINE double digamma(double x) { return lgamma_digamma(x).digamma; }

}  // namespace math
}  // namespace lawfit
