// CPU back end: runs a batch's problems across threads.
#pragma once
#include <cstdint>
#include <functional>

#include "lawfit/batch.hpp"
#include "lawfit/reduce.hpp"

namespace lawfit {

// Code compiled at run time for one law program (lawfit.engine.jit): solves
// problems first .. last - 1 of the batch, as solve_problem does.
// `counts` (room for `counts_size` values) is the worker's buffer for a
// resample's counts, as solve_problem takes it.
using SolveRange = void (*)(const BatchView* batch, std::int64_t first, std::int64_t last, std::int32_t* counts,
                            std::int64_t counts_size);

// Called from the calling thread about every 50 ms while the workers run, with
// the number of problems finished so far; returning true stops the batch.
using Poll = std::function<bool(std::int64_t finished)>;

// Solves every problem of the batch on n_threads threads (<= 0: all cores),
// with the interpreter or, when given, the law's generated code.  When `poll`
// returns true, workers stop taking problems and unsolved ones get
// INTERRUPTED.  Workers count finished problems per chunk they claimed (one
// relaxed atomic add per chunk), so the count `poll` sees lags by at most
// the chunks in flight.  Returns false if the run was stopped.
bool solve_batch_cpu(const BatchView& batch, int n_threads, const Poll& poll, SolveRange generated = nullptr);

// Applies r (best of runs, replicate summaries) to the solved batch b.
void reduce_batch_cpu(const BatchView& b, const ReduceView& r);

// Evaluates the program's value and gradient at every point (statistics at the
// solutions, predictions): value[n_points], grad[n_points x P].  Law l's points
// offsets[l] .. offsets[l+1] use params[l*P ..]; offsets == nullptr means one
// law (n_laws = 1) owning every point.  grad == nullptr: values only (no
// parameter differentiated: cheaper, same value bits).
bool evaluate_program_cpu(const ProgramView& prog, const double* columns, std::int64_t n_points,
                          const std::int64_t* offsets, std::int64_t n_laws, const double* params,
                          double* value, double* grad);

}  // namespace lawfit
