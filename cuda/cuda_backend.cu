// The GPU back end built with the package: the interpreter in every size
// class (batch_runner.cuh holds the kernels and the driver).
#include <cuda_runtime.h>

#include "batch_runner.cuh"
#include "cuda_backend.cuh"

namespace lawfit {
namespace cuda {

int device_count() {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

std::string device_name(int device) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) return "";
    return prop.name;
}

std::string solve_batch(const BatchView& host, const ReduceView& r, const Resident& resident, bool want_jtj,
                        Layout layout, std::int64_t max_chunk, const ChunkReport* report, int* n_chunks) {
    std::string err = "the law program does not fit any size class";
    with_size_class(host.prog, [&](auto size) {
        using Size = decltype(size);
        err = run_batch<Interpreter, Size::kParams, Size::kStack>(host, r, resident, want_jtj, layout, max_chunk, report,
                                                               n_chunks);
    });
    return err;
}

}  // namespace cuda
}  // namespace lawfit
