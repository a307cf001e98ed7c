"""Ruan, Maddison, Hashimoto (2024) observational-scaling benchmark tables."""

from __future__ import annotations

from typing import Optional

from ._common import PathLike, _read_csv, as_float, require, resolve

NAME = "obsscaling_ruan2024"
FILES = {
    "base": "base_llm_benchmark_eval.csv",
    "base_sub_10b": "base_llm_benchmark_eval_sub_10b.csv",
    "emergent": "base_llm_emergent_capability_eval.csv",
    "leaderboard_v2": "base_llm_leaderboard_v2_eval.csv",
    "post_training": "base_llm_post_training_eval.csv",
    "instruct": "instruct_llm_benchmark_eval.csv",
    "instruct_agent": "instruct_llm_agent_eval.csv",
}
# (source column, name, unit) of the per-model metadata
_META = [("Model Family", "family", 1.0), ("Model Size (B)", "N", 1e9),
         ("Pretraining Data Size (T)", "D", 1e12), ("FLOPs (1E21)", "C", 1e21)]
# tables without metadata take it from this sibling table, joined on Model
_META_FROM = {"emergent": "base", "leaderboard_v2": "base", "post_training": "base",
              "instruct_agent": "instruct"}


def _metadata(df, path):
    require(df, ["Model"] + [m[0] for m in _META], path, "an ObsScaling table with metadata")
    out = df[["Model"] + [m[0] for m in _META]].rename(
        columns={"Model": "model", **{src: name for src, name, _ in _META}}).copy()
    out = as_float(out, ["N", "D", "C"])
    for _, name, unit in _META[1:]:
        out[name] = out[name] * unit
    return out


def load_obsscaling_ruan2024(
    path: Optional[PathLike] = None, table: Optional[str] = None, wide: bool = False
):
    """Load the observational-scaling benchmark tables of Ruan et al. (2024).

    Ruan, Maddison, Hashimoto, "Observational Scaling Laws and the
    Predictability of Language Model Performance" (arXiv:2405.10938): scores
    of ~100 public LLMs from 47 families, one row per model; no losses, no
    checkpoints.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The ``obsscaling_ruan2024`` folder, a data root holding it, or one of
        its CSV files.  None: ``$LAWFIT_DATA/obsscaling_ruan2024``.
    table : str, optional
        ``"base"`` (default, ``base_llm_benchmark_eval.csv``, 148 models x 8
        benchmarks), ``"base_sub_10b"``, ``"emergent"``, ``"leaderboard_v2"``,
        ``"post_training"``, ``"instruct"`` or ``"instruct_agent"``.  Tables
        without model metadata get it from ``base`` (``instruct`` for
        ``instruct_agent``) in the same folder, joined on the model name.
        Taken from the file name when ``path`` is a file.
    wide : bool, default False
        Return one row per model with one column per benchmark (the file's
        layout) instead of one row per (model, benchmark).

    Returns
    -------
    pandas.DataFrame
        - ``model`` : str, Hugging Face model id.
        - ``family`` : str, model family (e.g. ``Llama-2``).
        - ``N`` : float64, parameters (developer-reported total), from
          ``Model Size (B)`` x 1e9.
        - ``D`` : float64, pretraining tokens, ``Pretraining Data Size (T)``
          x 1e12; NaN where unknown (25 of 148 base models).
        - ``C`` : float64, FLOP, ``FLOPs (1E21)`` x 1e21 (= 6 N D); NaN
          where D is.
        - ``benchmark`` : str and ``score`` : float64 (accuracy or exact
          match in 0-1; Arena-Elo / MT-Bench on their own scales).  Rows with
          no score are left out.  With ``wide=True`` these two are replaced by
          one column per benchmark, NaN where missing.

    Examples
    --------
    >>> from lawfit.datasets import load_obsscaling_ruan2024
    >>> df = load_obsscaling_ruan2024()                                 # doctest: +SKIP
    >>> row = df[(df.model == "meta-llama/Llama-2-7b-hf")
    ...          & (df.benchmark == "MMLU")]                            # doctest: +SKIP
    >>> row[["N", "D", "C", "score"]].iloc[0].tolist()                  # doctest: +SKIP
    [7000000000.0, 2000000000000.0, 8.4e+22, 0.4379609636092418]
    """
    f, table = resolve(path, NAME, FILES, table)
    df = require(_read_csv(f), ["Model"], f, "an ObsScaling table")
    if table in _META_FROM and "Model Family" not in df.columns:
        sibling = f.parent / FILES[_META_FROM[table]]
        if not sibling.is_file():
            raise FileNotFoundError(f"{f}: model metadata come from {sibling}, which is missing")
        meta = _metadata(_read_csv(sibling), sibling)
    else:
        meta = _metadata(df, f)
    scores = df.drop(columns=[m[0] for m in _META if m[0] in df.columns])
    scores = scores.rename(columns={"Model": "model"})
    benchmarks = [c for c in scores.columns if c != "model"]
    scores = as_float(scores, benchmarks)
    if wide:
        return meta.merge(scores, on="model", how="right")[list(meta.columns) + benchmarks]
    long = scores.melt(id_vars="model", var_name="benchmark", value_name="score")
    long = long.dropna(subset=["score"])
    out = meta.merge(long, on="model", how="right")
    order = {m: i for i, m in enumerate(scores["model"])}
    bench = {b: i for i, b in enumerate(benchmarks)}
    key = out["model"].map(order) * len(bench) + out["benchmark"].map(bench)
    return out.iloc[key.argsort(kind="stable").to_numpy()].reset_index(drop=True)
