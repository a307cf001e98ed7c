// Counter-based bootstrap multiplicities: the weight of a point (or of a whole
// group of points) in resample r of law l is a pure function of
// (seed, law, resample, unit), so any resample can be regenerated anywhere and
// the CPU and GPU back ends draw identical resamples without storing them.
//
// The multiplicity is Poisson(1) ("Poisson bootstrap": Hanley & MacGibbon 2006,
// Comput. Methods Programs Biomed. 83:57; Chamandy et al. 2012, "Estimating
// uncertainty for massive data streams"), the n -> infinity limit of the
// multinomial counts of the classical bootstrap; units are drawn independently,
// so no per-resample table is needed.  Mixing: SplitMix64 (Steele, Lea & Flood
// 2014, "Fast splittable pseudorandom number generators", OOPSLA).
#pragma once
#include <cstdint>

#include "config.hpp"

namespace lawfit {

LAWFIT_HD inline std::uint64_t splitmix64(std::uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// The part of the stream shared by every unit of resample `resample` of law
// `law`: computed once per problem, not once per point and evaluation.
LAWFIT_HD inline std::uint64_t resample_key(std::uint64_t seed, std::int64_t law, std::int64_t resample) {
    std::uint64_t h = splitmix64(seed);
    h = splitmix64(h ^ static_cast<std::uint64_t>(law));
    return splitmix64(h ^ static_cast<std::uint64_t>(resample));
}

#if !defined(__CUDA_ARCH__)
namespace detail {
// The CDF values the inverse-CDF loop of resample_count reaches, by that
// loop's own operations (evaluated at compile time: IEEE division and addition
// round alike there; tests/cpp checks every entry against the loop at run
// time): the host looks them up instead of dividing at every step.
struct PoissonCdf {
    double at[31];
};
constexpr PoissonCdf poisson_cdf() {
    PoissonCdf t{};
    double p = 0.36787944117144233, cdf = p;
    t.at[0] = cdf;
    for (int k = 1; k <= 30; ++k) {
        p /= k;
        cdf += p;
        t.at[k] = cdf;
    }
    return t;
}
// Internal linkage: no symbol shared between libraries (a function-local static
// would be one, and keep a compiled law's library from being unloaded).
static constexpr PoissonCdf kPoissonCdf = poisson_cdf();
}  // namespace detail
#endif

// Poisson(1) count for one unit of the resample with this key.
LAWFIT_HD inline int resample_count(std::uint64_t key, std::int64_t unit) {
    const std::uint64_t h = splitmix64(key ^ static_cast<std::uint64_t>(unit));
    const double u = static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);  // [0, 1)
    // Inverse CDF of Poisson(1): P(k) = e^-1 / k!.
    int k = 0;
#if !defined(__CUDA_ARCH__)
    while (u >= detail::kPoissonCdf.at[k] && k < 30) ++k;
#else
    double p = 0.36787944117144233, cdf = p;
    while (u >= cdf && k < 30) {
        ++k;
        p /= k;
        cdf += p;
    }
#endif
    return k;
}

// Poisson(1) count for one unit of one resample.
LAWFIT_HD inline int bootstrap_count(std::uint64_t seed, std::int64_t law, std::int64_t resample,
                                     std::int64_t unit) {
    return resample_count(resample_key(seed, law, resample), unit);
}

}  // namespace lawfit
