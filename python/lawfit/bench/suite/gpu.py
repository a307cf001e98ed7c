"""The CUDA back end against the CPU back end (runs only where a GPU is usable).

Two workloads, each timed on the GPU and on the CPU in the same run:

* Chinchilla laws (40 points, one start) from 1e3 to 1e7 problems (1e6 with
  --quick).  The data of up to 1e5 laws are generated; larger batches reuse
  them through ``problem_law`` (as starts and resamples do).  The CPU runs up
  to 1e5 problems; beyond that its rate at 1e5 is used and the row says so.
* The full Epoch bootstrap with the grid: R resamples x 4,500 Approach-3
  starts (R = 4,000 in the full suite: 18 million fits; 100 with --quick), the
  best start kept per resample.  The CPU is timed on a few resamples.

Times include moving the arrays between host and device (numpy in, numpy
out).  Accuracy as everywhere: against the scipy-polished reference on a
sample; the note gives the largest GPU-vs-CPU parameter difference.
"""
from __future__ import annotations

import numpy as np

from ..core import Config, Problem, Row, compare, fmt_size, judge, lawfit_status, reference, timed
from ..core import rel_param_diff, sample_indices


def gpu_available():
    """(usable, reason, device name)."""
    from ... import _core

    if not getattr(_core, "WITH_CUDA", False):
        return False, "this lawfit build has no CUDA back end (built without a CUDA compiler)", ""
    n = _core.cuda_device_count()
    if n <= 0:
        return False, "no usable CUDA device (the build has the CUDA back end; cuda_device_count() = 0)", ""
    return True, "", _core.cuda_device_name(0)


def gpu(cfg: Config) -> list:
    """GPU vs CPU back end: Chinchilla ladder and the bootstrap x grid."""
    ok, reason, name = gpu_available()
    if not ok:
        cfg.skip("gpu", reason)
        return []
    cfg.extra["gpu_device"] = name
    return gpu_rows(cfg, "cuda", name)


def _row(bench, problem, size, tool, n, points, seconds, timed_fits, a, status, note, shape):
    rate = timed_fits / seconds
    return Row(bench, problem, size, tool, int(n), float(points), rate, n / rate, int(timed_fits),
               "max rel param diff", a.max_rel_param_diff, a.agree, a.compared, a.check, status, note, None, shape)


def gpu_rows(cfg: Config, device: str, device_name: str) -> list:
    """Both workloads with ``device`` as the accelerator (tests may pass 'cpu')."""
    return _ladder(cfg, device, device_name) + _bootstrap_grid(cfg, device, device_name)


def _ladder(cfg, device, device_name):
    from ..._batch import solve_batch
    from ..._status import is_converged
    from ...demo import make_collection
    from ...formula import compile_law
    from .chinchilla import LAW, MODEL, START

    sizes = cfg.pick([1000], [1000, 10_000, 100_000, 1_000_000], [1000, 10_000, 100_000, 1_000_000, 10_000_000])
    cpu_max = cfg.pick(1000, 100_000, 100_000)
    base = min(max(sizes), 100_000)
    points = 40
    N, D, loss, true = make_collection(base, points, seed=cfg.seed + 6)
    program = compile_law(LAW, inputs=["N", "D"])
    cols = program.input_matrix({"N": N.ravel(), "D": D.ravel()})
    offsets = np.arange(base + 1, dtype=np.int64) * points
    y = loss.ravel()

    def batch(n):  # built outside the timed region
        return {"p0": np.tile(START, (n, 1)), "problem_law": np.arange(n, dtype=np.int64) % base}

    def solve(args, dev):
        return solve_batch(program, cols, y, offsets, want_jtj=False, device=dev, n_threads=cfg.threads, **args)

    solve(batch(100), device)
    solve(batch(100), "cpu")  # warm-ups
    idx = sample_indices(min(base, sizes[0]), cfg.pick(4, 20, 50))
    problems = [Problem(np.vstack([N[i], D[i]]), loss[i], START, alt_starts=(true[i],)) for i in idx]
    cpu_rate, cpu_sol = None, None
    rows = []
    for n in sizes:
        args = batch(n)
        tg, g = timed(lambda: solve(args, device), cfg.pick(1, 2, 2))
        if n <= cpu_max:
            tc, c = timed(lambda: solve(args, "cpu"), cfg.pick(1, 2, 2))
            cpu_rate, cpu_sol, cpu_timed = n / tc, c, n
        gp = np.where(is_converged(g.status)[:, None], g.params, np.nan)
        cp = np.where(is_converged(cpu_sol.status)[:, None], cpu_sol.params, np.nan)
        ref, ref_cost = reference(MODEL, problems, [gp[idx], cp[idx]])
        ag, ac = compare(MODEL, problems, gp[idx], ref, ref_cost), compare(MODEL, problems, cp[idx], ref, ref_cost)
        judge([ag, ac])
        m = min(len(gp), len(cp))
        both = np.all(np.isfinite(gp[:m]) & np.isfinite(cp[:m]), axis=1)
        diff = float(np.max(rel_param_diff(gp[:m][both], cp[:m][both]))) if both.any() else float("inf")
        shape = {"laws": n, "distinct_laws": base, "points": points, "params": 5, "device": device_name,
                 "reference_sample": len(idx)}
        size = fmt_size(n, points)
        rows.append(_row("gpu", "Chinchilla 5p", size, f"lawfit {device}", n, points, tg, n, ag,
                         lawfit_status(g.status),
                         f"{device_name}; max rel diff to CPU back end {diff:.1e} on {int(both.sum()):,} laws", shape))
        note = "" if n <= cpu_max else f"CPU timed on {cpu_timed:,} of {n:,}, time extrapolated"
        rows.append(_row("gpu", "Chinchilla 5p", size, "lawfit cpu", n, points, cpu_timed / cpu_rate, cpu_timed,
                         ac, lawfit_status(cpu_sol.status), note, shape))
    return rows


