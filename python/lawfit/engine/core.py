"""The batch: one law program, many problems over a ragged point layout.

This is the single place Python calls the compiled solver; curve_fit, the
demo and the benchmarks all go through :func:`solve_batch`.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from . import native as _core
from .device import as_cuda_array, device_log, is_device_array, to_host
from .jit_policy import background_enabled, count_work
from .options import POLISH_FTOL, POLISH_XTOL, Options

__all__ = ["BatchSolution", "solve_batch", "polished_batch", "evaluate_points", "default_threads", "loss_code",
           "resolve_device", "AUTO_GPU_WORK_PER_THREAD"]


#: ``device='auto'`` sends a batch to the GPU only when it is large enough to pay for the
#: call: at least this many point evaluations (points x problems) per CPU thread the batch
#: would otherwise get.  From the first H200 run (2026-12-04, bench/gpu_check.sh, 16 CPU
#: threads beside the GPU, 50-point laws): at 1e4 problems (5e5 evaluations) the CPU was
#: 2.4x (power law), 2.7x (Chinchilla) and 16x (a 9-parameter law) faster than the GPU, whose
#: call costs ~15 ms before any work; at 1e5 problems the GPU was 3.1x and 2.3x faster (the
#: 9-parameter law interpreted still 0.47x).  The crossover, near 2e6 evaluations for 16
#: threads, is 125,000 per thread.  ``LAWFIT_AUTO_GPU_WORK`` overrides it (0: every batch
#: to a usable GPU, as bench/gpu_check.sh runs the engine's tests).
AUTO_GPU_WORK_PER_THREAD = 125_000


def resolve_device(device: str, work: float | None = None, n_threads: int | None = None) -> str:
    """'auto' -> 'cuda' when this build has the CUDA back end, a GPU is usable
    and it passes :func:`gpu_self_check`; else 'cpu'.  Given the batch's
    ``work`` (points x problems), 'auto' also keeps batches below
    :data:`AUTO_GPU_WORK_PER_THREAD` x ``n_threads`` (default: every core) on the CPU.

    'cuda' is returned as asked; the core raises a RuntimeError saying why if
    it cannot run there (built without CUDA, no driver, no device).
    """
    if device == "auto":
        setting = os.environ.get("LAWFIT_AUTO_GPU_WORK", AUTO_GPU_WORK_PER_THREAD)
        try:
            per_thread = float(setting)
        except ValueError:
            raise ValueError(f"LAWFIT_AUTO_GPU_WORK must be a number of point evaluations, got {setting!r}") from None
        if work is not None and work < per_thread * (n_threads or default_threads()):
            return "cpu"
        usable = _core.WITH_CUDA and _core.cuda_device_count() > 0
        return "cuda" if usable and gpu_self_check() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    return device


_self_check: list = []  # [passed, reason] once run in this process


def gpu_self_check() -> bool:
    """Whether this GPU gives the CPU's answers on a small batch (run once per process).

    device='auto' only uses a GPU that passes: 64 Chinchilla-like laws solved
    on both back ends must agree bit for bit in both layouts (the same sums
    in the same order: tests/engine/test_gpu.py).  A GPU that
    fails (or raises) is skipped with a LawfitWarning saying why; device='cuda'
    still runs there on request.
    """
    if not _self_check:
        import warnings

        from ..status import LawfitWarning, user_stacklevel
        passed, reason = _run_self_check()
        _self_check[:] = [passed, reason]
        if not passed:
            warnings.warn(f"lawfit: device='auto' uses the CPU: the GPU failed its self-check ({reason})",
                          LawfitWarning, stacklevel=user_stacklevel())
    return bool(_self_check[0])


def _run_self_check() -> tuple[bool, str]:
    from ..formula import compile_law

    rng = np.random.default_rng(0)
    L, M = 64, 40
    N, D = 10 ** rng.uniform(7, 10, (L, M)), 10 ** rng.uniform(9, 12, (L, M))
    y = (1.8 + 400 * N**-0.34 + 2000 * D**-0.37) * (1 + 0.01 * rng.standard_normal((L, M)))
    program = compile_law("E + A/N**alpha + B/D**beta", inputs=["N", "D"])
    args = (program, program.input_matrix({"N": N.ravel(), "D": D.ravel()}), y.ravel(), np.arange(L + 1) * M,
            np.tile([2.0, 300.0, 0.3, 1000.0, 0.3], (L, 1)))
    try:
        cpu = solve_batch(*args, device="cpu")
        group = solve_batch(*args, device="cuda", layout="group")
        thread = solve_batch(*args, device="cuda", layout="thread")
    except RuntimeError as exc:
        return False, str(exc)
    if not (np.array_equal(group.status, cpu.status) and np.array_equal(group.params, cpu.params, equal_nan=True)):
        return False, "group layout differs from the CPU"
    if not (np.array_equal(thread.status, cpu.status) and np.array_equal(thread.params, cpu.params, equal_nan=True)):
        return False, "thread layout differs from the CPU"
    return True, ""


def default_threads() -> int:
    """Threads used when the caller does not say: every core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class BatchSolution:
    """Raw outputs of the core.

    Per problem (K rows), or per run with ``best_of`` (K / best_of rows; the
    ``best`` start of each run and its ``n_converged``), or None where only
    replicate summaries were asked for (``mean``, ``sd``, ``n_used`` of shape
    (runs, P), ``quantiles`` (runs, n_q, P)).
    """

    params: np.ndarray | None  # (K, P)
    cost: np.ndarray | None  # (K,) 1/2 weighted sum of squares
    nit: np.ndarray | None
    nfev: np.ndarray | None
    status: np.ndarray | None  # int32 codes of lawfit.Status
    jtj: np.ndarray | None  # (K, P, P)
    best: np.ndarray | None = None
    n_converged: np.ndarray | None = None
    mean: np.ndarray | None = None
    sd: np.ndarray | None = None
    quantiles: np.ndarray | None = None
    n_used: np.ndarray | None = None
    n_chunks: int = 1


