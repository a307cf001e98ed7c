"""Type stubs for lawfit._core (written by python -m lawfit.engine.stubgen: do not edit).

lawfit's compiled core: batched Levenberg-Marquardt over law programs
"""

import enum
from collections.abc import Callable
from typing import Any, Optional

import numpy as np
import numpy.typing as npt
from typing_extensions import CapsuleType

BATCH_VIEW_SIZE: int
CUDA_ABI: int
MAX_PARAMS: int
MAX_STACK: int
WITH_CUDA: bool

class Loss(enum.IntEnum):
    """Robust loss applied to the residuals"""
    L2 = 0
    HUBER = 1
    SOFT_L1 = 2
    CAUCHY = 3
    ARCTAN = 4

class Op(enum.IntEnum):
    """Law-program opcodes"""
    CONST = 0
    INPUT = 1
    PARAM = 2
    ADD = 3
    SUB = 4
    MUL = 5
    DIV = 6
    POW = 7
    NEG = 8
    EXP = 9
    LOG = 10
    LOG10 = 11
    LOG1P = 12
    EXPM1 = 13
    SQRT = 14
    ABS = 15
    SIN = 16
    COS = 17
    TAN = 18
    ARCTAN = 19
    TANH = 20
    SIGMOID = 21
    SOFTPLUS = 22
    MIN = 23
    MAX = 24
    POWI = 25
    LGAMMA = 26

class Status(enum.IntEnum):
    """Per-problem outcome of a fit"""
    NOT_RUN = 0
    CONVERGED_FTOL = 1
    CONVERGED_XTOL = 2
    CONVERGED_FTOL_XTOL = 3
    CONVERGED_GTOL = 4
    MAX_EVALUATIONS = 5
    STALLED = 6
    SINGULAR = 7
    NON_FINITE = 8
    BAD_INPUT = 9
    INTERRUPTED = 10

class BatchArrays:
    """The inputs of a batch: one law program, the ragged points, the problems.

    Law i owns points offsets[i] .. offsets[i+1] of `columns` (n_columns, n_points)
    and `y`; problem k fits law problem_law[k] (default: k) from p0[k], or from a
    start grid (start_grid: every parameter's values one after another,
    grid_sizes: how many each).  columns, y, weight and p0 may be numpy arrays
    (converted to C-contiguous float64 when assigned) or GPU arrays exposing
    __cuda_array_interface__ (float64, C-contiguous; read where they lie).
    fixed, lower and upper have shape (P,) or (n_problems, P).
    """
    def __init__(
        self,
        *,
        code: npt.NDArray[np.int32],
        consts: npt.NDArray[np.float64],
        n_params: int,
        columns: object,
        y: object,
        offsets: npt.NDArray[np.int64],
        lower: npt.NDArray[np.float64],
        upper: npt.NDArray[np.float64],
        weight: object = None,
        problem_law: Optional[npt.NDArray[np.int64]] = None,
        p0: object = None,
        fixed: Optional[npt.NDArray[np.uint8]] = None,
        problem_resample: Optional[npt.NDArray[np.int64]] = None,
        group: Optional[npt.NDArray[np.int32]] = None,
        law_key: Optional[npt.NDArray[np.int64]] = None,
        start_grid: Optional[npt.NDArray[np.float64]] = None,
        grid_sizes: Optional[npt.NDArray[np.int32]] = None,
    ) -> None: ...
    #: Program opcodes and arguments, shape (n_instr, 2).
    code: npt.NDArray[np.int32]
    #: The program's constant pool.
    consts: npt.NDArray[np.float64]
    #: Parameters of the law (P).
    n_params: int
    #: Input columns (n_columns, n_points); numpy or GPU.
    columns: object
    #: Observations (n_points,); numpy or GPU.
    y: object
    #: Weights 1/sigma^2 (n_points,) or None; numpy or GPU.
    weight: object
    #: Starts (n_problems, P), or None with a start grid; numpy or GPU.
    p0: object
    #: Law i owns points offsets[i] .. offsets[i+1].
    offsets: npt.NDArray[np.int64]
    #: The law of each problem (None: problem k fits law k).
    problem_law: Optional[npt.NDArray[np.int64]]
    #: Nonzero where a parameter is held at its start.
    fixed: Optional[npt.NDArray[np.uint8]]
    #: Lower bounds.
    lower: npt.NDArray[np.float64]
    #: Upper bounds.
    upper: npt.NDArray[np.float64]
    #: The bootstrap resample each problem fits (< 0: the data as given).
    problem_resample: Optional[npt.NDArray[np.int64]]
    #: Law-local group id of each point (the resampling unit).
    group: Optional[npt.NDArray[np.int32]]
    #: Each law's id in the resampling RNG's key.
    law_key: Optional[npt.NDArray[np.int64]]
    #: Every parameter's grid values, one after another.
    start_grid: Optional[npt.NDArray[np.float64]]
    #: Number of grid values of each parameter.
    grid_sizes: Optional[npt.NDArray[np.int32]]
    def __repr__(self) -> str: ...

