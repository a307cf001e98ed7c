"""Gadre et al. (2024) over-training runs: 104 open_lm models, final losses."""

from __future__ import annotations

from typing import Optional

from ._common import PathLike, _read_csv, as_float, columns_first, require, resolve

NAME = "gadre_overtraining"
FILES = {"runs": "runs_losses.csv", "downstream": "downstream_long.csv"}

#: The evaluation sets of ``loss_<split>`` in ``runs_losses.csv``.
GADRE_SPLITS = (
    "c4_val", "openlm", "paloma_c4_en", "paloma_falcon-refinedweb", "paloma_redpajama",
    "paloma_ptb", "paloma_dolma_100_programing_languages", "val_de-en_100",
)


def load_gadre_overtraining(
    path: Optional[PathLike] = None, table: Optional[str] = None, split: str = "c4_val"
):
    """Load the over-training runs of Gadre et al. (2024).

    Gadre et al., "Language models scale reliably with over-training and on
    downstream tasks" (arXiv:2403.08540).  104 decoder-only open_lm models
    (11M to 6.9B parameters) trained on C4, RedPajama and RefinedWeb with
    tokens-per-parameter M from 5 to 640; one row per final model (no
    intermediate checkpoints).

    Parameters
    ----------
    path : str or os.PathLike, optional
        The ``gadre_overtraining`` folder, a data root holding it, or one of
        its files.  None: ``$LAWFIT_DATA/gadre_overtraining``.
    table : {"runs", "downstream"}, optional
        ``"runs"`` (default; ``runs_losses.csv``): one row per model.
        ``"downstream"`` (``downstream_long.csv``): one row per (model, task),
        104 x 46.  Taken from the file name when ``path`` is a file.
    split : str, default "c4_val"
        The evaluation set copied into ``loss`` (``"runs"`` only; the paper's
        default "C4 eval"); one of :data:`GADRE_SPLITS`.

    Returns
    -------
    pandas.DataFrame
        Both tables have ``run`` (str, model name), ``dataset`` (str,
        ``c4_original`` / ``rpj`` / ``rw_original``), ``arch`` (str),
        ``N`` (float64, total parameters including embeddings), ``D``
        (float64, training tokens), ``M`` (float64, D/N) and ``C`` (float64,
        6 N D FLOP).

        ``"runs"`` adds ``loss`` (float64, final loss on ``split``,
        nats/token), ``N_no_embed``, the hyper-parameters (``lr``, ``wd``,
        ``warmup``, ``global_bs``, ...) and every ``loss_<split>``,
        ``loss_lower95_<split>``, ``loss_upper95_<split>``,
        ``eval_tokens_<split>`` column of the file.

        ``"downstream"`` adds ``task``, ``accuracy`` (0-1), ``error``
        (1 - accuracy), ``task_category``, ``n_shots``, ``random_baseline_pct``.

    Examples
    --------
    >>> from lawfit.datasets import load_gadre_overtraining
    >>> runs = load_gadre_overtraining()                              # doctest: +SKIP
    >>> runs.groupby("dataset").size().to_dict()                      # doctest: +SKIP
    {'c4_original': 34, 'rpj': 35, 'rw_original': 35}
    """
    f, table = resolve(path, NAME, FILES, table)
    df = _read_csv(f, dtype={"C_6ND": "float64"})
    require(df, ["name", "dataset", "arch", "N", "D", "M_tokens_per_param"], f,
            f"the Gadre et al. {table!r} table")
    df = df.rename(columns={"name": "run", "M_tokens_per_param": "M", "C_6ND": "C"})
    df = as_float(df, ["N", "N_no_embed", "D", "M", "C"])
    if "C" not in df.columns:
        df["C"] = 6.0 * df["N"] * df["D"]
    if table == "runs":
        col = f"loss_{split}"
        if split not in GADRE_SPLITS or col not in df.columns:
            raise ValueError(f"{f}: unknown split {split!r}; choose one of {GADRE_SPLITS}")
        df["loss"] = df[col].astype("float64")
        first = ["run", "dataset", "arch", "N", "D", "M", "C", "loss"]
    else:
        require(df, ["task", "accuracy"], f, "the Gadre et al. downstream table")
        df["error"] = 1.0 - df["accuracy"]
        first = ["run", "dataset", "arch", "N", "D", "M", "C", "task", "accuracy", "error"]
    return columns_first(df, first)
