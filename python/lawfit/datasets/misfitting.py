"""Li, Kudugunta, Zettlemoyer (2025) "(Mis)Fitting" open_lm sweeps with checkpoints."""

from __future__ import annotations

from typing import Optional

from ._common import PathLike, _read_csv, as_float, columns_first, require, resolve

NAME = "misfitting_li2025"
FILES = {"checkpoints": "scaling_results.csv", "final": "scaling_results_last_ckpt_only.csv"}
_FLOPS = ["C", "C_no_emb", "C_6ND", "C_6ND_no_emb"]
_RUN_KEYS = ["sweep", "model", "peak_lr", "total_steps", "total_epochs"]


def load_misfitting_li2025(path: Optional[PathLike] = None, final_only: bool = False):
    """Load the open_lm checkpoint sweeps of Li et al. (2025).

    Li, Kudugunta, Zettlemoyer, "(Mis)Fitting: A Survey of Scaling Laws"
    (arXiv:2502.18969): 11 model sizes (12M-1B) on C4/FineWeb, several peak
    learning rates, one row per evaluated checkpoint.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The ``misfitting_li2025`` folder, a data root holding it, or one of
        ``scaling_results.csv`` (all checkpoints, read by default) and
        ``scaling_results_last_ckpt_only.csv`` (final checkpoints only).
        None: ``$LAWFIT_DATA/misfitting_li2025``.  The spreadsheet exports
        (``dense.csv``, ``data.csv``, ``gshard.csv``, ``spm.csv``) are not read.
    final_only : bool, default False
        Keep the final checkpoint of each run (``portion_steps_elapsed == 1``):
        the 261 rows of ``scaling_results_last_ckpt_only.csv``.

    Returns
    -------
    pandas.DataFrame
        - ``run`` : int64, derived: runs of consecutive rows in the file with
          the same sweep, model, peak_lr, total_steps and total_epochs and
          increasing step (263 runs; 261 end at portion 1.0, 2 at 1.024).
        - ``model`` : str (``misfitting_12m`` ... ``misfitting_1b``);
          ``sweep`` : str; ``peak_lr`` : float64.
        - ``N`` : float64, total parameters with embeddings; ``N_no_emb`` :
          float64, non-embedding.
        - ``D`` : float64, tokens seen at this checkpoint.
        - ``C``, ``C_no_emb`` : float64, the authors' compute estimates, FLOP;
          ``C_6ND``, ``C_6ND_no_emb`` : float64, 6 N D.
        - ``loss`` : float64, C4 validation loss, nats/token.
        - ``step`` : int64 (``current_steps``), ``total_steps`` : int64,
          ``portion_steps_elapsed`` : float64 (1.0 at the end of a run),
          ``epoch`` (``current_epoch``), ``total_epochs`` : int64.

    Examples
    --------
    >>> from lawfit.datasets import load_misfitting_li2025
    >>> final = load_misfitting_li2025(final_only=True)     # doctest: +SKIP
    >>> len(final), final["model"].nunique()                 # doctest: +SKIP
    (261, 11)
    """
    f, _ = resolve(path, NAME, FILES)
    df = _read_csv(f, dtype={c: "float64" for c in _FLOPS})
    require(df, ["loss", "N", "N_no_emb", "D", "model", "current_steps", "total_steps",
                 "portion_steps_elapsed"] + _RUN_KEYS, f, "a (Mis)Fitting scaling_results table")
    df = df.drop(columns=[c for c in ("C4 Eval Loss", "train_tokens") if c in df.columns])
    df = df.rename(columns={"current_steps": "step", "current_epoch": "epoch"})
    df = as_float(df, ["N", "N_no_emb", "D", "loss", "peak_lr"] + _FLOPS)
    new_run = (df[_RUN_KEYS] != df[_RUN_KEYS].shift()).any(axis=1) | (df["step"].diff() <= 0)
    df.insert(0, "run", new_run.cumsum().astype("int64") - 1)
    if final_only:
        df = df[df["portion_steps_elapsed"] == 1.0].reset_index(drop=True)
    first = ["run", "model", "sweep", "peak_lr", "N", "N_no_emb", "D"] + _FLOPS + ["loss", "step"]
    first = [c for c in first if c in df.columns]
    return columns_first(df, first)