class Reduction:
    """What to keep of a batch's results, reduced where the batch runs.

    best_of=S keeps the best of every run of S consecutive problems; summary_runs=R
    then summarises every run of R results (mean, sd, `quantiles` of each
    parameter over the converged ones) and keeps only those.  grid_resamples=R
    with a start grid generates every (law, resample, start).
    """
    def __init__(
        self,
        *,
        best_of: int = 1,
        summary_runs: int = 0,
        quantiles: Optional[npt.NDArray[np.float64]] = None,
        grid_resamples: int = 0,
    ) -> None: ...
    #: Keep the best of every run of this many problems.
    best_of: int
    #: Summarise every run of this many results (0: no summaries).
    summary_runs: int
    #: Quantiles (in [0, 1]) of the summaries.
    quantiles: Optional[npt.NDArray[np.float64]]
    #: Resamples generated for every law with a start grid (0: none).
    grid_resamples: int
    def __repr__(self) -> str: ...

class SolverOptions:
    """How every problem of a batch is solved, and where.

    ftol, xtol, gtol, max_nfev: MINPACK's stopping rules (max_nfev 0: 100 (n_free + 1)).
    loss (a Loss), delta: the robust loss and its scale; log_residual fits log f - log y;
    irls_floor: 1 weights robust losses by rho' (IRLS), 0 adds Triggs' correction.
    seed keys the bootstrap resamples; evaluate_only returns the cost at the starts.
    device 'cpu' (n_threads, <= 0: every core) or 'cuda' (layout 'auto', 'thread' or
    'group'; max_chunk caps the problems per chunk, 0: sized to free memory).
    """
    def __init__(
        self,
        *,
        ftol: float = 1.49012e-08,
        xtol: float = 1.49012e-08,
        gtol: float = 0.0,
        max_nfev: int = 0,
        n_threads: int = 0,
        want_jtj: bool = True,
        loss: int = 0,
        delta: float = 1.0,
        log_residual: bool = False,
        irls_floor: float = 0.0,
        seed: int = 0,
        evaluate_only: bool = False,
        device: str = "cpu",
        layout: str = "auto",
        max_chunk: int = 0,
    ) -> None: ...
    #: Relative reduction of the cost that stops.
    ftol: float
    #: Relative step size that stops.
    xtol: float
    #: Gradient orthogonality that stops.
    gtol: float
    #: Evaluations per problem (0: 100 (n_free + 1)).
    max_nfev: int
    #: CPU threads (<= 0: every core).
    n_threads: int
    #: Return J^T W J of every result.
    want_jtj: bool
    #: The robust loss (a Loss or its value).
    loss: Loss
    #: Scale of the robust loss (scipy's f_scale).
    delta: float
    #: Fit log f - log y.
    log_residual: bool
    #: Gauss-Newton weight floor of robust losses (1: IRLS, 0: Triggs).
    irls_floor: float
    #: Key of the bootstrap resamples.
    seed: int
    #: Only the cost at the starts.
    evaluate_only: bool
    #: 'cpu' or 'cuda'.
    device: str
    #: GPU layout: 'auto', 'thread' or 'group'.
    layout: str
    #: GPU problems per chunk (0: sized to free memory).
    max_chunk: int
    def __repr__(self) -> str: ...

