"""The CUDA back end against the CPU back end (runs only where a GPU is usable).

Workloads, each timed on the GPU and on the CPU in the same run (suite entries
``gpu_ladders``, ``gpu_layouts``, ``gpu_epoch``; ``--only gpu`` runs all three):

* Ladders of 50-point laws, float64, one start, 1e4 ... 1e7 problems (1e5
  with --quick): a 2-parameter power law ``a*x**-b``, Chinchilla
  (``E + A/N**alpha + B/D**beta``, 5 parameters) and a Farseer-like
  9-parameter law (Li et al. 2025, the catalog's ``farseer`` form; up to
  1e6 problems).  The
  data of up to 1e5 laws are generated; larger batches reuse them through
  ``problem_law``, and the start comes from a one-point start grid, so no
  per-problem array but ``problem_law`` is built.  The CPU is timed up to
  1e5 problems (1e4 with --quick); beyond that its rate there is used and the
  row says so.  GPU rows give achieved FLOP/s (lawfit.bench.flops: an
  estimate of the point-wise work) against the device's float64 peak.
* Layouts: Chinchilla with 20, 50 and 2,000 points per law and the
  Farseer-like law with 50, one thread per problem against 16 threads per
  problem and what ``layout='auto'`` picks, interpreted and compiled.
* The full Epoch analysis end to end: the 4,500-start Approach-3 grid on the
  data, then R resamples x 4,500 starts (R = 4,000 in the full suite: 18
  million fits; 100 with --quick), each resample's best start and the
  percentile intervals reduced on the device, all starts generated there:
  the whole bootstrap is one call that returns a table of a few numbers.
  The CPU is timed on a few resamples.  Variants: the same with the law
  compiled (jit rows), and pruned on cost -- every start evaluated, LM only
  from the 100 best of each resample -- compared with the full analysis.

Times include moving the arrays between host and device (numpy in, numpy
out).  Accuracy as everywhere: against the scipy-polished reference on a
sample; notes give the largest GPU-vs-CPU parameter difference.
"""
from __future__ import annotations

import time

import numpy as np

from ..core import Config, Model, Problem, Row, compare, fmt_size, judge, lawfit_status, reference, timed
from ..core import compile_for, rel_param_diff, sample_indices
from ..flops import achieved_flops, fp64_peak

POINTS = 50
FARSEER = "exp(a3*N**gamma + b3) + exp(a2*N**beta + b2)*D**(-exp(a1*N**alpha + b1))"
FARSEER_PARAMS = ["a1", "b1", "alpha", "a2", "b2", "beta", "a3", "b3", "gamma"]
FARSEER_CENTER = np.array([1.0, -2.0, -0.1, 5.0, 3.0, -0.1, 5.0, 0.0, -0.3])


def gpu_available():
    """(usable, reason, device name)."""
    from ...engine import native as _core

    if not getattr(_core, "WITH_CUDA", False):
        return False, "this lawfit build has no CUDA back end (built without a CUDA compiler)", ""
    n = _core.cuda_device_count()
    if n <= 0:
        return False, "no usable CUDA device (the build has the CUDA back end; cuda_device_count() = 0)", ""
    return True, "", _core.cuda_device_name(0)


def _on_the_gpu(cfg: Config, workload) -> list:
    ok, reason, name = gpu_available()
    if not ok:
        cfg.skip("gpu", reason)
        return []
    cfg.extra["gpu_device"] = name
    return workload(cfg, "cuda", name)


# Three entries of the suite's 'gpu' family (``--only gpu`` runs all three):
# one device call that cannot hold the whole full scale can pick its parts.
def gpu_ladders(cfg: Config) -> list:
    """GPU vs CPU back end: 1e4 ... 1e7 laws of 2, 5 and 9 parameters."""
    return _on_the_gpu(cfg, _ladders)


def gpu_layouts(cfg: Config) -> list:
    """GPU layouts (thread, group, auto) at 20, 50 and 2,000 points, interpreted and compiled."""
    return _on_the_gpu(cfg, _layouts)


