"""The benchmarks, one module per family; ``REGISTRY`` lists them in running order.

Each entry is ``name -> (family, function)``; a function takes a
:class:`lawfit.bench.core.Config` and returns rows (:class:`~lawfit.bench.core.Row`).
"""
from __future__ import annotations

from . import bnsl, chinchilla, colpret, epoch, gpu, million, nist, powerlaw, robust, single, userflow

REGISTRY = {
    "chinchilla_laws": ("chinchilla", chinchilla.chinchilla_laws),
    "chinchilla_points": ("chinchilla", chinchilla.chinchilla_points),
    "chinchilla_1e6": ("chinchilla", million.chinchilla_1e6),
    "powerlaw": ("powerlaw", powerlaw.powerlaw),
    "single_law": ("curve_fit", single.single_law),
    "bnsl": ("bnsl", bnsl.bnsl_fit),
    "robust": ("robust", robust.robust),
    "approach3": ("epoch", epoch.approach3),
    "bootstrap": ("epoch", epoch.bootstrap),
    "nist": ("nist", nist.nist),
    "colpret": ("colpret", colpret.colpret),
    "user_hitchhiker": ("userflow", userflow.user_hitchhiker),
    "user_evaluate": ("userflow", userflow.user_evaluate),
    "user_epoch": ("userflow", userflow.user_epoch),
    "user_groups": ("userflow", userflow.user_groups),
    "gpu_epoch": ("gpu", gpu.gpu_epoch),
    "gpu_ladders": ("gpu", gpu.gpu_ladders),
    "gpu_layouts": ("gpu", gpu.gpu_layouts),
}


def select(only=None) -> list:
    """Benchmark names for ``--only`` (names or families, comma-separated; None: all)."""
    if not only:
        return list(REGISTRY)
    wanted = [w.strip() for part in only for w in part.split(",") if w.strip()]
    names = []
    for w in wanted:
        hits = [n for n, (fam, _) in REGISTRY.items() if w in (n, fam)]
        if not hits:
            choices = ", ".join(sorted(set(REGISTRY) | {f for f, _ in REGISTRY.values()}))
            raise ValueError(f"unknown benchmark {w!r}; choose from {choices}")
        names += [n for n in hits if n not in names]
    return [n for n in REGISTRY if n in names]