def bootstrap_counts(seed: int, law: int, resample: int, n_units: int) -> npt.NDArray[np.int32]:
    """Poisson(1) multiplicities of units 0..n_units-1 in one resample (as the solver draws them)."""

def builtin_compiled(code: npt.NDArray[np.int32], consts: npt.NDArray[np.float64], n_params: int) -> object:
    """The catalog law compiled into this module for exactly this program.

    code (n_instr x 2 int32), consts (float64, compared bit for bit) and
    n_params identify the program; returns a capsule named
    'lawfit.compiled_cpu' for solve_batch(..., compiled=capsule), or None when
    no built-in law has this program.
    """

def covariance(
    jtj: npt.NDArray[np.float64],
    min_pivot: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Inverse of each J^T J in scaled form; ok=False where it is singular or nearly so."""

def cuda_device_count() -> int:
    """Number of usable CUDA devices (0 without a driver, or in a build without CUDA)."""

def cuda_device_name(device: int = 0) -> str:
    """Name of a CUDA device ('' when there is none)."""

def evaluate(
    code: npt.NDArray[np.int32],
    consts: npt.NDArray[np.float64],
    n_params: int,
    columns: npt.NDArray[np.float64],
    params: npt.NDArray[np.float64],
    offsets: Optional[npt.NDArray[np.int64]] = None,
    gradient: bool = True,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Value and gradient of a program at every point; with offsets, law l's points use params[l]. gradient=False: values only (the gradient has 0 rows)."""

def load_compiled(path: str, kind: str) -> CapsuleType:
    """Loads a law compiled at run time (lawfit.engine.jit) for kind 'cpu' or 'cuda'.

    Checks that the library was built against this core's batch layout and
    returns a capsule (named 'lawfit.compiled_cpu' or 'lawfit.compiled_cuda')
    that keeps it loaded, for solve_batch(..., compiled=capsule).  Raises
    OSError when the library cannot be loaded or is not a compiled law, and
    ValueError when it disagrees with this core.
    """

def solve_batch(
    arrays: BatchArrays,
    options: SolverOptions,
    reduction: Optional[Reduction] = None,
    compiled: Optional[CapsuleType] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> dict[str, Any]:
    """Fits every problem of a ragged batch; returns a dict of result arrays.

    Keys: params, cost, nit, nfev, status, jtj (per problem, or per run with
    best_of > 1, then also best and n_converged), mean, sd, quantiles, n_used
    (with summary_runs; the per-problem keys are then None), n_chunks.
    compiled: a capsule from load_compiled for this program and device.
    progress(finished, total) is called from this thread with the GIL held, at
    most every 0.2 s on the CPU and after every chunk on the GPU, and once at the
    end with (total, total).  Ctrl-C, or an exception raised by progress, stops
    the batch: the exception is raised once the workers have stopped, with the
    per-problem results as its partial_results (a dict; unsolved problems
    INTERRUPTED; absent on the GPU when the results are reduced).
    """

def solve_callback(
    fun: Callable[..., Any],
    p0: npt.NDArray[np.float64],
    fixed: Optional[npt.NDArray[np.uint8]],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    ftol: float,
    xtol: float,
    gtol: float,
    max_nfev: int,
    loss: Loss = ...,
    delta: float = 1.0,
) -> tuple[npt.NDArray[np.float64], float, int, int, int, npt.NDArray[np.float64]]:
    """Fit one problem whose weighted residuals (or (residuals, jacobian)) come from a Python callable; with a robust loss, 1/2 sum delta^2 rho((r / delta)^2) as least_squares."""

def solve_single(
    code: npt.NDArray[np.int32],
    consts: npt.NDArray[np.float64],
    n_params: int,
    columns: npt.NDArray[np.float64],
    p0: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    ftol: float,
    xtol: float,
    gtol: float,
    max_nfev: int,
) -> tuple[npt.NDArray[np.float64], float, int, int, int, npt.NDArray[np.float64]]:
    """Fit one residual program (its value at each point is a weighted residual) on the calling thread; returns (x, cost, nit, nfev, status, J^T J) as solve_callback."""
