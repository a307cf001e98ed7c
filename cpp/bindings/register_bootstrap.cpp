// bootstrap_counts: the multiplicities the solver draws for one resample.
#include "common.hpp"

namespace lawfit {
namespace bindings {

namespace {

carray<std::int32_t> bootstrap_counts(std::uint64_t seed, std::int64_t law, std::int64_t resample,
                                      std::int64_t n_units) {
    require(n_units >= 0, "n_units must be non-negative");
    carray<std::int32_t> out(n_units);
    for (std::int64_t u = 0; u < n_units; ++u) out.mutable_data()[u] = bootstrap_count(seed, law, resample, u);
    return out;
}

}  // namespace

void register_bootstrap(py::module_& m) {
    m.def("bootstrap_counts", &bootstrap_counts, py::arg("seed"), py::arg("law"), py::arg("resample"),
          py::arg("n_units"),
          "Poisson(1) multiplicities of units 0..n_units-1 in one resample (as the solver draws them).");
}

}  // namespace bindings
}  // namespace lawfit
