// GPU back end: the same header-only core as the CPU, one problem per thread.
#pragma once
#include <cstdint>
#include <string>

#include "lawfit/batch.hpp"

namespace lawfit {
namespace cuda {

int device_count();
std::string device_name(int device);

// Solves the batch on the current device.  Every pointer in `host` is a host
// pointer; arrays are copied to the device once, problems run in chunks sized
// to the free device memory (at most `max_chunk` problems when > 0), outputs
// are copied back into host's output arrays.  Returns an error message, empty
// on success.
std::string solve_batch(const BatchView& host, std::int64_t max_chunk, int* n_chunks);

}  // namespace cuda
}  // namespace lawfit
