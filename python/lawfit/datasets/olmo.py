"""The OLMo model ladder of Bhagia et al. (2024) and its two-step task predictions."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ._common import PathLike, _read_parquet, as_float, columns_first, require, resolve

__all__ = ["load_olmo_ladder_bhagia2024", "OLMO_TASKS", "olmo_task_metrics", "olmo_two_step_data",
           "olmo_two_step", "OLMO_TARGETS"]

NAME = "olmo_ladder_bhagia2024"
FILES = {"ladder": "ladder_runs.parquet", "targets": "target_runs.parquet"}

#: MMLU is averaged over its four parts with these weights (the repo's WEIGHT_BY_KEY).
_MMLU = {"mmlu_stem": 0.215, "mmlu_humanities": 0.335, "mmlu_social_sciences": 0.219, "mmlu_other": 0.231}
#: The paper's eight tasks (the repo's ``v2_main`` set): {task: (evaluation keys, chance accuracy)}.
OLMO_TASKS = {
    "mmlu_avg_test_5shot": (tuple(f"{k}_test" for k in _MMLU), 0.25),
    "hellaswag_val_5shot": (("hellaswag_val",), 0.25),
    "arc_challenge_test_5shot": (("arc_challenge_test",), 0.25),
    "arc_easy_test_5shot": (("arc_easy_test",), 0.25),
    "piqa_val_5shot": (("piqa_val",), 0.5),
    "csqa_val_5shot": (("csqa_val",), 0.2),
    "socialiqa_val_5shot": (("socialiqa_val",), 1 / 3),
    "openbookqa_test_5shot": (("openbookqa_test",), 0.25),
}
#: The extrapolation targets: parameters and tokens the authors predict at (scripts/predict.py).
OLMO_TARGETS = {"7B-4T": (6887575552.0, 3945065873408.0, "peteish7"),
                "13B-5T": (13202396160.0, 5000088518656.0, "peteish13")}


def load_olmo_ladder_bhagia2024(path: Optional[PathLike] = None, table: Optional[str] = None,
                                final_config: Optional[bool] = None):
    """Load the OLMo model ladder (Bhagia et al. 2024, arXiv:2412.04403).

    Decoder LMs of 5 sizes (190M-3.2B) trained to 0.5-10x the Chinchilla budget,
    with evaluations at intermediate checkpoints (11 validation losses, 10 tasks as
    bits-per-byte and accuracy), and the OLMo-2 7B and 13B runs they extrapolate to.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The ``olmo_ladder_bhagia2024`` folder, a data root holding it, or one of
        its files.  None: ``$LAWFIT_DATA/olmo_ladder_bhagia2024``.
    table : {"ladder", "targets"}, optional
        The ladder runs (default) or the 7B/13B target runs.
    final_config : bool, optional
        True: only the rows of the paper's fit configuration (``raw/final.json``:
        the 16 ladder runs 190M-1.3B x 1/2/5/10 xC, the 7B anneal row, the final
        13B evaluations); False: only the others.

    Returns
    -------
    pandas.DataFrame
        One row per evaluated checkpoint, sorted by ``run`` and ``step``, with
        ``run``, ``size``, ``N`` (the repo's parameter counts), ``D`` (tokens
        seen), ``C`` (FLOP: tokens x the repo's FLOP per token), ``step``,
        ``chinchilla_multiple`` and ``is_rerun`` (ladder), ``in_paper_final_config``,
        and every original metric column (``eval/...``).

    Examples
    --------
    >>> from lawfit.datasets import load_olmo_ladder_bhagia2024
    >>> lad = load_olmo_ladder_bhagia2024(final_config=True)        # doctest: +SKIP
    >>> lad["run"].nunique()                                        # doctest: +SKIP
    16
    """
    f, table = resolve(path, NAME, FILES, table)
    df = _read_parquet(f)
    require(df, ["run", "size", "N", "tokens", "C", "_step", "in_paper_final_config"], f, "an OLMo ladder table")
    df = df.rename(columns={"tokens": "D", "_step": "step"})
    df = as_float(df, ["N", "D", "C"])
    if final_config is not None:
        df = df[df["in_paper_final_config"].astype(bool) == bool(final_config)]
    df = df.sort_values(["run", "step"], kind="stable", na_position="last").reset_index(drop=True)
    first = ["run", "size", "N", "D", "C", "step", "chinchilla_multiple", "is_rerun", "in_paper_final_config"]
    return columns_first(df, first)


def olmo_task_metrics(df, task: str):
    """The task's loss (bits per byte of the correct answer) and accuracy per row: ``(bpb, acc)``.

    MMLU averages its four parts with the repo's weights; the accuracy is the
    length-normalised ranked-classification accuracy (5-shot), as the paper uses.
    """
    if task not in OLMO_TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {list(OLMO_TASKS)}")
    parts, _ = OLMO_TASKS[task]
    w = np.array([_MMLU.get(p.rsplit("_", 1)[0], 1.0) for p in parts])
    bpb = np.column_stack([df[f"eval/downstream_bpb/{p}_rc_5shot_bpb"].to_numpy(float) for p in parts])
    acc = np.column_stack([df[f"eval/downstream/{p}_rc_5shot_len_norm"].to_numpy(float) for p in parts])
    return bpb @ w / w.sum(), acc @ w / w.sum()


def _moving_average(a: np.ndarray, n: int) -> np.ndarray:
    """The repo's moving average: the mean of the last n values (of all so far for the first n - 1)."""
    c = np.cumsum(a, dtype=float)
    if len(c) < n:
        return c / np.arange(1, len(c) + 1)
    c[n:] = c[n:] - c[:-n]
    return np.concatenate([c[: n - 1] / np.arange(1, n), c[n - 1:] / n])


def olmo_two_step_data(ladder, targets, task: str, *, target: str = "13B-5T", moving_avg: int = 5,
                       skip: float = 0.1):
    """The two tables of the paper's two-step fit and the target's actual accuracy.

    As the authors' ``scripts/predict.py`` builds them: step 1, one row per ladder run
    of the paper's configuration, x = (N, D of its last evaluation), y = the mean task
    loss of its last ``moving_avg`` evaluations; step 2, every checkpoint of those runs
    after the first ``skip`` share, task loss and accuracy each smoothed by the moving
    average, plus the 'ideal' point (loss 0, accuracy 1) the authors add (column
    ``ideal``).  The actual value is the smoothed accuracy of the target run's last
    evaluation.

    Returns
    -------
    step1 : DataFrame (run, N, D, bpb); step2 : DataFrame (run, bpb, acc, ideal); actual : float
    """
    import pandas as pd

    train = ladder[ladder["in_paper_final_config"].astype(bool) & ~ladder["is_rerun"].astype(bool)]
    rows1, rows2 = [], []
    for run, g in train.groupby("run", sort=True):
        g = g.sort_values("step")
        bpb, acc = olmo_task_metrics(g, task)
        rows1.append({"run": run, "N": float(g["N"].iloc[0]), "D": float(g["D"].iloc[-1]),
                      "bpb": float(np.mean(bpb[-moving_avg:]))})
        k = int(np.ceil(skip * len(bpb)))
        rows2.append(pd.DataFrame({"run": run, "bpb": _moving_average(bpb[k:], moving_avg),
                                   "acc": _moving_average(acc[k:], moving_avg), "ideal": False}))
    rows2.append(pd.DataFrame({"run": ["ideal"], "bpb": [0.0], "acc": [1.0], "ideal": [True]}))
    name = OLMO_TARGETS[target][2]
    t = targets[(targets["run"] == name) & targets["in_paper_final_config"].astype(bool)].sort_values("step")
    actual = float(_moving_average(olmo_task_metrics(t, task)[1], moving_avg)[-1])
    return pd.DataFrame(rows1), pd.concat(rows2, ignore_index=True), actual


def olmo_two_step(task: str, path: Optional[PathLike] = None, *, target: str = "13B-5T", bootstrap: int = 0,
                  seed: int = 0, level: float = 0.9):
    """The paper's two-step prediction of one task at a target, as a chained fit.

    Step 1: L(N, D) = E + exp(a - alpha log N) + exp(b - beta log D), a, b >= 0, by a
    Huber loss (delta = 1e-3) on log residuals from the authors' start (a, b, alpha,
    beta, E) = (3, 6, 0.1, 0.2, 1).  Step 2: acc(L) = a / (1 + exp(-k (L - x0))) + b with
    a in [-1, 0], x0 >= 0, k >= 0, b in [0, 1], least squares from (chance - 1, 0.9, 3,
    1) (the authors' ``fit_step2``).  The chain predicts the target's task loss and
    accuracy; with ``bootstrap`` the ladder runs are resampled whole through both steps
    (the ideal point is kept in every resample).

    Returns
    -------
    (ChainFit, dict)
        The chain and a row: ``task``, ``predicted_loss``, ``predicted``, ``low``,
        ``high`` (bootstrap, at ``level``), ``actual``.
    """
    from ..catalog import Law
    from ..methods.chain import Stage, fit_chain

    ladder = load_olmo_ladder_bhagia2024(path, table="ladder")
    targets = load_olmo_ladder_bhagia2024(path, table="targets")
    step1, step2, actual = olmo_two_step_data(ladder, targets, task, target=target)
    chance = OLMO_TASKS[task][1]
    inf = np.inf
    loss_law = Law("E + exp(a - alpha*log(N)) + exp(b - beta*log(D))", inputs=["N", "D"],
                   params=["a", "b", "alpha", "beta", "E"], name="step1",
                   bounds={"a": (0, inf), "b": (0, inf), "alpha": (0, inf), "beta": (0, inf), "E": (0, inf)})
    acc_law = Law("a/(1 + exp(-k*(L - x0))) + b", inputs=["L"], params=["a", "x0", "k", "b"], name="step2",
                  bounds={"a": (-1, 0), "x0": (0, inf), "k": (0, inf), "b": (0, 1)})
    stages = [Stage(loss_law, ["N", "D"], "bpb", data=step1, loss="huber", delta=1e-3, residual="log",
                    starts={"a": [3.0], "b": [6.0], "alpha": [0.1], "beta": [0.2], "E": [1.0]}),
              Stage(acc_law, ["bpb"], "acc", data=step2, feed={"L": 0}, loss="l2", residual="linear",
                    starts={"a": [chance - 1.0], "x0": [0.9], "k": [3.0], "b": [1.0]}, always="ideal")]
    chain = fit_chain(stages, bootstrap=bootstrap, bootstrap_by="run", seed=seed, level=level)
    N, D, _ = OLMO_TARGETS[target]
    pred = chain.predict(N=N, D=D)
    row = {"task": task, "predicted_loss": float(pred["step1"][0]), "predicted": float(pred["step2"][0]),
           "actual": actual}
    if bootstrap:
        row.update(low=float(pred["step2_low"][0]), high=float(pred["step2_high"][0]))
    return chain, row