def gpu_epoch(cfg: Config) -> list:
    """GPU: the Epoch analysis end to end (grid + bootstrap x grid, reduced on the device)."""
    return _on_the_gpu(cfg, _epoch_analysis)


def _ladders(cfg: Config, device: str, device_name: str) -> list:
    return [row for law in _ladder_laws() for row in _ladder(cfg, device, device_name, law)]


def gpu_rows(cfg: Config, device: str, device_name: str) -> list:
    """Every workload with ``device`` as the accelerator (tests pass 'cpu')."""
    return (_ladders(cfg, device, device_name) + _layouts(cfg, device, device_name)
            + _epoch_analysis(cfg, device, device_name))


def _row(bench, problem, size, tool, n, points, seconds, timed_fits, a, status, note, shape):
    rate = timed_fits / seconds
    return Row(bench, problem, size, tool, int(n), float(points), rate, n / rate, int(timed_fits),
               "max rel param diff", a.max_rel_param_diff, a.agree, a.compared, a.check, status, note, None, shape)


# ---------------------------------------------------------------- the laws of the ladders

def _power(x, a, b):
    return a * x[0] ** -b


def _make_power(n, points, rng):
    true = np.column_stack([rng.uniform(2.0, 6.0, n), rng.uniform(0.2, 0.6, n)])
    x = 10 ** rng.uniform(0, 4, (n, points))
    y = true[:, :1] * x ** -true[:, 1:] * (1 + 0.01 * rng.standard_normal((n, points)))
    return {"x": x}, y, true


def _make_chinchilla(n, points, rng):
    from ...demo import make_collection

    N, D, loss, true = make_collection(n, points, seed=int(rng.integers(2**31)))
    return {"N": N, "D": D}, loss, true


def _farseer(x, a1, b1, alpha, a2, b2, beta, a3, b3, gamma):
    N, D = x[0], x[1]
    return np.exp(a3 * N**gamma + b3) + np.exp(a2 * N**beta + b2) * D ** (-np.exp(a1 * N**alpha + b1))


def _make_farseer(n, points, rng):
    true = FARSEER_CENTER * (1 + 0.05 * rng.uniform(-1, 1, (n, 9)))
    N = 10 ** rng.uniform(7, 10, (n, points))
    D = 10 ** rng.uniform(9, 12, (n, points))
    y = _farseer((N[:, :, None], D[:, :, None]), *(true[:, None, i:i + 1] for i in range(9)))[:, :, 0]
    # 0.01% noise: at 0.5% the nine parameters are not identifiable from 50
    # points (half the fits use up their evaluations even when started at the
    # truth; Li et al. fit this law in stages), and the ladder times fits.
    return {"N": N, "D": D}, y * (1 + 1e-4 * rng.standard_normal((n, points))), true


def _ladder_laws():
    from .chinchilla import LAW, MODEL, START

    return [
        dict(name="power law 2p", law="a*x**-b", inputs=["x"], params=None, make=_make_power,
             start=np.array([1.0, 0.5]), model=Model(_power)),
        dict(name="Chinchilla 5p", law=LAW, inputs=["N", "D"], params=None, make=_make_chinchilla,
             start=START, model=MODEL),
        # up to 1e6 laws: 1e7 would take ~4 minutes of an H200 (82 k fits/s interpreted)
        dict(name="Farseer-like 9p", law=FARSEER, inputs=["N", "D"], params=FARSEER_PARAMS, make=_make_farseer,
             start=FARSEER_CENTER, model=Model(_farseer), max_laws=1_000_000),
    ]


def _one_point_grid(start):
    return [[v] for v in start]


