"""Type stubs for lawfit._core, the compiled module (cpp/bindings.cpp)."""
import enum
from typing import Callable, Optional

import numpy as np
import numpy.typing as npt

MAX_PARAMS: int
MAX_STACK: int
WITH_CUDA: bool
BATCH_VIEW_SIZE: int  # sizeof(BatchView): code compiled at run time must agree
CUDA_ABI: int  # the same for the GPU driver (0 without CUDA)

class Status(enum.IntEnum):
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

class Loss(enum.IntEnum):
    L2 = 0
    HUBER = 1
    SOFT_L1 = 2
    CAUCHY = 3
    ARCTAN = 4

class Op(enum.IntEnum): ...

def solve_batch(
    code: npt.NDArray[np.int32], consts: npt.NDArray[np.float64], n_params: int,
    columns: npt.NDArray[np.float64], y: npt.NDArray[np.float64], weight: Optional[npt.NDArray[np.float64]],
    offsets: npt.NDArray[np.int64], problem_law: Optional[npt.NDArray[np.int64]],
    p0: Optional[npt.NDArray[np.float64]], fixed: Optional[npt.NDArray[np.uint8]],
    lower: npt.NDArray[np.float64], upper: npt.NDArray[np.float64],
    ftol: float, xtol: float, gtol: float, max_nfev: int, n_threads: int, want_jtj: bool,
    loss: int = 0, delta: float = 1.0, log_residual: bool = False, seed: int = 0,
    problem_resample: Optional[npt.NDArray[np.int64]] = None, group: Optional[npt.NDArray[np.int32]] = None,
    evaluate_only: bool = False, device: str = "cpu", max_chunk: int = 0, irls_floor: float = 0.0,
    law_key: Optional[npt.NDArray[np.int64]] = None, start_grid: Optional[npt.NDArray[np.float64]] = None,
    grid_sizes: Optional[npt.NDArray[np.int32]] = None, best_of: int = 1, summary_runs: int = 0,
    quantiles: Optional[npt.NDArray[np.float64]] = None, layout: str = "auto", grid_resamples: int = 0,
) -> dict: ...
def evaluate(code: npt.NDArray[np.int32], consts: npt.NDArray[np.float64], n_params: int,
             columns: npt.NDArray[np.float64], params: npt.NDArray[np.float64]) -> tuple: ...
def solve_callback(fun: Callable, p0: npt.NDArray[np.float64], fixed: Optional[npt.NDArray[np.uint8]],
                   lower: npt.NDArray[np.float64], upper: npt.NDArray[np.float64],
                   ftol: float, xtol: float, gtol: float, max_nfev: int) -> tuple: ...
def covariance(jtj: npt.NDArray[np.float64], min_pivot: float) -> tuple: ...
def bootstrap_counts(seed: int, law: int, resample: int, n_units: int) -> npt.NDArray[np.int32]: ...
def cuda_device_count() -> int: ...
def cuda_device_name(device: int = 0) -> str: ...
