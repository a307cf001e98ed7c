// exp and log written once for every back end.  Why not std::exp/std::log:
// (1) these are branch-free, so the compiler vectorises a loop over a block of
// points (glibc's scalar exp/log stop vectorisation without -ffast-math), and
// (2) CPU and GPU compute bit-identical values, which is what lets the two back
// ends agree to the last bit on the same inputs.
// Accuracy: below 1 ulp (exp: 0.88 ulp worst seen over 1e7 arguments) over the whole double range, including
// subnormal results/arguments, with IEEE results for 0, inf and NaN.
// Method: Cody-Waite range reduction with fdlibm's split ln2 constants
// (Sun Microsystems fdlibm, e_exp.c / e_log.c); polynomials are Taylor series
// truncated where the next term is below 2^-56 on the reduced range.
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
    // separately (fdlibm e_exp.c's ordering) keeps the error below 0.9 ulp.
    double q = 1.0 / 6227020800.0;  // 1/13!
    q = q * r + 1.0 / 479001600.0;
    q = q * r + 1.0 / 39916800.0;
    q = q * r + 1.0 / 3628800.0;
    q = q * r + 1.0 / 362880.0;
    q = q * r + 1.0 / 40320.0;
    q = q * r + 1.0 / 5040.0;
    q = q * r + 1.0 / 720.0;
    q = q * r + 1.0 / 120.0;
    q = q * r + 1.0 / 24.0;
    q = q * r + 1.0 / 6.0;
    q = q * r + 0.5;
    const double p = 1.0 + (hi - (lo - r * r * q));
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
    // log(1+f) = f - hfsq + s*(hfsq + R), R = 2z/3 + 2z^2/5 + ... (fdlibm e_log.c)
    double R = 2.0 / 23.0;
    R = R * z + 2.0 / 21.0;
    R = R * z + 2.0 / 19.0;
    R = R * z + 2.0 / 17.0;
    R = R * z + 2.0 / 15.0;
    R = R * z + 2.0 / 13.0;
    R = R * z + 2.0 / 11.0;
    R = R * z + 2.0 / 9.0;
    R = R * z + 2.0 / 7.0;
    R = R * z + 2.0 / 5.0;
    R = R * z + 2.0 / 3.0;
    R = R * z;
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
