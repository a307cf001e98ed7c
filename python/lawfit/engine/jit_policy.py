"""When ``jit="auto"`` builds a user law in the background: thresholds and the switch.

Apart from :mod:`lawfit.engine.jit` so that a process can count a law's work
towards its build without importing the compiler machinery (25-50 ms: subprocess,
pathlib, the code generator), which one call of a user formula need not pay.
"""
from __future__ import annotations

import os

__all__ = ["BACKGROUND_WORK", "BACKGROUND_WORK_CUDA", "background_enabled", "count_work", "work_seen"]

#: ``jit='auto'`` compiles a law on a background thread once this process has asked
#: for this many point evaluations' worth of it (points x problems), summed over calls:
#: about a second of interpreted LM, so the build (1-2 s of one core, once; then
#: cached on disk for later processes) is not started for a law used once on little data.
BACKGROUND_WORK = 2_000_000
#: The same for the GPU, where interpreted work is cheaper and nvcc dearer (14-31 s per law
#: on the first H200 run, 2026-12-04): about a second of interpreted Chinchilla fits there
#: (1.4 M fits/s x 50 points), and the build then pays from the next call on (compiled:
#: 1.4x the interpreter's fits/s for Chinchilla, 3.1x for a 9-parameter law).
BACKGROUND_WORK_CUDA = 100_000_000

#: (kind, program key) -> work seen so far, or inf once its build started: counted by the core
#: before :mod:`lawfit.engine.jit` is imported and by ``jit.compile_in_background`` after.
work_seen: dict[tuple, float] = {}


def background_enabled() -> bool:
    """Whether ``jit='auto'`` may build laws on a background thread
    (``LAWFIT_JIT_BACKGROUND=0`` turns it off; the test suite does)."""
    return os.environ.get("LAWFIT_JIT_BACKGROUND", "1").strip().lower() not in ("0", "false", "no", "off")


def count_work(kind: str, key, work: float) -> bool:
    """Adds ``work`` (points x problems) to what this process has asked of the law ``key`` on ``kind``
    ('cpu' or 'cuda'); True once the total reaches that kind's background-build threshold."""
    seen = work_seen.get((kind, key), 0.0) + float(work)
    work_seen[(kind, key)] = seen
    return seen >= (BACKGROUND_WORK if kind == "cpu" else BACKGROUND_WORK_CUDA)
