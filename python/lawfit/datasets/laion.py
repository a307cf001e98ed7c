"""LAION CLIP / MaMMUT runs (Nezhurina et al. 2025): the ADE20K subset."""

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

NAME = "laion_clip_mammut"
FILES = {"segmentation": "segmentation_results.parquet", "profile": "model_profile.csv"}

_SEG = {  # source column -> output column
    "name": "run", "namespace": "family", "model": "model", "model_simple": "model_simple",
    "pretrain_dataset": "pretrain_dataset", "samples_seen": "D", "steps": "step",
    "epoch": "epoch", "total_epochs": "total_epochs",
    "samples_seen_scale_pretty": "samples_seen_scale_pretty", "lr": "lr",
    "warmup": "warmup", "global_batch_size": "global_batch_size",
    "lr_scheduler": "lr_scheduler", "gpus": "gpus", "gpu_hours": "gpu_hours",
    "train_contrastive_loss": "loss", "train_caption_loss": "caption_loss",
    "miou": "miou", "acc1": "acc1", "acc5": "acc5",
}


def load_laion_clip_mammut(path: Optional[PathLike] = None, table: Optional[str] = None):
    """Load the released CLIP / MaMMUT runs of Nezhurina et al. (2025).

    Nezhurina et al., "Scaling Laws for Robust Comparison of Open Foundation
    Language-Vision Models and Datasets" (arXiv:2506.04598).  Vision-language
    models (CLIP: contrastive; MaMMUT: contrastive + captioning) trained on
    DataComp-1B; scale is model size and image-text samples seen, not tokens.
    Only the ADE20K segmentation subset is released here (the main
    ``all_results.csv.gz`` is not): one row per training run, evaluated at
    its final epoch.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The ``laion_clip_mammut`` folder, a data root holding it, or one of
        its files.  None: ``$LAWFIT_DATA/laion_clip_mammut``.
    table : {"segmentation", "profile"}, optional
        ``"segmentation"`` (default, ``segmentation_results.parquet``, needs
        pyarrow): 1,431 runs.  ``"profile"`` (``model_profile.csv``): the 56
        architectures.  Taken from the file name when ``path`` is a file.

    Returns
    -------
    pandas.DataFrame
        ``"segmentation"``:

        - ``run`` : str, run name (unique); ``family`` : str, ``clip`` or
          ``mammut`` (``namespace``); ``model``, ``model_simple``,
          ``pretrain_dataset`` : str.
        - ``N`` : float64, parameters (``model_mparams`` x 1e6); ``N_image``,
          ``N_text`` : float64, of the two towers.
        - ``D`` : float64, image-text samples seen.
        - ``C`` : float64, FLOP, ``gflops`` x 1e9 = forward FLOP per sample x
          samples (the source's convention: no factor 3 for the backward pass).
        - ``flops_per_sample`` : float64, forward FLOP per sample.
        - ``loss`` : float64, final training contrastive loss;
          ``caption_loss`` : float64, MaMMUT only (NaN for CLIP).
        - ``miou`` (ADE20K mean IoU), ``acc1``, ``acc5`` (ImageNet zero-shot):
          float64 in 0-1.
        - ``step`` : int64, ``epoch``, ``total_epochs``, ``lr``, ``warmup``,
          ``global_batch_size``, ``lr_scheduler``, ``gpus``, ``gpu_hours``,
          ``samples_seen_scale_pretty`` (the planned budget, e.g. ``1.28B``).

        ``"profile"``: ``model``, ``family``, ``model_simple``,
        ``image_size``, ``N``, ``N_image``, ``N_text``, ``flops_per_sample``.

    Examples
    --------
    >>> from lawfit.datasets import load_laion_clip_mammut
    >>> df = load_laion_clip_mammut()                      # doctest: +SKIP
    >>> df.groupby("family").size().to_dict()              # doctest: +SKIP
    {'clip': 581, 'mammut': 850}
    """
    f, table = resolve(path, NAME, FILES, table)
    df = _read_parquet(f) if f.suffix == ".parquet" else _read_csv(f)
    if table == "profile":
        require(df, ["model", "namespace", "mparams", "image_mparams", "text_mparams",
                     "gflops"], f, "the LAION model profile")
        out = df[["model", "namespace", "model_simple", "image_size"]].rename(
            columns={"namespace": "family"}).copy()
        prefix = ""
    else:
        require(df, list(_SEG) + ["gflops", "model_mparams", "model_image_mparams",
                                  "model_text_mparams", "model_gflops"], f,
                "the LAION segmentation results")
        out = df[list(_SEG)].rename(columns=_SEG).copy()
        out["C"] = df["gflops"].astype("float64") * 1e9
        prefix = "model_"
    out["N"] = df[prefix + "mparams"].astype("float64") * 1e6
    out["N_image"] = df[prefix + "image_mparams"].astype("float64") * 1e6
    out["N_text"] = df[prefix + "text_mparams"].astype("float64") * 1e6
    out["flops_per_sample"] = df[prefix + "gflops"].astype("float64") * 1e9
    out = as_float(out, ["D", "loss", "caption_loss", "miou", "acc1", "acc5"])
    first = ["run", "family", "model", "N", "D", "C", "loss"]
    first = [c for c in first if c in out.columns]
    return columns_first(out, first).reset_index(drop=True)
