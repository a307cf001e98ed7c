"""Finding the released data sets the benchmarks read (never shipped with lawfit).

The data root is, in order: ``--data DIR``, ``$LAWFIT_DATA``, and
``../shared/data`` beside a source checkout.  Loaders of
``lawfit.datasets`` are used when they exist; otherwise the files are read
directly with pandas, so the suite does not depend on loader versions.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np


def repo_root() -> Optional[Path]:
    """The source checkout holding this package (python/lawfit/bench/ -> root), if any."""
    here = Path(__file__).resolve()
    root = here.parents[3] if len(here.parents) > 3 else None
    if root is not None and (root / "python" / "lawfit").is_dir():
        return root
    return None


def find_data_dir(explicit: Optional[str] = None) -> Optional[str]:
    candidates = []
    if explicit:
        candidates.append(Path(explicit).expanduser())
    if os.environ.get("LAWFIT_DATA"):
        candidates.append(Path(os.environ["LAWFIT_DATA"]).expanduser())
    root = repo_root()
    if root is not None:
        candidates.append(root.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return str(c)
    return None


def dataset_dir(data_dir: Optional[str], name: str) -> Optional[Path]:
    if not data_dir:
        return None
    d = Path(data_dir) / name
    return d if d.is_dir() else None


# ----------------------------------------------------------------------------- Epoch Chinchilla

#: Besiroglu et al. (2024, arXiv:2404.10102): their Approach-3 estimates on these data
#: (as quoted in the data set's SOURCE.md).
BESIROGLU = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}


def load_epoch_chinchilla(data_dir: Optional[str]):
    """(N, D, loss, source) of the 240 runs Besiroglu et al. fit, or None when absent."""
    folder = dataset_dir(data_dir, "epoch_chinchilla")
    if folder is None:
        return None
    from ..datasets.chinchilla import load_epoch_chinchilla as loader

    try:
        df = loader(folder, replication=True)
    except FileNotFoundError:
        return None
    return (df["N"].to_numpy(float), df["D"].to_numpy(float), df["loss"].to_numpy(float),
            "lawfit.datasets.chinchilla")


def synthetic_chinchilla(seed: int = 0, n: int = 240):
    """Stand-in for the Epoch data: Besiroglu et al.'s law, IsoFLOP-like N and D, 2% noise."""
    rng = np.random.default_rng(seed)
    C = 10 ** rng.choice(np.linspace(18, 22, 9), n)
    N = 10 ** rng.uniform(7.7, 10.2, n)
    D = C / (6 * N)
    p = BESIROGLU
    loss = (p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]) * np.exp(0.02 * rng.standard_normal(n))
    return N, D, loss, "synthetic (Besiroglu et al. law, 2% noise)"


# ----------------------------------------------------------------------------- ColPret

COLPRET_COLUMNS = ["model_name", "scaled_set", "metric", "value", "tokens_seen", "num_params_numeric"]


def load_colpret_long(data_dir: Optional[str]):
    """The long ColPret table (one row per model, checkpoint, metric) and its source, or None."""
    folder = dataset_dir(data_dir, "hitchhiker_colpret")
    if folder is None:
        return None
    path = folder / "colpret_long_losscols.parquet"
    if not path.is_file():
        return None
    import pyarrow.parquet as pq

    df = pq.read_table(path, columns=COLPRET_COLUMNS).to_pandas(ignore_metadata=True)
    return df, "colpret_long_losscols.parquet (pyarrow)"
