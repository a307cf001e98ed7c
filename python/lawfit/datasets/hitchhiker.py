"""The ColPret collection of "A Hitchhiker's Guide to Scaling Law Estimation"."""

from __future__ import annotations

from typing import Optional, Sequence, Union

from ._common import PathLike, _read_parquet, as_float, require, resolve

NAME = "hitchhiker_colpret"
FILES = {"long": "colpret_long_losscols.parquet"}

_RENAME = {
    "model_name": "run",
    "model_type": "family",
    "original_paper": "paper",
    "tokens_seen": "D",
    "flops_6ND": "C",
    "flops": "C_reported",
    "num_params": "N_reported",
}
_COLUMNS = [
    "run", "family", "scaled_set", "paper", "data", "arch", "seed", "epochs",
    "N", "N_reported", "D", "C", "C_reported", "checkpoint", "source_loader",
    "metric", "value",
]


def load_hitchhiker_colpret(
    path: Optional[PathLike] = None, metric: Union[str, Sequence[str], None] = None
):
    """Load ColPret (Choshen, Zhang, Andreas 2024, arXiv:2410.11840) in long form.

    One row per (run, checkpoint, metric) for the metrics the authors fit
    (their ``loss_cols``).  Rows are intermediate checkpoints, not only final
    losses.  The released snapshot lacks several of the paper's sources
    (Pythia, Amber, Gadre curves, MAD): 386 runs instead of 485.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The ``hitchhiker_colpret`` folder, a data root holding it, or
        ``colpret_long_losscols.parquet``.  None: ``$LAWFIT_DATA/hitchhiker_colpret``.
    metric : str or sequence of str, optional
        Keep only these metrics (e.g. ``"loss"``, ``"val_loss"``,
        ``"pile/CrossEntropyLoss"``).

    Returns
    -------
    pandas.DataFrame
        - ``run`` : str, model name (ColPret ``model_name``).
        - ``family`` : str, model family (``model_type``: GPT2 = datablations,
          olmo, gpt3, Gopher = Chinchilla, ...).
        - ``scaled_set`` : str or NaN, the models meant to be fitted together.
        - ``paper`` : str, the source (``original_paper``).
        - ``data``, ``arch`` (dec / enc-dec / ssm / NaN) : str.
        - ``seed`` : int64; ``epochs`` : float64, passes over the unique data.
        - ``N`` : float64, total parameters as each source reports them (some
          rounded); NaN where the source gives none (Revisiting, 483 rows).
        - ``N_reported`` : str, the source's own parameter field.
        - ``D`` : float64, tokens seen at the checkpoint.
        - ``C`` : float64, FLOP, 6 N D (NaN where N is).
        - ``C_reported`` : float64, the source's FLOP (wrong for datablations,
          log10 for OPT; prefer ``C``).
        - ``checkpoint``, ``source_loader`` : str or NaN, provenance.
        - ``metric`` : str; ``value`` : float64, that metric's value (loss in
          nats/token, perplexity or accuracy, depending on ``metric``).

    Examples
    --------
    >>> from lawfit.datasets import load_hitchhiker_colpret
    >>> df = load_hitchhiker_colpret(metric="loss")         # doctest: +SKIP
    >>> df[df.family == "Gopher"]["run"].nunique()             # doctest: +SKIP
    43
    """
    f, _ = resolve(path, NAME, FILES)
    df = _read_parquet(f)
    need = ["model_name", "model_type", "tokens_seen", "num_params_numeric", "flops_6ND",
            "metric", "value"]
    require(df, need, f, "the ColPret long table")
    if metric is not None:
        keep = [metric] if isinstance(metric, str) else list(metric)
        df = df[df["metric"].isin(keep)]
    df = df.rename(columns=_RENAME).reset_index(drop=True)
    df["N"] = df.pop("num_params_numeric")
    df = as_float(df, ["N", "D", "C", "C_reported", "epochs", "value"])
    df.loc[df["N"] <= 0, ["N", "C"]] = float("nan")
    if "seed" in df.columns:
        df["seed"] = df["seed"].astype("int64")
    return df[[c for c in _COLUMNS if c in df.columns]]
