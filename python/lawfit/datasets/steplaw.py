"""Step Law (Li et al. 2025): learning-rate x batch-size sweeps in (N, D) cells."""

from __future__ import annotations

from typing import Optional

from ._common import PathLike, _read_csv, as_float, columns_first, require, resolve

NAME = "steplaw_li2025"
FILES = {
    "dense": "dense_lr_bs_loss.csv",
    "moe": "moe_lr_bs_loss.csv",
    "fits": "1004_fitted_lr_bs_scaling_model_parameters.csv",
}
_RENAME = {"exp_name": "run", "smooth loss": "smooth_loss", "D/N": "D_per_N",
           "Na/N": "Na_per_N"}


def load_steplaw_li2025(path: Optional[PathLike] = None, table: Optional[str] = None):
    """Load the Step Law learning-rate x batch-size sweeps (Li et al. 2025).

    Li et al., "Predictable Scale: Part I -- Optimal Hyperparameter Scaling Law
    in LLM Pretraining" (arXiv:2503.04715).  Each row is one finished training
    run on a grid of peak learning rate x batch size inside a few (N, D)
    cells; no seeds, no checkpoints.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The ``steplaw_li2025`` folder, a data root holding it, or one of its
        files.  None: ``$LAWFIT_DATA/steplaw_li2025``.
    table : {"dense", "moe", "fits"}, optional
        ``"dense"`` (default, ``dense_lr_bs_loss.csv``: 1,911 runs in 17
        cells), ``"moe"`` (``moe_lr_bs_loss.csv``: 708 runs) or ``"fits"``
        (the authors' 1,000 bootstrap fits of ``lr = exp(lr_intercept)
        N^lr_coefN D^lr_coefD`` and ``bs = exp(bs_intercept) D^bs_coefD``,
        returned as in the file).  Taken from the file name when ``path`` is
        a file.

    Returns
    -------
    pandas.DataFrame
        ``"dense"`` and ``"moe"``:

        - ``run`` : str, experiment name.
        - ``N`` : float64, parameters: non-embedding for dense
          (``numl (4 h^2 + 3 h ffnh)``), total for MoE (``Na``: active).
        - ``D`` : float64, training tokens.
        - ``lr`` : float64, peak learning rate.
        - ``bs`` : int64, batch size in sequences of 2,048 tokens;
          ``batch_tokens`` : float64, tokens per batch.
        - ``loss`` : float64, final training loss, nats/token;
          ``smooth_loss`` : float64, the smoothed final loss the paper fits.
        - architecture (``h``, ``ffnh``, ``numh``, ``numl``; MoE also
          ``nume``, ``topk``, ``moeh``, ...), ``ti`` (total iterations),
          ``D_per_N`` (and ``Na_per_N`` for MoE).

    Examples
    --------
    >>> from lawfit.datasets import load_steplaw_li2025
    >>> df = load_steplaw_li2025()                                      # doctest: +SKIP
    >>> best = df.loc[df.groupby(["N", "D"])["smooth_loss"].idxmin()]   # doctest: +SKIP
    >>> len(best)                                                       # doctest: +SKIP
    17
    """
    f, table = resolve(path, NAME, FILES, table)
    df = _read_csv(f)
    if table == "fits":
        return require(df, ["lr_intercept", "lr_coefN", "lr_coefD", "bs_intercept",
                            "bs_coefD"], f, "the Step Law bootstrap fits")
    require(df, ["exp_name", "N", "D", "lr", "bs", "loss", "smooth loss"], f,
            f"the Step Law {table!r} sweep")
    df = df.rename(columns=_RENAME)
    df = as_float(df, ["N", "Na", "D", "lr", "loss", "smooth_loss"])
    seq_len = df["seq_len"] if "seq_len" in df.columns else 2048
    df["batch_tokens"] = (df["bs"] * seq_len).astype("float64")
    first = ["run", "N", "D", "lr", "bs", "batch_tokens", "loss", "smooth_loss"]
    return columns_first(df, first)
