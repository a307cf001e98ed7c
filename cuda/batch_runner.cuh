// The GPU back end's batch driver, templated on how blocks are evaluated
// (evaluator.hpp: the interpreter, or code generated for one law): kernels
// for both layouts, the device-side reductions, uploads, chunking.  Included
// by cuda_backend.cu (the interpreter, built with the package) and by code
// lawfit.engine.jit compiles at run time for one law.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <string>
#include <type_traits>

#include "cuda_backend.cuh"
#include "group_layout.cuh"

namespace lawfit {
namespace cuda {

template <class Runner>
inline Layout choose_layout(const BatchView& b, Layout requested) {
    if (requested != Layout::AUTO) return requested;
    const double points_per_law = b.n_laws > 0 ? static_cast<double>(b.n_points) / b.n_laws : 0.0;
    return auto_layout(std::is_same<Runner, Interpreter>::value, b.prog.n_params, points_per_law);
}

namespace {

// Thread layout: one thread solves one problem; the iteration, losses, linear
// algebra and RNG are the CPU's code (cpp/lawfit/*.hpp), the points added up
// in the CPU block's lane order (group.hpp: solve_problem_lane_order), so the
// bits are the CPU's.
template <class Runner, int NP, int NS>
__global__ void solve_thread_kernel(BatchView batch, std::int64_t first, std::int64_t count) {
    const std::int64_t t = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
    if (t >= count) return;
    Workspace<1, NP, NS> ws;
    solve_problem_lane_order<Runner>(batch, first + t, ws);
}

// Group layout (group_layout.cuh): kBlock threads per problem.
template <class Runner, int NP, int NS>
__global__ void solve_group_kernel(BatchView batch, std::int64_t first, std::int64_t count) {
    const Group group = cg::tiled_partition<kBlock>(cg::this_thread_block());
    const std::int64_t t = (blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x) / kBlock;
    if (t >= count) return;  // whole groups leave together: blockDim is a multiple of kBlock
    Workspace<1, NP, NS> ws;
    solve_problem_group<Runner>(group, batch, first + t, ws);
}

// Best of each run of problems (reduce.hpp), runs first_run .. first_run + n - 1.
__global__ void best_kernel(BatchView batch, ReduceView r, std::int64_t first_run, std::int64_t n) {
    const std::int64_t t = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
    if (t < n) keep_best_of_run(batch, r, first_run + t);
}

// Replicate summaries: one thread per (run, parameter); `values` and `use`
// give each thread summary_runs entries of scratch.
__global__ void summary_kernel(const double* params, const double* cost, const std::int32_t* status, int P,
                               ReduceView r, std::int64_t first_run, std::int64_t n, double* values, bool* use) {
    const std::int64_t t = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
    if (t >= n * P) return;
    const std::int64_t run = first_run + t / P;
    const int j = static_cast<int>(t % P);
    summarize_run(params, cost, status, P, r, run, j, values + t * r.summary_runs, use + t * r.summary_runs);
}

struct DeviceBuffer {
    void* ptr = nullptr;
    DeviceBuffer() = default;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer() {
        if (ptr) cudaFree(ptr);
    }
    template <class T>
    T* as() const { return static_cast<T*>(ptr); }
};

std::string message(cudaError_t e, const char* what) {
    return std::string(what) + ": " + cudaGetErrorString(e);
}

// Copies n host values to the device (nothing for a null or empty array).
template <class T>
cudaError_t upload(DeviceBuffer& buf, const T* host, std::size_t n, const T** dev) {
    *dev = nullptr;
    if (!host || n == 0) return cudaSuccess;
    cudaError_t e = cudaMalloc(&buf.ptr, n * sizeof(T));
    if (e != cudaSuccess) return e;
    *dev = static_cast<const T*>(buf.ptr);
    return cudaMemcpy(buf.ptr, host, n * sizeof(T), cudaMemcpyHostToDevice);
}

template <class T>
cudaError_t allocate(DeviceBuffer& buf, std::size_t n) {
    return n ? cudaMalloc(&buf.ptr, n * sizeof(T)) : cudaSuccess;
}

template <class T>
cudaError_t download(T* host, const DeviceBuffer& dev, std::size_t n) {
    if (!host || n == 0) return cudaSuccess;
    return cudaMemcpy(host, dev.ptr, n * sizeof(T), cudaMemcpyDeviceToHost);
}

unsigned blocks_for(std::int64_t threads, int per_block) {
    return static_cast<unsigned>((threads + per_block - 1) / per_block);
}

}  // namespace

namespace {

// Inputs on the device; the BatchView `dev` points at them.
struct DeviceInputs {
    DeviceBuffer code, consts, cols, y, w, off, law, p0, grid, sizes, fixed, lo, hi, res, group, key, q;
};

std::string upload_inputs(const BatchView& host, const ReduceView& r, const Resident& resident, DeviceInputs& d,
                          BatchView& dev, ReduceView& rdev) {
    const int P = host.prog.n_params;
    const std::int64_t K = host.n_problems, n = host.n_points;
    dev = host;
    rdev = r;
    cudaError_t e;
    const std::int32_t* code;
    if ((e = upload(d.code, host.prog.code, 2 * static_cast<std::size_t>(host.prog.n_instr), &code))) return message(e, "program");
    dev.prog.code = code;
    const double* consts;
    if ((e = upload(d.consts, host.prog.consts, host.prog.n_consts, &consts))) return message(e, "constants");
    dev.prog.consts = consts;
    for (std::intptr_t stream : resident.streams)  // device inputs: wait until their producers are done
        if (stream != 0 && (e = cudaStreamSynchronize(reinterpret_cast<cudaStream_t>(stream))))
            return message(e, "waiting for the inputs' stream");
    if (!resident.columns &&
        (e = upload(d.cols, host.columns, static_cast<std::size_t>(host.prog.n_columns) * n, &dev.columns)))
        return message(e, "inputs");
    if (!resident.y && (e = upload(d.y, host.y, n, &dev.y))) return message(e, "y");
    if (!resident.weight && (e = upload(d.w, host.weight, host.weight ? n : 0, &dev.weight))) return message(e, "weights");
    if ((e = upload(d.off, host.offsets, host.n_laws + 1, &dev.offsets))) return message(e, "offsets");
    if ((e = upload(d.law, host.problem_law, host.problem_law ? K : 0, &dev.problem_law))) return message(e, "problem_law");
    if (!resident.p0 && (e = upload(d.p0, host.p0, host.p0 ? K * P : 0, &dev.p0))) return message(e, "p0");
    std::size_t grid_values = 0;
    for (int j = 0; host.grid_sizes && j < P; ++j) grid_values += host.grid_sizes[j];
    if ((e = upload(d.grid, host.start_grid, grid_values, &dev.start_grid))) return message(e, "start grid");
    if ((e = upload(d.sizes, host.grid_sizes, host.grid_sizes ? P : 0, &dev.grid_sizes))) return message(e, "start grid");
    if ((e = upload(d.fixed, host.fixed, host.fixed ? (host.fixed_stride ? K * P : P) : 0, &dev.fixed))) return message(e, "fixed");
    const std::size_t nb = host.bounds_stride ? K * P : P;
    if ((e = upload(d.lo, host.lower, nb, &dev.lower))) return message(e, "lower");
    if ((e = upload(d.hi, host.upper, nb, &dev.upper))) return message(e, "upper");
    if ((e = upload(d.res, host.problem_resample, host.problem_resample ? K : 0, &dev.problem_resample))) return message(e, "problem_resample");
    if ((e = upload(d.group, host.group, host.group ? n : 0, &dev.group))) return message(e, "group");
    if ((e = upload(d.key, host.law_key, host.law_key ? host.n_laws : 0, &dev.law_key))) return message(e, "law_key");
    if ((e = upload(d.q, r.q, r.n_q, &rdev.q))) return message(e, "quantiles");
    return "";
}

// Device rows of results (params, cost, nit, nfev, status, J^T J): one per
// problem of a chunk, or one per run of its best-of reduction.
struct ResultRows {
    DeviceBuffer params, cost, nit, nfev, status, jtj;
    int P = 0;

