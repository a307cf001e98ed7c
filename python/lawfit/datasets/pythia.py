"""Pythia (Biderman et al. 2023) evaluations across training checkpoints."""

from __future__ import annotations

from typing import Optional

from ._common import (
    PathLike,
    _read_csv,
    _read_parquet,
    as_float,
    columns_first,
    require,
    resolve,
)

NAME = "pythia_evals"
FILES = {"core": "pythia_v1_evals_core.csv", "long": "pythia_v1_evals_long.parquet"}


def load_pythia_evals(path: Optional[PathLike] = None, table: Optional[str] = None):
    """Load the Pythia v1 LM-evaluation-harness results at many checkpoints.

    Biderman et al., "Pythia: A Suite for Analyzing Large Language Models
    Across Training and Scaling" (arXiv:2304.01373).  8 sizes (70M-12B),
    standard and deduplicated Pile, 27 zero-shot and 15 five-shot
    checkpoints, plus batch-size ablations and ``pythia-1b-bf16``.  There is
    no Pile validation loss; the loss-like target is LAMBADA's ``loss``.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The ``pythia_evals`` folder, a data root holding it, or one of its
        files.  None: ``$LAWFIT_DATA/pythia_evals``.
    table : {"core", "long"}, optional
        ``"core"`` (default, ``pythia_v1_evals_core.csv``): 9 tasks, MMLU as
        one ``mmlu_avg_of_subjects`` row per checkpoint.  ``"long"``
        (``pythia_v1_evals_long.parquet``, needs pyarrow): every task,
        MMLU subjects and CrowS-Pairs included.

    Returns
    -------
    pandas.DataFrame
        One row per (run, checkpoint, num_fewshot, task):

        - ``run`` : str, model directory (e.g. ``pythia-1.4b-deduped``).
        - ``size``, ``variant`` (standard / deduped / bf16 / ``*MtokBS``) : str;
          ``deduped`` : bool.
        - ``N`` : float64, total parameters with both (untied) embeddings.
        - ``N_nonembedding`` : float64.
        - ``step`` : int64, optimizer step of the checkpoint.
        - ``D`` : float64, tokens seen, ``step * tokens_per_step``
          (2,097,152 for standard runs).
        - ``C`` : float64, 6 N D FLOP.
        - ``num_fewshot`` (0 or 5) : int64; ``task`` : str.
        - ``acc``, ``acc_norm`` (0-1), ``ppl`` (LAMBADA perplexity) and their
          ``*_stderr`` : float64, NaN where a task has no such metric.
        - ``loss`` : float64, ``log(ppl)``: LAMBADA target-word
          cross-entropy in nats, NaN for other tasks.
        - the source's remaining columns (``tokens_per_step``,
          ``hf_model_in_config``, ``n_subjects``, ...).

    Examples
    --------
    >>> from lawfit.datasets import load_pythia_evals
    >>> df = load_pythia_evals()                                          # doctest: +SKIP
    >>> lam = df[(df.task == "lambada_openai") & (df.num_fewshot == 0)]   # doctest: +SKIP
    >>> float(lam[lam.run == "pythia-70m"].sort_values("step")["ppl"].iloc[-1])  # doctest: +SKIP
    142.42891
    """
    import numpy as np

    f, table = resolve(path, NAME, FILES, table)
    df = _read_parquet(f) if f.suffix == ".parquet" else _read_csv(f)
    require(df, ["model_dir", "N_total", "N_nonembedding", "step", "tokens", "task"], f,
            "the Pythia evaluation table")
    df = df.rename(columns={"model_dir": "run", "N_total": "N", "tokens": "D"})
    df = df.drop(columns=[c for c in ("step_in_config",) if c in df.columns])
    df = as_float(df, ["N", "N_nonembedding", "D"])
    df["step"] = df["step"].astype("int64")
    df["C"] = 6.0 * df["N"] * df["D"]
    if "ppl" in df.columns:
        df["loss"] = np.log(df["ppl"].astype("float64"))
    first = ["run", "size", "variant", "deduped", "N", "N_nonembedding", "step", "D", "C",
             "num_fewshot", "task"]
    first = [c for c in first if c in df.columns]
    return columns_first(df, first)
