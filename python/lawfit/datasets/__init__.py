"""Reference data sets for testing and benchmarking lawfit (numpy only)."""

from .nist import (
    NIST_PROBLEMS,
    NistProblem,
    load_nist_strd,
    lre,
    nist_data_dir,
    nist_problem_names,
    passes,
    score_fit,
)

__all__ = [
    "NIST_PROBLEMS",
    "NistProblem",
    "load_nist_strd",
    "lre",
    "nist_data_dir",
    "nist_problem_names",
    "passes",
    "score_fit",
]
