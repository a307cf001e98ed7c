"""Chinchilla (Hoffmann et al. 2022, Fig. 4) final losses as extracted by Epoch AI."""

from __future__ import annotations

from typing import Optional

from ._common import PathLike, _read_csv, as_float, require, resolve

NAME = "epoch_chinchilla"
FILES = {"svg": "svg_extracted_data.csv", "tidy": "chinchilla_epoch_tidy.csv"}

#: Besiroglu et al. (2024) drop this many highest-loss runs before fitting.
BESIROGLU_N_EXCLUDED = 5


def besiroglu_excluded(loss, n_excluded: int = BESIROGLU_N_EXCLUDED):
    """Boolean mask of the runs Epoch's replication leaves out.

    Epoch's ``data_analysis.ipynb`` keeps index ``i`` when
    ``losses[i] < sorted(losses)[-n_excluded]``: a run is excluded when its
    loss is at least the ``n_excluded``-th largest (ties at that value are all
    excluded).  On the released file this drops 5 of 245 runs, leaving 240.
    """
    import numpy as np

    loss = np.asarray(loss, dtype=np.float64)
    if n_excluded <= 0:
        return np.zeros(loss.shape, dtype=bool)
    threshold = np.sort(loss)[-n_excluded]
    return ~(loss < threshold)


def load_epoch_chinchilla(path: Optional[PathLike] = None, replication: bool = False):
    """Load the 245 Chinchilla training runs digitised by Epoch AI.

    Besiroglu, Erdil, Barnett, You, "Chinchilla Scaling: A replication attempt"
    (arXiv:2404.10102) read every marker of Hoffmann et al. (2022) Fig. 4 from
    the SVG: position gives model size and compute, colour gives the loss.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The ``epoch_chinchilla`` folder, a data root holding it, or one of its
        files (``svg_extracted_data.csv``, the original, read by default; or
        ``chinchilla_epoch_tidy.csv``).  None: ``$LAWFIT_DATA/epoch_chinchilla``.
    replication : bool, default False
        Keep only the 240 runs Besiroglu et al. fit: drop every run whose loss
        is at least the 5th largest (Epoch's ``nr_of_models_excluded = 5``;
        see :func:`besiroglu_excluded`).

    Returns
    -------
    pandas.DataFrame
        One row per training run (final loss), in file order:

        - ``N`` : float64, model parameters (total, embeddings included).
        - ``D`` : float64, training tokens, ``C / (6 N)`` as in Epoch's notebook
          (the tokens were not recorded).
        - ``C`` : float64, training compute, FLOP.
        - ``loss`` : float64, final training loss on MassiveText, nats/token.
        - ``besiroglu_excluded`` : bool, True for the 5 runs the replication drops.

    Raises
    ------
    FileNotFoundError
        The path (or ``$LAWFIT_DATA``) does not lead to the files.
    ValueError
        The file has neither the original nor the tidy columns.

    Examples
    --------
    >>> from lawfit.datasets import load_epoch_chinchilla
    >>> df = load_epoch_chinchilla(replication=True)   # doctest: +SKIP
    >>> len(df), list(df.columns)                      # doctest: +SKIP
    (240, ['N', 'D', 'C', 'loss', 'besiroglu_excluded'])
    """
    f, _ = resolve(path, NAME, FILES)
    raw = _read_csv(f)
    if {"Model Size", "Training FLOP", "loss"} <= set(raw.columns):
        df = raw.rename(columns={"Model Size": "N", "Training FLOP": "C"})
        df = df[["N", "C", "loss"]].copy()
        df = as_float(df, ["N", "C", "loss"])
        df["D"] = df["C"] / (6.0 * df["N"])
    else:
        df = require(raw, ["N", "D", "C", "loss"], f, "the Epoch Chinchilla data")
        df = as_float(df[["N", "D", "C", "loss"]].copy(), ["N", "D", "C", "loss"])
    df = df[["N", "D", "C", "loss"]].copy()
    df["besiroglu_excluded"] = besiroglu_excluded(df["loss"].to_numpy())
    if replication:
        df = df[~df["besiroglu_excluded"]].reset_index(drop=True)
    return df
