// Compiler glue shared by every back end: under nvcc the core's functions are
// compiled for host and device, elsewhere they are plain inline functions.
#pragma once

#if defined(__CUDACC__)
#define LAWFIT_HD __host__ __device__
#else
#define LAWFIT_HD
#endif

// Put before a loop over the B lanes of a block: asks GCC to vectorise it as a
// loop (ivdep: the lane arrays never overlap) instead of unrolling it into
// scalar code first, which it otherwise does for small constant trip counts.
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define LAWFIT_LANES _Pragma("GCC unroll 1") _Pragma("GCC ivdep")
#else
#define LAWFIT_LANES
#endif
