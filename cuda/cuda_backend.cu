#include <cuda_runtime.h>

#include <algorithm>

#include "cuda_backend.cuh"

namespace lawfit {
namespace cuda {

namespace {

// One thread solves one problem: the iteration, losses, linear algebra and RNG
// are the CPU's code (cpp/lawfit/*.hpp) instantiated with a block of 1 point.
__global__ void solve_kernel(BatchView batch, std::int64_t first, std::int64_t count) {
    const std::int64_t t = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
    if (t >= count) return;
    Workspace<1> ws;
    solve_problem<1>(batch, first + t, ws);
}

struct DeviceBuffer {
    void* ptr = nullptr;
    ~DeviceBuffer() { if (ptr) cudaFree(ptr); }
};

template <class T>
cudaError_t upload(DeviceBuffer& buf, const T* host, std::size_t n, const T** dev) {
    *dev = nullptr;
    if (!host || n == 0) return cudaSuccess;
    cudaError_t e = cudaMalloc(&buf.ptr, n * sizeof(T));
    if (e != cudaSuccess) return e;
    *dev = static_cast<const T*>(buf.ptr);
    return cudaMemcpy(buf.ptr, host, n * sizeof(T), cudaMemcpyHostToDevice);
}

std::string message(cudaError_t e, const char* what) {
    return std::string(what) + ": " + cudaGetErrorString(e);
}

}  // namespace

int device_count() {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

std::string device_name(int device) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) return "";
    return prop.name;
}

std::string solve_batch(const BatchView& host, std::int64_t max_chunk, int* n_chunks) {
    const int P = host.prog.n_params;
    const std::int64_t K = host.n_problems, n = host.n_points;
    const std::int64_t stride_p = P, stride_pp = static_cast<std::int64_t>(P) * P;
    // Each thread's Workspace lives in local memory; give the kernel room.
    cudaDeviceSetLimit(cudaLimitStackSize, sizeof(Workspace<1>) + 4096);

    // Data shared by every problem: uploaded once.
    DeviceBuffer b_code, b_consts, b_cols, b_y, b_w, b_off, b_law, b_p0, b_fixed, b_lo, b_hi, b_res, b_group, b_key;
    BatchView dev = host;
    cudaError_t e;
    const std::int32_t* code;
    if ((e = upload(b_code, host.prog.code, 2 * static_cast<std::size_t>(host.prog.n_instr), &code))) return message(e, "program");
    dev.prog.code = code;
    const double* consts;
    if ((e = upload(b_consts, host.prog.consts, host.prog.n_consts, &consts))) return message(e, "constants");
    dev.prog.consts = consts;
    if ((e = upload(b_cols, host.columns, static_cast<std::size_t>(host.prog.n_columns) * n, &dev.columns))) return message(e, "inputs");
    if ((e = upload(b_y, host.y, n, &dev.y))) return message(e, "y");
    if ((e = upload(b_w, host.weight, host.weight ? n : 0, &dev.weight))) return message(e, "weights");
    if ((e = upload(b_off, host.offsets, host.n_laws + 1, &dev.offsets))) return message(e, "offsets");
    if ((e = upload(b_law, host.problem_law, host.problem_law ? K : 0, &dev.problem_law))) return message(e, "problem_law");
    if ((e = upload(b_p0, host.p0, K * stride_p, &dev.p0))) return message(e, "p0");
    if ((e = upload(b_fixed, host.fixed, host.fixed ? (host.fixed_stride ? K * P : P) : 0, &dev.fixed))) return message(e, "fixed");
    const std::size_t nb = host.bounds_stride ? K * P : P;
    if ((e = upload(b_lo, host.lower, nb, &dev.lower))) return message(e, "lower");
    if ((e = upload(b_hi, host.upper, nb, &dev.upper))) return message(e, "upper");
    if ((e = upload(b_res, host.problem_resample, host.problem_resample ? K : 0, &dev.problem_resample))) return message(e, "problem_resample");
    if ((e = upload(b_group, host.group, host.group ? n : 0, &dev.group))) return message(e, "group");
    if ((e = upload(b_key, host.law_key, host.law_key ? host.n_laws : 0, &dev.law_key))) return message(e, "law_key");

    // Outputs per chunk, sized to the free memory (half of it, to leave room
    // for the local-memory stacks of the threads in flight).
    const std::size_t per_problem = sizeof(double) * (stride_p + 1 + (host.jtj ? stride_pp : 0)) + 3 * sizeof(std::int32_t);
    std::size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    std::int64_t chunk = std::max<std::int64_t>(1, static_cast<std::int64_t>(free_b / 2 / per_problem));
    if (max_chunk > 0) chunk = std::min(chunk, max_chunk);
    chunk = std::min(chunk, std::max<std::int64_t>(K, 1));
    DeviceBuffer o_params, o_cost, o_nit, o_nfev, o_status, o_jtj;
    if ((e = cudaMalloc(&o_params.ptr, chunk * stride_p * sizeof(double)))) return message(e, "outputs");
    if ((e = cudaMalloc(&o_cost.ptr, chunk * sizeof(double)))) return message(e, "outputs");
    if ((e = cudaMalloc(&o_nit.ptr, chunk * sizeof(std::int32_t)))) return message(e, "outputs");
    if ((e = cudaMalloc(&o_nfev.ptr, chunk * sizeof(std::int32_t)))) return message(e, "outputs");
    if ((e = cudaMalloc(&o_status.ptr, chunk * sizeof(std::int32_t)))) return message(e, "outputs");
    if (host.jtj && (e = cudaMalloc(&o_jtj.ptr, chunk * stride_pp * sizeof(double)))) return message(e, "outputs");

    *n_chunks = 0;
    for (std::int64_t first = 0; first < K; first += chunk) {
        const std::int64_t count = std::min(chunk, K - first);
        // Output pointers are offset so that problem index i writes at i - first.
        BatchView c = dev;
        c.params = static_cast<double*>(o_params.ptr) - first * stride_p;
        c.cost = static_cast<double*>(o_cost.ptr) - first;
        c.nit = static_cast<std::int32_t*>(o_nit.ptr) - first;
        c.nfev = static_cast<std::int32_t*>(o_nfev.ptr) - first;
        c.status = static_cast<std::int32_t*>(o_status.ptr) - first;
        c.jtj = host.jtj ? static_cast<double*>(o_jtj.ptr) - first * stride_pp : nullptr;
        const int threads = 64;
        const std::int64_t blocks = (count + threads - 1) / threads;
        solve_kernel<<<static_cast<unsigned>(blocks), threads>>>(c, first, count);
        if ((e = cudaGetLastError())) return message(e, "kernel launch");
        if ((e = cudaMemcpy(host.params + first * stride_p, o_params.ptr, count * stride_p * sizeof(double), cudaMemcpyDeviceToHost))) return message(e, "solve");
        cudaMemcpy(host.cost + first, o_cost.ptr, count * sizeof(double), cudaMemcpyDeviceToHost);
        cudaMemcpy(host.nit + first, o_nit.ptr, count * sizeof(std::int32_t), cudaMemcpyDeviceToHost);
        cudaMemcpy(host.nfev + first, o_nfev.ptr, count * sizeof(std::int32_t), cudaMemcpyDeviceToHost);
        cudaMemcpy(host.status + first, o_status.ptr, count * sizeof(std::int32_t), cudaMemcpyDeviceToHost);
        if (host.jtj) cudaMemcpy(host.jtj + first * stride_pp, o_jtj.ptr, count * stride_pp * sizeof(double), cudaMemcpyDeviceToHost);
        if ((e = cudaGetLastError())) return message(e, "copy back");
        ++*n_chunks;
    }
    return "";
}

}  // namespace cuda
}  // namespace lawfit