def loss_code(loss) -> _core.Loss:
    """The core's Loss for a name such as ``"huber"`` (or a Loss already)."""
    if isinstance(loss, _core.Loss):
        return loss
    try:
        return _core.Loss[str(loss).upper()]
    except KeyError:
        names = ", ".join(m.name.lower() for m in _core.Loss)
        raise ValueError(f"unknown loss {loss!r}; choose one of {names}") from None


def _per_problem(a, n_problems: int, n_params: int, dtype, name: str) -> np.ndarray:
    a = np.ascontiguousarray(to_host(a), dtype=dtype)
    if a.shape == (n_params,) or a.shape == (n_problems, n_params):
        return a
    raise ValueError(f"{name} must have shape ({n_params},) or ({n_problems}, {n_params}), got {a.shape}")


def solve_batch(
    program,
    columns: np.ndarray,
    y: np.ndarray,
    offsets: np.ndarray,
    p0: np.ndarray | None = None,
    *,
    weight: np.ndarray | None = None,
    problem_law: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    ftol: float = Options.ftol,
    xtol: float = Options.xtol,
    gtol: float = Options.gtol,
    max_nfev: int = Options.max_nfev,
    n_threads: int | None = None,
    want_jtj: bool = True,
    loss: str = Options.loss,
    delta: float = Options.delta,
    residual: str = Options.residual,
    seed: int = 0,
    problem_resample: np.ndarray | None = None,
    group: np.ndarray | None = None,
    evaluate_only: bool = False,
    device: str | None = None,  # where it is told; None: the CPU, or the GPU when the data lie there
    max_chunk: int = 0,
    robust_hessian: str = Options.robust_hessian,
    law_key: np.ndarray | None = None,
    start_grid=None,
    best_of: int = 1,
    summary_runs: int = 0,
    quantiles=(0.025, 0.975),
    layout: str = "auto",
    n_resamples: int = 0,
    jit=Options.jit,
    progress=None,
) -> BatchSolution:
    """Fit every problem of a batch with the compiled Levenberg-Marquardt core.

    ``columns`` is the program's input matrix (n_columns, n_points) from
    ``program.input_matrix``; law ``i`` owns points ``offsets[i]:offsets[i+1]``;
    problem ``k`` fits law ``problem_law[k]`` (default: ``k``) from ``p0[k]``.

    ``loss`` is one of l2, huber, soft_l1, cauchy, arctan with scale ``delta``
    (scipy.optimize.least_squares' ``loss`` and ``f_scale``); ``residual="log"``
    fits log f - log y.  ``problem_resample[k] >= 0`` makes problem k fit that
    bootstrap resample of its law (Poisson(1) multiplicities keyed by ``seed``,
    law and resample; per point, or per ``group`` id when given).
    ``evaluate_only`` returns the cost at ``p0`` without iterating.
    ``device`` is 'cpu', 'cuda' or 'auto'; on the GPU, problems run in chunks
    sized to free memory (``max_chunk`` caps a chunk, for tests).
    ``robust_hessian`` picks the Gauss-Newton matrix of robust losses: 'irls'
    (weights rho' only, the default) or 'triggs' (scipy's second-order
    correction).  Both use the exact gradient and share optima, but Triggs'
    matrix drops the points in Huber's linear region, the trust region then
    collapses and about half of the fits stop early by xtol far from the
    optimum (the benchmark's robust and ColPret rows); IRLS costs more
    iterations and reaches the optimum.

    Instead of ``p0``, ``start_grid`` (a mapping of every parameter to its
    values, or one sequence of values per parameter) generates the starts
    where the problems run: problem ``k`` starts at grid point ``k % n_grid``
    (the last parameter varying fastest, like ``itertools.product``), clipped
    into its bounds; without ``problem_law`` it fits law ``k // n_grid``.
    With ``n_resamples=R`` as well (and neither ``problem_law`` nor
    ``problem_resample``) the solver generates every (law, resample, start):
    problem ``k`` fits resample ``(k // n_grid) % R`` of law
    ``k // (R * n_grid)`` from grid point ``k % n_grid`` — with ``best_of=n_grid``
    and ``summary_runs=R`` a whole grid bootstrap returns one small table.

    Reductions, done where the batch runs (on the GPU only the reduced table
    is copied back): ``best_of=S`` keeps the best of every run of ``S``
    consecutive problems (:func:`lawfit.engine.starts.reduce_best`'s rule; the
    outputs then have K / S rows plus ``best`` and ``n_converged``);
    ``summary_runs=R`` then summarises every run of ``R`` results (one law's
    bootstrap resamples) into the mean, standard deviation (ddof=1) and
    ``quantiles`` (numpy.quantile's default rule) of each parameter over the
    converged ones, and returns only those.

    GPU arrays (anything exposing ``__cuda_array_interface__``: CuPy,
    PyTorch, Numba; or a CUDA DLPack producer such as a JAX array, viewed
    through CuPy) for ``columns``, ``y``, ``weight`` and ``p0`` are read
    where they lie, without a copy, when the batch runs on the GPU (the
    default ``device=None`` and 'auto' then mean 'cuda'; without GPU arrays
    None means 'cpu': the raw core call runs where it is told); they must
    already be float64 and C-contiguous.  The small index arrays are copied
    to the host.

    ``jit``: how the law's points are evaluated; results are bit-identical
    whichever is used.  'auto' (default) runs compiled code that is ready
    without waiting: the catalog's laws are compiled into the package ahead
    of time (:mod:`lawfit.engine.aot`), and a law compiled earlier in this
    process is reused; anything else is interpreted, and once a law's calls
    add up to about a second of interpreted work (points x problems,
    :data:`lawfit.engine.jit.BACKGROUND_WORK`) it is compiled on a background
    thread (or loaded from the disk cache) for the calls after
    (``LAWFIT_JIT_BACKGROUND=0`` turns that off).  True compiles the law
    to machine code first if needed (:mod:`lawfit.engine.jit`: the system's
    C++ compiler for the CPU, nvcc for the GPU; cached by the law's hash) and
    raises if it cannot.  False always interprets.

    ``layout`` picks the GPU layout: 'thread' (one thread per problem),
    'group' (16 threads per problem: bit-identical to the CPU back end) or
    'auto' (group when laws average 16 points or more for interpreted laws
    of more than 4 parameters, 128 or more otherwise: measured on an H200,
    README "GPU").  Ignored on the CPU.

    ``progress``: a callable ``progress(finished, total)`` the core calls from
    this thread (GIL held) with the number of problems finished so far, at
    most every 0.2 s on the CPU and after every chunk on the GPU, and once at
    the end with ``(total, total)``.  If it raises, the batch stops as on
    Ctrl-C and the exception propagates once the workers have stopped.  The
    exception that stops a batch (KeyboardInterrupt too) carries the
    per-problem results as ``partial_results`` (a :class:`BatchSolution`;
    unsolved problems INTERRUPTED with NaN parameters; not on the GPU when
    the results are reduced there).

    Examples
    --------
    Three laws of 20 points, every one fitted from a 2 x 2 grid of starts,
    the best start of each kept:

    >>> import numpy as np, lawfit
    >>> program = lawfit.compile_law("a*x**-b", inputs=["x"])
    >>> x = np.tile(np.linspace(1, 10, 20), 3)
    >>> y = np.repeat([2.0, 3.0, 4.0], 20) * x**-0.5
    >>> sol = lawfit.solve_batch(program, program.input_matrix({"x": x}), y, [0, 20, 40, 60],
    ...                          start_grid={"a": [1, 5], "b": [0.1, 1]}, best_of=4)
    >>> np.round(sol.params, 6).tolist()
    [[2.0, 0.5], [3.0, 0.5], [4.0, 0.5]]
    >>> sol.n_converged.tolist()
    [4, 4, 4]
    """
    P = len(program.param_names)
    grid_values = grid_sizes = None
    if int(n_resamples) < 0 or (n_resamples and start_grid is None):
        raise ValueError("n_resamples must be a non-negative count and needs start_grid")
    if start_grid is not None:
        if p0 is not None:
            raise ValueError("give either p0 or start_grid, not both")
        grid_values, grid_sizes = _grid_arrays(start_grid, list(program.param_names))
        n_grid = int(np.prod(grid_sizes.astype(np.int64)))
        K = len(problem_law) if problem_law is not None else (len(offsets) - 1) * n_grid * max(int(n_resamples), 1)
    else:
        if p0 is None:
            raise ValueError("solve_batch needs p0 or start_grid")
        p0 = as_cuda_array(p0)
        if not is_device_array(p0):
            p0 = np.ascontiguousarray(p0, dtype=np.float64)
        if p0.ndim == 1:
            p0 = p0.reshape(1, -1)
        K = p0.shape[0]
    inf = np.full(P, np.inf)
    lower = _per_problem(-inf if lower is None else lower, K, P, np.float64, "lower")
    upper = _per_problem(inf if upper is None else upper, K, P, np.float64, "upper")
    if lower.shape != upper.shape:
        lower, upper = (np.ascontiguousarray(np.broadcast_to(b, (K, P))) for b in (lower, upper))
    if fixed is not None:
        fixed = _per_problem(fixed, K, P, np.uint8, "fixed")
    if robust_hessian not in ("triggs", "irls"):
        raise ValueError(f"robust_hessian must be 'triggs' or 'irls', got {robust_hessian!r}")
    if residual not in ("linear", "log"):
        raise ValueError(f"residual must be 'linear' or 'log', got {residual!r}")
    columns, y, weight = as_cuda_array(columns), as_cuda_array(y), as_cuda_array(weight)
    on_gpu = [name for name, a in (("columns", columns), ("y", y), ("weight", weight), ("p0", p0))
              if is_device_array(a)]
    if device is None or (device == "auto" and on_gpu):
        device = "cuda" if on_gpu else "cpu"  # arrays on the GPU: read them there
    if residual == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            y = device_log(y) if is_device_array(y) else np.log(np.asarray(y, dtype=np.float64))
            # non-positive y become NaN: that law gets BAD_INPUT
    n_laws = max(len(offsets) - 1, 1)
    work = K * (np.shape(columns)[-1] / n_laws) * (0.05 if evaluate_only else 1.0)  # points x problems
    device = resolve_device(device, work, n_threads)
    compiled = _compiled_law(program, jit, device, work)
    arrays = _core.BatchArrays(
        code=np.ascontiguousarray(program.code, dtype=np.int32),
        consts=np.ascontiguousarray(program.consts, dtype=np.float64),
        n_params=P,
        columns=_float_array(columns),
        y=_float_array(y),
        weight=None if weight is None else _float_array(weight),
        offsets=np.ascontiguousarray(to_host(offsets), dtype=np.int64),
        problem_law=None if problem_law is None else np.ascontiguousarray(to_host(problem_law), dtype=np.int64),
        p0=p0,
        fixed=fixed,
        lower=lower,
        upper=upper,
        problem_resample=None if problem_resample is None
        else np.ascontiguousarray(to_host(problem_resample), dtype=np.int64),
        group=None if group is None else np.ascontiguousarray(to_host(group), dtype=np.int32),
        law_key=None if law_key is None else np.ascontiguousarray(law_key, dtype=np.int64),
        start_grid=grid_values,
        grid_sizes=grid_sizes,
    )
    options = _core.SolverOptions(
        ftol=float(ftol),
        xtol=float(xtol),
        gtol=float(gtol),
        max_nfev=int(max_nfev),
        n_threads=default_threads() if n_threads is None else int(n_threads),
        want_jtj=bool(want_jtj),
        loss=loss_code(loss),
        delta=float(delta),
        log_residual=residual == "log",
        irls_floor=1.0 if robust_hessian == "irls" else 0.0,
        seed=int(seed) & (2**64 - 1),
        evaluate_only=bool(evaluate_only),
        device=device,
        layout=layout,
        max_chunk=int(max_chunk),
    )
    reduction = _core.Reduction(
        best_of=int(best_of),
        summary_runs=int(summary_runs),
        quantiles=np.ascontiguousarray(quantiles, dtype=np.float64).ravel() if summary_runs else None,
        grid_resamples=int(n_resamples),
    )
    try:
        out = _core.solve_batch(arrays, options, reduction, compiled=compiled, progress=progress)
    except BaseException as exc:
        partial = getattr(exc, "partial_results", None)
        if isinstance(partial, dict):
            exc.partial_results = BatchSolution(**partial)
        raise
    return BatchSolution(**out)