    cudaError_t allocate(std::int64_t n, int n_params, bool with_jtj) {
        P = n_params;
        cudaError_t e;
        if ((e = lawfit::cuda::allocate<double>(params, n * P)) || (e = lawfit::cuda::allocate<double>(cost, n)) ||
            (e = lawfit::cuda::allocate<std::int32_t>(nit, n)) || (e = lawfit::cuda::allocate<std::int32_t>(nfev, n)) ||
            (e = lawfit::cuda::allocate<std::int32_t>(status, n)))
            return e;
        return lawfit::cuda::allocate<double>(jtj, with_jtj ? n * P * P : 0);
    }
    // Output pointers offset so that row k is written at k - first.
    void point(std::int64_t first, double** p, double** c, std::int32_t** it, std::int32_t** fe, std::int32_t** st,
               double** j) const {
        *p = params.as<double>() - first * P;
        *c = cost.as<double>() - first;
        *it = nit.as<std::int32_t>() - first;
        *fe = nfev.as<std::int32_t>() - first;
        *st = status.as<std::int32_t>() - first;
        *j = jtj.ptr ? jtj.as<double>() - first * P * P : nullptr;
    }
    // Rows 0 .. n-1 into host rows first .. first + n - 1 (null host arrays skipped).
    cudaError_t download(std::int64_t first, std::int64_t n, double* p, double* c, std::int32_t* it, std::int32_t* fe,
                         std::int32_t* st, double* j) const {
        cudaError_t e;
        if ((e = lawfit::cuda::download(p ? p + first * P : nullptr, params, n * P)) ||
            (e = lawfit::cuda::download(c ? c + first : nullptr, cost, n)) ||
            (e = lawfit::cuda::download(it ? it + first : nullptr, nit, n)) ||
            (e = lawfit::cuda::download(fe ? fe + first : nullptr, nfev, n)) ||
            (e = lawfit::cuda::download(st ? st + first : nullptr, status, n)))
            return e;
        return lawfit::cuda::download(j && jtj.ptr ? j + first * P * P : nullptr, jtj, n * P * P);
    }
};

// Per-chunk device outputs: every problem's results, the best of each run,
// the summaries.
struct ChunkOutputs {
    ResultRows problems, kept;                              // kept: per run (best_of)
    DeviceBuffer best, n_conv;                              // per run (best_of)
    DeviceBuffer mean, sd, quant, n_used, values, use;      // per summary run
};

template <class Runner, int NP, int NS>
std::string run_batch(const BatchView& host, const ReduceView& r, const Resident& resident, bool want_jtj,
                      Layout layout, std::int64_t max_chunk, const ChunkReport* report, int* n_chunks) {
    const int P = host.prog.n_params;
    const std::int64_t K = host.n_problems, S = r.best_of, R = r.summary_runs;
    const bool summarise = R > 0, reduce_best = S > 1;
    const bool jtj_per_problem = want_jtj && !summarise;
    // Each thread's Workspace lives in local memory; give the kernel room.  Only
    // ever raised: setting the limit reallocates the local memory of every
    // resident thread (a synchronising cost on each call that changed it).
    // (The thread layout's lane sums, group.hpp, add 1 + NP + NP(NP+1)/2 doubles.)
    const std::size_t stack =
        sizeof(Workspace<1, NP, NS>) + (NP + 1 + NP + NP * (NP + 1) / 2) * sizeof(double) + 4096;
    std::size_t current = 0;
    if (cudaDeviceGetLimit(&current, cudaLimitStackSize) != cudaSuccess || current < stack) {
        cudaGetLastError();  // a failed query must not be reported later as a launch error
        if (cudaError_t e = cudaDeviceSetLimit(cudaLimitStackSize, stack)) return message(e, "stack size");
    }

    DeviceInputs inputs;
    BatchView dev;
    ReduceView rdev;
    std::string err = upload_inputs(host, r, resident, inputs, dev, rdev);
    if (!err.empty()) return err;

    // Chunks hold whole runs; size them to half the free memory (the rest is
    // for the local-memory stacks of the threads in flight).
    const std::int64_t unit = S * (summarise ? R : 1);
    const double row_bytes = sizeof(double) * (P + 1 + (jtj_per_problem ? P * P : 0)) + 3 * sizeof(std::int32_t);
    const double per_problem =
        row_bytes + (row_bytes + 2 * sizeof(std::int64_t) + P * (sizeof(double) + sizeof(bool))) / S;
    std::size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    std::int64_t chunk = static_cast<std::int64_t>(free_b / 2 / per_problem);
    if (max_chunk > 0) chunk = std::min(chunk, max_chunk);
    chunk = std::max<std::int64_t>(unit, chunk / unit * unit);
    chunk = std::min(chunk, std::max<std::int64_t>(K, unit));
    const std::int64_t chunk_kept = chunk / S, chunk_runs = summarise ? chunk_kept / R : 0;

    ChunkOutputs o;
    cudaError_t e;
    if ((e = o.problems.allocate(chunk, P, jtj_per_problem))) return message(e, "outputs");
    if (reduce_best && ((e = o.kept.allocate(chunk_kept, P, jtj_per_problem)) ||
                        (e = allocate<std::int64_t>(o.best, chunk_kept)) ||
                        (e = allocate<std::int64_t>(o.n_conv, chunk_kept))))
        return message(e, "best-of outputs");
    if (summarise &&
        ((e = allocate<double>(o.mean, chunk_runs * P)) || (e = allocate<double>(o.sd, chunk_runs * P)) ||
         (e = allocate<double>(o.quant, chunk_runs * r.n_q * P)) ||
         (e = allocate<std::int64_t>(o.n_used, chunk_runs * P)) ||
         (e = allocate<double>(o.values, chunk_kept * P)) || (e = allocate<bool>(o.use, chunk_kept * P))))
        return message(e, "summary outputs");

    const Layout lay = choose_layout<Runner>(host, layout);
    *n_chunks = 0;
    for (std::int64_t first = 0; first < K; first += chunk) {
        const std::int64_t count = std::min(chunk, K - first);
        const std::int64_t kept0 = first / S, n_kept = count / S;
        // Output pointers are offset so that problem i writes at i - first
        // (and run k of the reductions at k - its chunk's first run).
        BatchView c = dev;
        o.problems.point(first, &c.params, &c.cost, &c.nit, &c.nfev, &c.status, &c.jtj);
        if (lay == Layout::GROUP) {
            const int threads = 128;  // 8 problems per block
            solve_group_kernel<Runner, NP, NS><<<blocks_for(count * kBlock, threads), threads>>>(c, first, count);
        } else {
            const int threads = 64;
            solve_thread_kernel<Runner, NP, NS><<<blocks_for(count, threads), threads>>>(c, first, count);
        }
        if ((e = cudaGetLastError())) return message(e, "solve kernel launch");

        ReduceView rc = rdev;
        const double* kept_params = c.params;
        const double* kept_cost = c.cost;
        const std::int32_t* kept_status = c.status;
        if (reduce_best) {
            o.kept.point(kept0, &rc.params, &rc.cost, &rc.nit, &rc.nfev, &rc.status, &rc.jtj);
            rc.best = o.best.as<std::int64_t>() - kept0;
            rc.n_converged = o.n_conv.as<std::int64_t>() - kept0;
            best_kernel<<<blocks_for(n_kept, 128), 128>>>(c, rc, kept0, n_kept);
            if ((e = cudaGetLastError())) return message(e, "best-of kernel launch");
            kept_params = rc.params;
            kept_cost = rc.cost;
            kept_status = rc.status;
        }
        const std::int64_t run0 = summarise ? kept0 / R : 0, n_runs = summarise ? n_kept / R : 0;
        if (summarise) {
            rc.mean = o.mean.as<double>() - run0 * P;
            rc.sd = o.sd.as<double>() - run0 * P;
            rc.quantiles = o.quant.as<double>() - run0 * r.n_q * P;
            rc.n_used = o.n_used.as<std::int64_t>() - run0 * P;
            summary_kernel<<<blocks_for(n_runs * P, 128), 128>>>(kept_params, kept_cost, kept_status, P, rc, run0,
                                                                n_runs, o.values.as<double>(), o.use.as<bool>());
            if ((e = cudaGetLastError())) return message(e, "summary kernel launch");
        }
        // Only what the caller keeps leaves the device.
        if (summarise) {
            if ((e = download(r.mean + run0 * P, o.mean, n_runs * P)) || (e = download(r.sd + run0 * P, o.sd, n_runs * P)) ||
                (e = download(r.quantiles + run0 * r.n_q * P, o.quant, n_runs * r.n_q * P)) ||
                (e = download(r.n_used + run0 * P, o.n_used, n_runs * P)))
                return message(e, "solve");
        } else if (reduce_best) {
            if ((e = o.kept.download(kept0, n_kept, r.params, r.cost, r.nit, r.nfev, r.status, r.jtj)))
                return message(e, "solve");
        } else if ((e = o.problems.download(first, count, host.params, host.cost, host.nit, host.nfev, host.status,
                                            host.jtj))) {
            return message(e, "solve");
        }
        if (reduce_best && ((e = download(r.best + kept0, o.best, n_kept)) ||
                            (e = download(r.n_converged + kept0, o.n_conv, n_kept))))
            return message(e, "solve");
        ++*n_chunks;
        // The downloads above waited for the chunk: its problems are finished.
        if (first + count < K && report && report->done && report->done(report->context, first + count, K) != 0)
            break;
    }
    return "";
}

}  // namespace

}  // namespace cuda
}  // namespace lawfit
