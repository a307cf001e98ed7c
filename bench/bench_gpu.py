"""GPU benchmark: Chinchilla laws on the CUDA back end vs the CPU back end.

    python bench/bench_gpu.py [--max-laws 10000000]

Prints fits/s for growing batches (GPU to --max-laws, CPU to 1e5), the ratio
where both ran, and the largest parameter difference between them.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import lawfit
from lawfit import _core
from lawfit._batch import solve_batch
from lawfit.demo import CHINCHILLA, START, make_collection


def timed(**kw):
    t0 = time.perf_counter()
    sol = solve_batch(**kw)
    return sol, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-laws", type=int, default=10_000_000)
    ap.add_argument("--points", type=int, default=40)
    args = ap.parse_args()
    if not (_core.WITH_CUDA and _core.cuda_device_count() > 0):
        raise SystemExit("no usable CUDA device (WITH_CUDA=%s)" % _core.WITH_CUDA)
    print(f"GPU: {_core.cuda_device_name(0)}; {args.points} points per law\n")
    program = lawfit.compile_law(CHINCHILLA, inputs=["N", "D"])
    base_n = min(args.max_laws, 100_000)
    N, D, loss, _ = make_collection(base_n, args.points, seed=0)
    cols = program.input_matrix({"N": N.ravel(), "D": D.ravel()})
    print("| laws | GPU fits/s | CPU fits/s | GPU/CPU | max rel diff | GPU converged |")
    print("|---|---|---|---|---|---|")
    n = 100
    while n <= args.max_laws:
        # Laws beyond the generated set reuse its data (problem_law), as starts/resamples do.
        law = np.arange(n) % base_n
        kw = dict(program=program, columns=cols, y=loss.ravel(), offsets=np.arange(base_n + 1) * args.points,
                  p0=np.tile(START, (n, 1)), problem_law=law, want_jtj=False)
        timed(device="cuda", **{**kw, "p0": kw["p0"][:100], "problem_law": law[:100]})  # warm-up
        gpu, tg = timed(device="cuda", **kw)
        row = f"| {n:,} | {n / tg:,.0f} |"
        if n <= 100_000:
            cpu, tc = timed(device="cpu", **kw)
            ok = (cpu.status > 0) & (gpu.status > 0)
            diff = np.max(np.abs(gpu.params[ok] / cpu.params[ok] - 1)) if ok.any() else np.nan
            row += f" {n / tc:,.0f} | {tc / tg:,.1f}x | {diff:.1e} |"
        else:
            row += " - | - | - |"
        print(row + f" {int(np.sum(gpu.status > 0)):,} |", flush=True)
        n *= 10


if __name__ == "__main__":
    main()