def polished_batch(program, columns, y, offsets, p0, *, weight=None, lower=None, upper=None,
                   ftol: float = Options.ftol, xtol: float = Options.xtol, gtol: float = Options.gtol,
                   max_nfev: int = Options.max_nfev, polish: bool = True, **kwargs) -> BatchSolution:
    """:func:`solve_batch` of one start per problem with curve_fit's finish (:mod:`lawfit.engine.single`).

    The batch runs with tolerances ``min(user's, POLISH_*)``: every problem's
    iterates are those of the user's tolerances until scipy's stopping test
    holds, then go on to the precision of float64.  Problems that exhaust
    their evaluations are run again with the user's tolerances, whose status
    (converged or not) is reported; the polished parameters are kept.
    """
    ft, xt = (min(ftol, POLISH_FTOL), min(xtol, POLISH_XTOL)) if polish else (ftol, xtol)
    problem_law = kwargs.pop("problem_law", None)
    law_of = (lambda rows: rows) if problem_law is None else (lambda rows: np.asarray(problem_law)[rows])
    sol = solve_batch(program, columns, y, offsets, p0, weight=weight, lower=lower, upper=upper,
                      problem_law=problem_law, ftol=ft, xtol=xt, gtol=gtol, max_nfev=max_nfev, **kwargs)
    if (ft, xt) == (ftol, xtol):
        return sol
    redo = np.flatnonzero(sol.status == int(_core.Status.MAX_EVALUATIONS))
    if redo.size:
        p0 = np.asarray(p0, dtype=np.float64)
        subset = [None if b is None or np.ndim(b) < 2 else np.asarray(b)[redo] for b in (lower, upper)]
        loose = solve_batch(program, columns, y, offsets, p0[redo] if p0.ndim == 2 else p0,
                            problem_law=law_of(redo), weight=weight,
                            lower=lower if subset[0] is None else subset[0],
                            upper=upper if subset[1] is None else subset[1],
                            ftol=ftol, xtol=xtol, gtol=gtol, max_nfev=max_nfev, **kwargs)
        converged = loose.status > 0
        converged &= loose.status <= int(_core.Status.CONVERGED_GTOL)
        sol.status[redo[converged]] = loose.status[converged]
        # scipy's test stopped in a slow valley the finish had not left: one more budget from there.
        again = redo[converged]
        if again.size:
            subset = [None if b is None or np.ndim(b) < 2 else np.asarray(b)[again] for b in (lower, upper)]
            more = solve_batch(program, columns, y, offsets, sol.params[again], problem_law=law_of(again),
                               weight=weight,
                               lower=lower if subset[0] is None else subset[0],
                               upper=upper if subset[1] is None else subset[1],
                               ftol=ft, xtol=xt, gtol=gtol, max_nfev=max_nfev, **kwargs)
            better = (more.status > 0) & (more.status <= int(_core.Status.CONVERGED_GTOL)) \
                & (more.cost <= sol.cost[again])
            rows = again[better]
            sol.params[rows], sol.cost[rows] = more.params[better], more.cost[better]
            if sol.jtj is not None and more.jtj is not None:
                sol.jtj[rows] = more.jtj[better]
            sol.nit[rows] += more.nit[better]
            sol.nfev[rows] += more.nfev[better]
    return sol


