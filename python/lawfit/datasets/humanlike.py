"""ViTs trained on human-like video (Orhan 2023): model size x data x image resolution."""

from __future__ import annotations

from typing import Optional

from ._common import PathLike, _read_csv, as_float, columns_first, require, resolve

__all__ = ["load_humanlike_vits_orhan2023", "ORHAN_EXTRAPOLATION"]

NAME = "humanlike_vits_orhan2023"
FILES = {"runs": "runs_summary.csv", "finetune": "finetune_curves.csv", "pretrain": "pretrain_curves.csv"}

#: The paper's example extrapolation (abstract): a 2.5B-parameter ViT, 20K hours of video,
#: 952 x 952 pixels "should be able to reach roughly human-level accuracy on ImageNet".
ORHAN_EXTRAPOLATION = {"N": 2.5e9, "D": 20000.0, "R": 952.0}


def load_humanlike_vits_orhan2023(path: Optional[PathLike] = None, table: Optional[str] = None):
    """Load Orhan's (2023, arXiv:2308.03712) ViTs pretrained with MAE on human-like video.

    6 architectures (ViT-S/B/L/H at 224 px, ViT-H at 448 and 476 px) x 5 fractions of
    about 5,000 hours of egocentric video x 3 random subsets (1 for the full data),
    finetuned on 2% of ImageNet's labels.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The ``humanlike_vits_orhan2023`` folder, a data root holding it, or one of
        its CSV files.  None: ``$LAWFIT_DATA/humanlike_vits_orhan2023``.
    table : {"runs", "finetune", "pretrain"}, optional
        One row per run (default), per finetuning epoch, or per pretraining log line.

    Returns
    -------
    pandas.DataFrame
        The ``runs`` table has ``arch``, ``seed``, ``N`` (finetuned parameters),
        ``D`` (hours of video, ~5000 x fraction), ``R`` (image size, pixels),
        ``data_fraction``, ``err`` (ImageNet top-1 error, 1 - final top-1 / 100),
        ``acc1`` (final top-1, %), and the source's other columns.  The curves keep
        the source's columns, with ``D`` and ``R`` added.

    Examples
    --------
    >>> from lawfit.datasets import load_humanlike_vits_orhan2023
    >>> runs = load_humanlike_vits_orhan2023()          # doctest: +SKIP
    >>> len(runs), runs["arch"].nunique()               # doctest: +SKIP
    (78, 6)
    """
    f, table = resolve(path, NAME, FILES, table)
    df = _read_csv(f)
    require(df, ["arch", "data_fraction", "seed", "image_size", "data_hours_approx"], f,
            "a humanlike-vits table")
    df = df.rename(columns={"data_hours_approx": "D", "image_size": "R"})
    df = as_float(df, ["D", "R", "data_fraction"])
    if table == "runs":
        require(df, ["n_parameters", "final_test_acc1"], f, "the humanlike-vits run summary")
        df = df.rename(columns={"n_parameters": "N", "final_test_acc1": "acc1"})
        df = as_float(df, ["N", "acc1"])
        df["err"] = 1.0 - df["acc1"] / 100.0
        first = ["arch", "seed", "N", "D", "R", "data_fraction", "err", "acc1"]
    else:
        first = ["arch", "seed", "D", "R", "data_fraction"]
    return columns_first(df, first).reset_index(drop=True)
