// Instantiates the shared core for one problem per thread (B = 1) so every
// build with nvcc checks that cpp/lawfit/*.hpp stays device-compatible.
#include "lawfit/batch.hpp"

namespace lawfit {

__global__ void solve_kernel(BatchView batch) {
    const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
    if (i >= batch.n_problems) return;
    Workspace<1> ws;
    solve_problem<1>(batch, i, ws);
}

}  // namespace lawfit
