// Whether this build has the GPU back end, the ABI that laws compiled for the
// GPU at run time must match, and the device queries.  The signatures and
// docstrings are the same with and without CUDA, so the generated stub is too.
#include <pybind11/stl.h>

#include <string>

#include "common.hpp"
#ifdef LAWFIT_WITH_CUDA
#include "cuda_backend.cuh"
#endif

namespace lawfit {
namespace bindings {

namespace {

int device_count() {
#ifdef LAWFIT_WITH_CUDA
    return cuda::device_count();
#else
    return 0;
#endif
}

std::string device_name(int device) {
#ifdef LAWFIT_WITH_CUDA
    return cuda::device_name(device);
#else
    (void)device;
    return std::string();
#endif
}

}  // namespace

void register_cuda(py::module_& m) {
#ifdef LAWFIT_WITH_CUDA
    m.attr("CUDA_ABI") = cuda::abi_signature();
    m.attr("WITH_CUDA") = true;
#else
    m.attr("CUDA_ABI") = 0;
    m.attr("WITH_CUDA") = false;
#endif
    m.def("cuda_device_count", &device_count,
          "Number of usable CUDA devices (0 without a driver, or in a build without CUDA).");
    m.def("cuda_device_name", &device_name, py::arg("device") = 0,
          "Name of a CUDA device ('' when there is none).");
}

}  // namespace bindings
}  // namespace lawfit
