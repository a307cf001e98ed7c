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
// Unrolled twice after vectorising: two vectors of lanes per iteration overlap
// their latencies (5-7% on interpreted laws; each lane's operations, hence
// the bits, are unchanged).
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define LAWFIT_LANES _Pragma("GCC unroll 2") _Pragma("GCC ivdep")
#else
#define LAWFIT_LANES
#endif

// For math::exp/log and the per-point helpers called inside lane loops: a
// loop vectorises only if every call in it is inlined, and GCC's size limits
// stop inlining in large generated loops (three exps and a log per point).
// Loops that zero a few short rows: GCC turns each into a memset, which it
// expands as `rep stos` (tens of cycles to start) on some targets; plain
// vector stores are several times faster for these sizes.
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define LAWFIT_NO_MEMSET __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define LAWFIT_NO_MEMSET
#endif

#if defined(__CUDACC__)
#define LAWFIT_INLINE __forceinline__
#elif defined(__GNUC__)
#define LAWFIT_INLINE inline __attribute__((always_inline))
#else
#define LAWFIT_INLINE inline
#endif

namespace lawfit {
// Points per interpreter block on the CPU, and threads per problem in the
// GPU's group layout: the same number, so both add the same partial sums in
// the same order and give bit-identical results.  16 lanes vectorise each
// opcode's loop while a block's scratch stays in L1/L2.
constexpr int kBlock = 16;
}  // namespace lawfit
