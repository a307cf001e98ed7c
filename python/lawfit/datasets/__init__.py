"""Reference data for testing, benchmarking and re-analysis with lawfit.

* NIST StRD nonlinear regression problems (numpy only): :func:`load_nist_strd`.
* Released scaling-law collections (need pandas: ``pip install lawfit[pandas]``;
  the parquet files also need pyarrow): one ``load_<name>(path=None, ...)``
  per collection returning a tidy DataFrame with common column names where
  they apply (``N`` parameters, ``D`` tokens or samples, ``C`` FLOP,
  ``loss``, ``family``, ``run``, ``step``).  :func:`list_datasets` names
  them, :data:`DATASETS` says where each comes from.

The data are not shipped.  ``path`` is the dataset folder, one of its files
or a directory holding the dataset folders; without it the loaders read
``$LAWFIT_DATA/<name>``.

>>> from lawfit.datasets import list_datasets
>>> len(list_datasets())
12
"""

from .chinchilla import BESIROGLU_N_EXCLUDED, besiroglu_excluded, load_epoch_chinchilla
from .gadre import GADRE_SPLITS, load_gadre_overtraining
from .hitchhiker import load_hitchhiker_colpret
from .isoflops import load_openathena_isoflops
from .laion import load_laion_clip_mammut
from .misfitting import load_misfitting_li2025
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
from .humanlike import ORHAN_EXTRAPOLATION, load_humanlike_vits_orhan2023
from .obsscaling import load_obsscaling_ruan2024
from .olmo import OLMO_TARGETS, OLMO_TASKS, load_olmo_ladder_bhagia2024, olmo_task_metrics, olmo_two_step, \
    olmo_two_step_data
from .porian import PORIAN_CONFIG_KEYS, load_porian_compute_optimal
from .pythia import load_pythia_evals
from .registry import DATASETS, DatasetInfo, list_datasets, load_dataset
from .steplaw import load_steplaw_li2025

__all__ = [
    # NIST StRD
    "NIST_PROBLEMS",
    "NistProblem",
    "load_nist_strd",
    "lre",
    "nist_data_dir",
    "nist_problem_names",
    "passes",
    "score_fit",
    # released collections
    "DATASETS",
    "DatasetInfo",
    "list_datasets",
    "load_dataset",
    "load_epoch_chinchilla",
    "besiroglu_excluded",
    "BESIROGLU_N_EXCLUDED",
    "load_hitchhiker_colpret",
    "load_gadre_overtraining",
    "GADRE_SPLITS",
    "load_porian_compute_optimal",
    "PORIAN_CONFIG_KEYS",
    "load_pythia_evals",
    "load_openathena_isoflops",
    "load_steplaw_li2025",
    "load_misfitting_li2025",
    "load_obsscaling_ruan2024",
    "load_laion_clip_mammut",
    "load_olmo_ladder_bhagia2024",
    "OLMO_TASKS",
    "OLMO_TARGETS",
    "olmo_task_metrics",
    "olmo_two_step_data",
    "olmo_two_step",
    "load_humanlike_vits_orhan2023",
    "ORHAN_EXTRAPOLATION",
]
