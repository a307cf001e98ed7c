// GPU back end: the same header-only core as the CPU, in two layouts.
#pragma once
#include <cstdint>
#include <string>

#include "lawfit/batch.hpp"
#include "lawfit/reduce.hpp"

namespace lawfit {
namespace cuda {

int device_count();
std::string device_name(int device);

// THREAD: one thread per problem (many small problems: no cooperation cost).
// GROUP: kBlock = 16 threads per problem (group_layout.cuh): reads of
// consecutive points coalesce, a problem's evaluation takes 1/16 of the
// steps, and results are bit-identical to the CPU back end.
// AUTO: GROUP when the laws average at least kGroupMinPoints points
// (kGroupMinPointsInterpreted for interpreted laws of more than 4 parameters).
enum class Layout { AUTO, THREAD, GROUP };
// Measured on an H200 (bench suite 'gpu', 2026-12-04).  Interpreted
// Chinchilla (5 parameters, 1e5 laws): GROUP beats THREAD at every size
// timed, 1.79x at 20 points, 1.17x at 50, 8.4x at 2,000 (the interpreter's
// dispatch is shared by the 16 threads of a group); the Farseer-like law (9
// parameters, 50 points) ran 4.3-5.9x faster in GROUP; the 2-parameter power
// law 0.79x (1e5 laws x 50 points: 3.1 M fits/s against 3.9-4.3 M), hence
// the law's number of parameters in the rule.
// Compiled, THREAD wins at 50 points (1.13x), ties at 20 and loses 2.7x at
// 2,000: the crossover lies between 50 and 2,000, unmeasured in between.
constexpr double kGroupMinPoints = 128.0;
constexpr double kGroupMinPointsInterpreted = 16.0;  // one full block of 16 points

// What Layout::AUTO picks (plain C++: tests/cpp checks the rule without a GPU).
inline Layout auto_layout(bool interpreted, int n_params, double points_per_law) {
    const double threshold = interpreted && n_params > 4 ? kGroupMinPointsInterpreted : kGroupMinPoints;
    return points_per_law >= threshold ? Layout::GROUP : Layout::THREAD;
}

// Inputs that already lie on the device (__cuda_array_interface__ arrays):
// used where they are, never copied.  `streams` are the producers' streams
// (0: none) to wait for before reading them.  Plain data: it also crosses
// into code compiled at run time (lawfit.engine.jit).
struct Resident {
    bool columns = false, y = false, weight = false, p0 = false;
    std::intptr_t streams[4] = {0, 0, 0, 0};
};

// Told on the host after each chunk but the last how many problems are
// finished (of `total`); a nonzero return stops the batch there (the problems
// of later chunks are not solved).  Plain data: it also crosses into code
// compiled at run time.
struct ChunkReport {
    int (*done)(void* context, std::int64_t finished, std::int64_t total) = nullptr;
    void* context = nullptr;
};

// Entry point of a law compiled at run time for the GPU (lawfit.engine.jit):
// solve_batch() for that one law; returns 0, or nonzero with a message in err.
using CompiledSolve = int (*)(const BatchView* host, const ReduceView* r, const Resident* resident, int want_jtj,
                              int layout, std::int64_t max_chunk, const ChunkReport* report, int* n_chunks,
                              char* err, int err_len);

// Bumped when CompiledSolve's arguments change in a way the sizes below miss.
constexpr std::uint64_t kAbiVersion = 2;

// What code compiled at run time must agree on with this build.
constexpr std::uint64_t abi_signature() {
    return kAbiVersion * 1000000000000ull + sizeof(BatchView) * 1000000ull + sizeof(ReduceView) * 1000ull +
           sizeof(Resident);
}

// Solves the batch on the current device.  Every pointer in `host` and `r` is
// a host pointer except the inputs `resident` names; the others are copied to
// the device once, problems run in chunks
// of whole runs sized to the free device memory (at most `max_chunk` problems
// when > 0), reductions (r: best of runs, replicate summaries) run on the
// device and only what r keeps is copied back (host's per-problem outputs
// only when nothing is reduced).  `report` (may be null) hears after each
// chunk; when it asks to stop, the call returns early with an empty message.
// Returns an error message, empty on success.
std::string solve_batch(const BatchView& host, const ReduceView& r, const Resident& resident, bool want_jtj,
                        Layout layout, std::int64_t max_chunk, const ChunkReport* report, int* n_chunks);

}  // namespace cuda
}  // namespace lawfit
