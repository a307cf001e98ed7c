// GPU back end: the same header-only core as the CPU, in two layouts.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

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
// AUTO: GROUP when the laws average at least kGroupMinPoints points.
enum class Layout { AUTO, THREAD, GROUP };
// Where GROUP starts to pay is a guess until measured on a GPU: the GPU
// benchmark times both layouts (bench suite 'gpu', layout rows).
constexpr double kGroupMinPoints = 128.0;

Layout choose_layout(const BatchView& b, Layout requested);

// Inputs that already lie on the device (__cuda_array_interface__ arrays):
// used where they are, never copied.  `streams` are the producers' streams
// (0: none) to wait for before reading them.
struct Resident {
    bool columns = false, y = false, weight = false, p0 = false;
    std::vector<std::intptr_t> streams;
};

// Solves the batch on the current device.  Every pointer in `host` and `r` is
// a host pointer except the inputs `resident` names; the others are copied to
// the device once, problems run in chunks
// of whole runs sized to the free device memory (at most `max_chunk` problems
// when > 0), reductions (r: best of runs, replicate summaries) run on the
// device and only what r keeps is copied back (host's per-problem outputs
// only when nothing is reduced).  Returns an error message, empty on success.
std::string solve_batch(const BatchView& host, const ReduceView& r, const Resident& resident, bool want_jtj,
                        Layout layout, std::int64_t max_chunk, int* n_chunks);

}  // namespace cuda
}  // namespace lawfit
