// CPU back end: runs a batch's problems across threads.
#pragma once
#include <cstdint>
#include <functional>

#include "lawfit/batch.hpp"
#include "lawfit/reduce.hpp"

namespace lawfit {

// Solves every problem of the batch on n_threads threads (<= 0: all cores).
// `interrupted` is polled from the calling thread about every 50 ms; when it
// returns true, workers stop taking problems and unsolved ones get INTERRUPTED.
// Returns false if the run was interrupted.
bool solve_batch_cpu(const BatchView& batch, int n_threads,
                     const std::function<bool()>& interrupted);

// Applies r (best of runs, replicate summaries) to the solved batch b.
void reduce_batch_cpu(const BatchView& b, const ReduceView& r);

// Evaluates the program's value and gradient at every point (for tests and
// predictions): value[n_points], grad[n_points x P].
bool evaluate_program_cpu(const ProgramView& prog, const double* columns, std::int64_t n_points,
                          const double* params, double* value, double* grad);

}  // namespace lawfit