def _ladder(cfg, device, device_name, spec):
    from ...engine.core import solve_batch
    from ...status import is_converged
    from ...formula import compile_law

    sizes = cfg.pick([1000], [10_000, 100_000], [10_000, 100_000, 1_000_000, 10_000_000])
    sizes = [n for n in sizes if n <= spec.get("max_laws", n)]
    cpu_max = cfg.pick(1000, 10_000, 100_000)
    base = min(max(sizes), 100_000)
    rng = np.random.default_rng(cfg.seed + 6)
    inputs, y, true = spec["make"](base, POINTS, rng)
    program = compile_law(spec["law"], inputs=spec["inputs"], params=spec["params"])
    cols = program.input_matrix({k: v.ravel() for k, v in inputs.items()})
    offsets = np.arange(base + 1, dtype=np.int64) * POINTS
    grid = _one_point_grid(spec["start"])
    peak = fp64_peak(device_name)

    def solve(n, dev, jit=False):
        law = np.arange(n, dtype=np.int64) % base  # built inside: the GPU run includes all host work
        return solve_batch(program, cols, y.ravel(), offsets, start_grid=grid, problem_law=law, want_jtj=False,
                           device=dev, n_threads=cfg.threads, jit=jit)

    solve(100, device)
    solve(100, "cpu")  # warm-ups
    idx = sample_indices(min(base, sizes[0]), cfg.pick(4, 20, 50))
    xs = [np.vstack([inputs[k][i] for k in spec["inputs"]]) for i in idx]
    problems = [Problem(x, y[i], spec["start"], alt_starts=(true[i],)) for x, i in zip(xs, idx)]
    cpu_rate, cpu_sol, cpu_timed = None, None, 0
    rows = []
    for n in sizes:
        tg, g = timed(lambda: solve(n, device), cfg.pick(1, 2, 2))
        if n <= cpu_max:
            tc, c = timed(lambda: solve(n, "cpu"), cfg.pick(1, 1, 2))
            cpu_rate, cpu_sol, cpu_timed = n / tc, c, n
        gp = np.where(is_converged(g.status)[:, None], g.params, np.nan)
        cp = np.where(is_converged(cpu_sol.status)[:, None], cpu_sol.params, np.nan)
        ref, ref_cost = reference(spec["model"], problems, [gp[idx], cp[idx]])
        ag = compare(spec["model"], problems, gp[idx], ref, ref_cost)
        ac = compare(spec["model"], problems, cp[idx], ref, ref_cost)
        judge([ag, ac])
        m = min(len(gp), len(cp))
        both = np.all(np.isfinite(gp[:m]) & np.isfinite(cp[:m]), axis=1)
        diff = float(np.max(rel_param_diff(gp[:m][both], cp[:m][both]))) if both.any() else float("inf")
        flops = achieved_flops(program, float(g.nfev.sum()), POINTS, tg)
        flop_note = f"{flops / 1e9:,.0f} GFLOP/s" + (f" = {100 * flops / peak:.1f}% of float64 peak" if peak else "")
        shape = {"laws": n, "distinct_laws": base, "points": POINTS, "params": len(spec["start"]),
                 "device": device_name, "reference_sample": len(idx), "flops_per_s": flops,
                 "fp64_peak": peak, "nfev_mean": float(g.nfev.mean())}
        size = fmt_size(n, POINTS)
        rows.append(_row("gpu", spec["name"], size, f"lawfit {device}", n, POINTS, tg, n, ag, lawfit_status(g.status),
                         f"{device_name}; {flop_note}; max rel diff to CPU back end {diff:.1e} on "
                         f"{int(both.sum()):,} laws", shape))
        note = "" if n <= cpu_max else f"CPU timed on {cpu_timed:,} of {n:,}, time extrapolated"
        rows.append(_row("gpu", spec["name"], size, "lawfit cpu", n, POINTS, cpu_timed / cpu_rate, cpu_timed,
                         ac, lawfit_status(cpu_sol.status), note, shape))
    rows += _jit_row(cfg, device, device_name, spec["name"], solve, sizes[-1], g, rows[-2], program)
    return rows


def _jit_row(cfg, device, device_name, name, solve, n, interpreted, interpreted_row, program):
    """The largest batch again with the law compiled to machine code (lawfit.engine.jit)."""
    compile_s = compile_for(cfg, program, device, f"gpu {name} jit")
    if compile_s is None:
        return []
    t, sol = timed(lambda: solve(n, device, jit=True), cfg.pick(1, 2, 2))
    same = np.array_equal(sol.params, interpreted.params, equal_nan=True)
    shape = dict(interpreted_row.shape, jit=True, compile_seconds=compile_s)
    a = interpreted_row  # the same answers (checked bit for bit below): the same accuracy
    row = Row("gpu", name, interpreted_row.size, f"lawfit {device} jit", n, POINTS, n / t, t, n, a.accuracy_metric,
              a.accuracy, a.agree, a.compared, a.check, lawfit_status(sol.status),
              f"{device_name}; law compiled in {compile_s:.1f} s (cached after); "
              f"{interpreted_row.seconds / t:.2f}x the interpreter; identical results: {same}", None, shape)
    return [row]