def _bootstrap_grid(cfg, device, device_name):
    from ... import _core
    from ..._batch import solve_batch
    from ..._status import is_converged
    from .epoch import DELTA, MODEL, _problem, grid, lse

    source, x, ylog, program, cols = _problem(cfg)
    M = len(ylog)
    starts = grid()
    S = len(starts)
    R = cfg.pick(2, 100, 4000)
    R_cpu = cfg.pick(1, 2, 4)
    seed = cfg.seed

    def batch(r):  # built outside the timed region
        return {"p0": np.tile(starts, (r, 1)), "problem_law": np.zeros(r * S, np.int64),
                "problem_resample": np.repeat(np.arange(r, dtype=np.int64), S)}

    def solve(args, dev):
        return solve_batch(program, cols, ylog, np.array([0, M], dtype=np.int64), seed=seed, loss="huber",
                           delta=DELTA, want_jtj=False, device=dev, n_threads=cfg.threads, **args)

    solve(batch(1), device)  # warm-up
    args = batch(R)
    tg, g = timed(lambda: solve(args, device), 1)
    args = batch(R_cpu)
    tc, c = timed(lambda: solve(args, "cpu"), 1)

    def best(sol, r):
        """The lowest-cost converged start of resample r (weighted Huber cost, numpy)."""
        ok = is_converged(sol.status[r * S:(r + 1) * S])
        P = np.where(ok[:, None], sol.params[r * S:(r + 1) * S], np.nan)
        w = np.asarray(_core.bootstrap_counts(seed, 0, r, M), float)
        with np.errstate(all="ignore"):
            a = np.abs(lse(x, *(P[:, i:i + 1] for i in range(5))) - ylog)
            cost = (w * np.where(a <= DELTA, 0.5 * a * a, DELTA * a - 0.5 * DELTA * DELTA)).sum(axis=1)
        cost = np.where(np.isfinite(cost), cost, np.inf)
        return P[np.argmin(cost)] if np.isfinite(cost).any() else np.full(5, np.nan)

    common = list(range(R_cpu))
    problems = [Problem(x, ylog, best(c, r), weight=np.asarray(_core.bootstrap_counts(seed, 0, r, M), float))
                for r in common]
    gb = np.array([best(g, r) for r in common])
    cb = np.array([best(c, r) for r in common])
    ref, ref_cost = reference(MODEL, problems, [gb, cb])
    ag, ac = compare(MODEL, problems, gb, ref, ref_cost), compare(MODEL, problems, cb, ref, ref_cost)
    judge([ag, ac])
    n = R * S
    size = fmt_size(1, M, starts=S, resamples=R)
    shape = {"laws": 1, "points": M, "starts": S, "resamples": R, "loss": "huber", "delta": DELTA, "seed": seed,
             "data": source, "device": device_name, "cpu_resamples": R_cpu}
    diff = float(np.max(rel_param_diff(gb, cb)))
    problem = "Approach 3 bootstrap x grid"
    return [
        _row("gpu", problem, size, f"lawfit {device}", n, M, tg, n, ag, lawfit_status(g.status),
             f"{device_name}; best start per resample vs reference on {R_cpu} resamples; max rel diff to CPU "
             f"{diff:.1e}", shape),
        _row("gpu", problem, size, "lawfit cpu", n, M, tc, R_cpu * S, ac, lawfit_status(c.status),
             f"CPU timed on {R_cpu} of {R:,} resamples, time extrapolated", shape),
    ]
