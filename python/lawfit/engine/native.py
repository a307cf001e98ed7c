"""The compiled module, re-exported: the one place Python imports ``lawfit._core``.

Everything above the engine (the API, the catalog, results, plots) reaches the
core through :mod:`lawfit.engine`; ``tests/engine/test_layering.py`` keeps it so.
"""
from .._core import (  # noqa: F401  (re-exports)
    BATCH_VIEW_SIZE,
    CUDA_ABI,
    MAX_PARAMS,
    MAX_STACK,
    WITH_CUDA,
    BatchArrays,
    Loss,
    Op,
    Reduction,
    SolverOptions,
    Status,
    bootstrap_counts,
    builtin_compiled,
    covariance,
    cuda_device_count,
    cuda_device_name,
    evaluate,
    load_compiled,
    solve_batch,
    solve_callback,
    solve_single,
)