def _compiled_law(program, jit, device: str, work: float = 0.0):
    """The law compiled for ``device`` (a capsule the core checks against the program), or None to
    interpret.  ``work``: the batch's points x problems, counted towards a background build."""
    if jit is False or jit is None:
        return None
    if jit not in (True, "auto"):
        raise ValueError(f"jit must be True, False or 'auto', got {jit!r}")
    kind = "cpu" if device == "cpu" else "cuda"
    if jit == "auto":
        if device == "cpu":
            builtin = _builtin_law(program)
            if builtin is not None:  # a catalog law: its compiled code, without importing the compiler's machinery
                return builtin
        if _JIT_MODULE not in sys.modules:
            if not _background_build_due(program, kind, work):
                return None  # nothing compiled in this process yet, and no build due: interpret
            work = 0.0  # counted already, in the record jit reads
    from . import jit as _jit  # 25-50 ms on a process's first import (subprocess, pathlib, codegen)

    if jit == "auto":  # only what is ready: never a compile the caller waits for
        ready = _jit.loaded_solver(program, device)
        if ready is None:  # built meanwhile for later calls, once they add up (nvcc on the GPU)
            _jit.compile_in_background(program, work, kind)
        return ready
    compiled = _jit.compiled_solver(program) if device == "cpu" else _jit.compiled_cuda_solver(program)
    if compiled is None:
        raise RuntimeError(f"lawfit could not compile the law: {_jit.last_error()}")
    return compiled


