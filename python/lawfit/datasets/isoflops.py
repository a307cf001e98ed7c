"""Open-Athena's IsoFLOP collection: Chinchilla (x2), Llama 3, Marin, Misfitting."""

from __future__ import annotations

from typing import Optional, Sequence, Union

from ._common import PathLike, _read_csv, as_float, columns_first, require, resolve

NAME = "openathena_isoflops"
FILES = {"annotated": "isoflops_transform_annotated.csv", "combined": "isoflops_combined.csv"}


def load_openathena_isoflops(
    path: Optional[PathLike] = None,
    source: Union[str, Sequence[str], None] = None,
    drop_outliers: bool = False,
):
    """Load the IsoFLOP points compiled by Open-Athena ("scaling-law-analysis").

    947 (N, D, loss) points on IsoFLOP budgets from five sources:
    ``ml_scalefit`` and ``epochai_chinchilla`` (two extractions of Hoffmann et
    al. 2022 Fig. 3), ``llama_3`` (digitised from the Llama 3 paper, two
    conditions), ``marin_202603`` (Marin scaling ladder, 3 datasets) and
    ``misfitting`` (interpolated from Li et al. 2025).

    Parameters
    ----------
    path : str or os.PathLike, optional
        The ``openathena_isoflops`` folder, a data root holding it, or one of
        its CSV files (``isoflops_transform_annotated.csv``, read by default,
        is ``isoflops_combined.csv`` plus QC flags; the per-source
        ``isoflops_<source>.csv`` files work too).
        None: ``$LAWFIT_DATA/openathena_isoflops``.
    source : str or sequence of str, optional
        Keep only these sources.
    drop_outliers : bool, default False
        Drop the rows Open-Athena flags as outliers (197 of 947).

    Returns
    -------
    pandas.DataFrame
        Sorted by ``experiment``, ``C``, ``N``:

        - ``experiment`` : str, the fitting group (``source__dataset__model``
          plus the condition for Llama 3); 8 values.
        - ``source``, ``dataset``, ``model`` : str; ``condition`` : str or NaN
          (Llama 3: ``raw_loss`` as plotted, ``exp_loss`` = exp of it).
        - ``N`` : float64, parameters (each source's convention; Llama 3 and
          Epoch: derived as C / (6 D)).
        - ``D`` : float64, training tokens.
        - ``C`` : float64, FLOP budget on the IsoFLOP grid.
        - ``loss`` : float64, nats/token (each source's validation set).
        - ``outlier`` : bool and ``reason`` : str, Open-Athena's QC flags
          (annotated file only).
        - ``provenance`` : str (per-source files only).

    Examples
    --------
    >>> from lawfit.datasets import load_openathena_isoflops
    >>> df = load_openathena_isoflops(drop_outliers=True)      # doctest: +SKIP
    >>> len(df)                                                 # doctest: +SKIP
    750
    """
    f, _ = resolve(path, NAME, FILES)
    df = _read_csv(f)
    require(df, ["source", "experiment", "tokens", "params", "budget", "loss"], f,
            "an Open-Athena IsoFLOP table")
    df = df.rename(columns={"params": "N", "tokens": "D", "budget": "C"})
    df = as_float(df, ["N", "D", "C", "loss"])
    if source is not None:
        df = df[df["source"].isin([source] if isinstance(source, str) else list(source))]
    if drop_outliers:
        require(df, ["outlier"], f, "an IsoFLOP table with QC flags (drop_outliers=True)")
        df = df[~df["outlier"].astype(bool)]
    first = ["experiment", "source", "dataset", "model", "condition", "N", "D", "C", "loss"]
    df = columns_first(df, first)
    return df.sort_values(["experiment", "C", "N"], kind="stable").reset_index(drop=True)