def _layouts(cfg, device, device_name):
    """Few and many points: one thread vs 16 threads per problem (and what 'auto' picks), interpreted and compiled.

    These rows set where ``layout='auto'`` switches to the group layout
    (``auto_layout``, cuda/cuda_backend.cuh; README "GPU" has the table):
    Chinchilla at 20, 50 and 2,000 points, and the 9-parameter Farseer-like
    law at 50 points (its compiled code in the group layout had not been
    timed when the rule was set).  First H200 run, 2026-12-04, 50 points:
    group 1.21x thread interpreted, while the compiled thread layout (2.30 M
    fits/s) beat the interpreted group (1.76 M): hence the compiled rows.
    """
    from ...formula import compile_law
    from .chinchilla import LAW, MODEL, START

    chinchilla = dict(name="Chinchilla 5p layouts", program=compile_law(LAW, inputs=["N", "D"]), start=START,
                      model=MODEL, make=_make_chinchilla,
                      sizes=((20, cfg.pick(500, 100_000, 1_000_000), cfg.pick(500, 10_000, 20_000)),
                             (POINTS, cfg.pick(500, 100_000, 1_000_000), cfg.pick(500, 10_000, 20_000)),
                             (2000, cfg.pick(50, 2000, 10_000), cfg.pick(50, 200, 1000))))
    farseer = dict(name="Farseer-like 9p layouts",
                   program=compile_law(FARSEER, inputs=["N", "D"], params=FARSEER_PARAMS), start=FARSEER_CENTER,
                   model=Model(_farseer), make=_make_farseer,
                   sizes=((POINTS, cfg.pick(200, 100_000, 100_000), cfg.pick(200, 10_000, 10_000)),))
    return [row for case in (chinchilla, farseer) for row in _layout_rows(cfg, device, device_name, **case)]


def _layout_rows(cfg, device, device_name, name, program, start, model, make, sizes):
    from ...engine.core import solve_batch

    grid = _one_point_grid(start)
    compiled = device != "cpu" and compile_for(cfg, program, device, "gpu layouts jit") is not None
    variants = [(layout, jit) for jit in ((False, True) if compiled else (False,))
                for layout in ("thread", "group", "auto")]
    rows = []
    for points, n, n_cpu in sizes:
        inputs, y, true = make(n, points, np.random.default_rng(cfg.seed + points))
        cols = program.input_matrix({k: v.ravel() for k, v in inputs.items()})
        y = y.ravel()
        offsets = np.arange(n + 1, dtype=np.int64) * points

        def solve(dev, layout, laws, jit=False):
            m = laws * points
            return solve_batch(program, cols[:, :m], y[:m], offsets[:laws + 1], start_grid=grid, want_jtj=False,
                               device=dev, layout=layout, n_threads=cfg.threads, jit=jit)

        runs = {}
        for layout, jit in variants:
            solve(device, layout, n, jit)  # warm-up (first use of a kernel)
            runs[layout + (" jit" if jit else "")] = timed(lambda: solve(device, layout, n, jit), cfg.pick(1, 2, 2))
        runs["cpu"] = timed(lambda: solve("cpu", "auto", n_cpu), 1)
        idx = sample_indices(n_cpu, cfg.pick(3, 10, 20))
        problems = [Problem(np.vstack([inputs["N"][i], inputs["D"][i]]), y[i * points:(i + 1) * points], start,
                            alt_starts=(true[i],)) for i in idx]
        ref, ref_cost = reference(model, problems, [sol.params[idx] for _, sol in runs.values()])
        agree = {k: compare(model, problems, sol.params[idx], ref, ref_cost) for k, (_, sol) in runs.items()}
        judge(list(agree.values()))
        cpu_params = runs["cpu"][1].params
        size = fmt_size(n, points)
        for layout, (t, sol) in runs.items():
            shape = {"laws": n, "points": points, "layout": layout, "device": device_name}
            if layout == "cpu":
                note = f"CPU timed on {n_cpu:,} of {n:,}, time extrapolated" if n_cpu < n else ""
                rows.append(_row("gpu", name, size, "lawfit cpu", n, points, t, n_cpu, agree[layout],
                                 lawfit_status(sol.status), note, shape))
                continue
            same = np.array_equal(sol.params[:n_cpu], cpu_params, equal_nan=True)
            rows.append(_row("gpu", name, size, f"lawfit {device} {layout}", n, points, t, n,
                             agree[layout], lawfit_status(sol.status),
                             f"{device_name}; bit-identical to the CPU back end on {n_cpu:,} laws: {same}", shape))
    return rows