_builtin_cache: dict = {}
_JIT_MODULE = __name__.rsplit(".", 1)[0] + ".jit"


def _background_build_due(program, kind: str, work: float) -> bool:
    """Counts ``work`` for ``program`` in jit_policy's record while :mod:`lawfit.engine.jit` is not
    imported (what a build needs; its import costs 25-50 ms); True once the count reaches a background
    build, False while it does not or background builds are off."""
    return background_enabled() and count_work(kind, program.key, work)


def _builtin_law(program):
    """The catalog law compiled into the core for exactly this program, or None."""
    key = program.key
    if key not in _builtin_cache:
        _builtin_cache[key] = _core.builtin_compiled(np.ascontiguousarray(program.code, dtype=np.int32),
                                                     np.ascontiguousarray(program.consts, dtype=np.float64),
                                                     len(program.param_names))
    return _builtin_cache[key]


def _float_array(a):
    """float64 C-contiguous numpy array, or a GPU array as it is (the core checks it)."""
    return a if is_device_array(a) else np.ascontiguousarray(a, dtype=np.float64)


def grid_axes(grid, names) -> list[np.ndarray]:
    """One float64 axis per parameter (in ``names`` order) from a grid mapping
    (every parameter named exactly; a scalar is a one-value axis) or a
    sequence of axes; every axis needs a value."""
    names = list(names)
    if isinstance(grid, Mapping):
        missing = [n for n in names if n not in grid]
        extra = [n for n in grid if n not in names]
        if missing or extra:
            raise ValueError(f"the grid must name every parameter exactly: missing {missing}, unknown {extra}")
        grid = [grid[n] for n in names]
    axes = [np.atleast_1d(np.asarray(a, dtype=np.float64)).ravel() for a in grid]
    if len(axes) != len(names):
        raise ValueError(f"the start grid needs one axis per parameter ({len(names)}), got {len(axes)}")
    if any(a.size == 0 for a in axes):
        raise ValueError("every grid axis needs at least one value")
    return axes