# ---------------------------------------------------------------- the Epoch analysis

def _epoch_axes(cfg):
    """epoch.AXES (the 4,500-start grid); every other value (243 starts) at toy scale, for the tests."""
    from .epoch import AXES

    step = cfg.pick(2, 1, 1)
    return [a[::step] for a in AXES]


def _epoch_analysis(cfg, device, device_name):
    from ...engine import native as _core
    from ...engine.core import solve_batch
    from .epoch import DELTA, MODEL, _problem, grid

    source, x, ylog, program, cols = _problem(cfg)
    M = len(ylog)
    axes = _epoch_axes(cfg)
    points = grid(axes)  # the starts start_grid generates, in its order (for pruned starts)
    S = len(points)
    R = cfg.pick(2, 100, 4000)
    R_cpu = cfg.pick(1, 2, 4)
    seed = cfg.seed
    q = np.array([0.025, 0.975])
    offsets = np.array([0, M], dtype=np.int64)

    def solve(dev, **kw):
        return solve_batch(program, cols, ylog, offsets, start_grid=axes, seed=seed, loss="huber", delta=DELTA,
                           want_jtj=False, device=dev, n_threads=cfg.threads, best_of=S, **kw)

    stages = {}

    def analysis(dev, r, jit=False):
        t0 = time.perf_counter()
        full = solve(dev, jit=jit)
        t1 = time.perf_counter()
        boot = solve(dev, n_resamples=r, summary_runs=r, quantiles=q, jit=jit)
        stages[dev] = (t1 - t0, time.perf_counter() - t1)
        return full, boot

    analysis(device, 1)  # warm-up
    tg, (g_full, g_boot) = timed(lambda: analysis(device, R), 1)
    # The CPU warmed up too; it runs the full fit and R_cpu of the R resamples
    # (every stage fits S starts), and _row extrapolates per fit from the
    # measured time.  (Until 2026-12-04 this passed the already-extrapolated
    # time with the timed fit count, extrapolating twice: 645-956 fits/s
    # printed for ~27,000 measured.)
    analysis("cpu", 1)
    c_full, _ = analysis("cpu", R_cpu)
    cpu_seconds = sum(stages["cpu"])

    # Accuracy: each resample's best start on both devices against the reference.
    gb = solve(device, n_resamples=R_cpu).params
    cb = solve("cpu", n_resamples=R_cpu).params
    problems = [Problem(x, ylog, cb[r], weight=np.asarray(_core.bootstrap_counts(seed, 0, r, M), float))
                for r in range(R_cpu)]
    ref, ref_cost = reference(MODEL, problems, [gb, cb])
    ag, ac = compare(MODEL, problems, gb, ref, ref_cost), compare(MODEL, problems, cb, ref, ref_cost)
    judge([ag, ac])
    diff = float(np.max(rel_param_diff(gb, cb)))
    full_diff = float(np.max(rel_param_diff(g_full.params, c_full.params)))
    e, alpha, beta = g_full.params[0, 2], g_full.params[0, 3], g_full.params[0, 4]
    lo, hi = g_boot.quantiles[0]
    interval = (f"E {np.exp(e):.3f} [{np.exp(lo[2]):.3f}, {np.exp(hi[2]):.3f}], alpha {alpha:.4f} "
                f"[{lo[3]:.4f}, {hi[3]:.4f}], beta {beta:.4f} [{lo[4]:.4f}, {hi[4]:.4f}]")
    n = (R + 1) * S
    size = fmt_size(1, M, starts=S, resamples=R)
    shape = {"laws": 1, "points": M, "starts": S, "resamples": R, "loss": "huber", "delta": DELTA, "seed": seed,
             "data": source, "device": device_name, "cpu_resamples": R_cpu, "gpu_seconds": tg,
             "resamples_used": int(g_boot.n_used[0, 0]), "cpu_stage_seconds": list(stages["cpu"]),
             "gpu_stage_seconds": list(stages[device])}
    problem = "Epoch full analysis (grid + bootstrap x grid)"
    keep = min(S, 100)

    def pruned(dev, r):
        """The same analysis fitting only the `keep` best starts (by cost at the start) of each resample."""
        common = dict(seed=seed, loss="huber", delta=DELTA, want_jtj=False, device=dev, n_threads=cfg.threads,
                      jit=False)  # interpreted, as the full analysis it is compared with
        out = []
        for n_res in (0, r):  # the full data, then the resamples
            ev = solve_batch(program, cols, ylog, offsets, start_grid=axes, n_resamples=n_res, evaluate_only=True,
                             **common)
            cost = np.where(np.isfinite(ev.cost), ev.cost, np.inf).reshape(max(n_res, 1), S)
            best = (np.argpartition(cost, keep - 1, axis=1)[:, :keep] if keep < S
                    else np.tile(np.arange(S), (len(cost), 1)))
            kw = dict(problem_resample=np.repeat(np.arange(n_res, dtype=np.int64), keep),
                      summary_runs=n_res, quantiles=q) if n_res else {}
            out.append(solve_batch(program, cols, ylog, offsets, points[best.ravel()], best_of=keep,
                                   problem_law=np.zeros(best.size, np.int64), **kw, **common))
        return out

    tp, (p_full, p_boot) = timed(lambda: pruned(device, R), 1)
    pruned_diff = float(np.max(np.abs(p_boot.quantiles - g_boot.quantiles) / np.abs(g_boot.quantiles)))
    prune_row = _row("gpu", f"Epoch analysis, {keep} best of {S} starts fitted", size, f"lawfit {device}", n, M, tp,
                     n, ag, lawfit_status(p_full.status),
                     f"{device_name}; every start's cost evaluated, LM from the {keep} best per resample; "
                     f"{tg / tp:.1f}x the full analysis; same full-data optimum: "
                     f"{bool(np.allclose(p_full.params, g_full.params, rtol=1e-6))}; interval ends differ by "
                     f"{pruned_diff:.1e} relative", dict(shape, keep=keep))
    jit_rows = []
    compile_s = compile_for(cfg, program, device, "gpu epoch jit")
    if compile_s is not None:
        tj, (j_full, j_boot) = timed(lambda: analysis(device, R, jit=True), 1)
        same = np.array_equal(j_full.params, g_full.params) and np.array_equal(j_boot.quantiles, g_boot.quantiles)
        jit_rows.append(_row("gpu", problem, size, f"lawfit {device} jit", n, M, tj, n, ag,
                             lawfit_status(j_full.status),
                             f"{device_name}; law compiled in {compile_s:.1f} s (cached after); {tg / tj:.2f}x the "
                             f"interpreter; identical results: {same}", dict(shape, jit=True)))
    rows = [
        _row("gpu", problem, size, f"lawfit {device}", n, M, tg, n, ag, lawfit_status(g_full.status),
             f"{device_name}; one call per stage, reductions on the device; {interval}; "
             f"max rel diff to CPU: full fit {full_diff:.1e}, resamples {diff:.1e}", shape),
        _row("gpu", problem, size, "lawfit cpu", n, M, cpu_seconds, (R_cpu + 1) * S, ac, lawfit_status(c_full.status),
             f"CPU timed on the full fit + {R_cpu} of {R:,} resamples, time extrapolated", shape),
    ]
    return rows[:1] + jit_rows + [prune_row] + rows[1:]