def _grid_arrays(grid, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(values of every axis concatenated, axis sizes) from a grid mapping or sequence."""
    axes = grid_axes(grid, names)
    sizes = np.array([a.size for a in axes], dtype=np.int32)
    return np.ascontiguousarray(np.concatenate(axes) if axes else np.zeros(0)), sizes


def evaluate_points(program, columns, params, offsets=None, gradient: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Value (M,) and parameter gradient (M, P) of ``program`` at every point, in the core.

    ``columns`` is the program's input matrix (n_columns, M).  With ``offsets``
    (L + 1,), law ``l``'s points ``offsets[l]:offsets[l+1]`` use ``params[l]``
    ((L, P)): the statistics of every law of a batch in one call, no Python
    loop over laws.  Without, ``params`` is one (P,) row for every point.
    ``gradient=False``: values only (the same values, the gradient (0, P)).
    """
    cols = np.ascontiguousarray(columns, dtype=np.float64)
    p = np.ascontiguousarray(params, dtype=np.float64)
    offs = None if offsets is None else np.ascontiguousarray(offsets, dtype=np.int64)
    return _core.evaluate(np.ascontiguousarray(program.code, dtype=np.int32),
                          np.ascontiguousarray(program.consts, dtype=np.float64), int(program.n_params),
                          cols, p, offs, gradient)
