"""Porian et al. (2024) compute-optimal sweeps: IsoFLOP points, optima, fits."""

from __future__ import annotations

from typing import Optional

from ._common import PathLike, _read_csv, as_float, require, resolve

NAME = "porian_compute_optimal"
FILES = {
    "isoflop": "isoflop_points.csv",
    "optimal": "optimal_pairs.csv",
    "fits": "published_fit_results.csv",
}
#: The keys that name one of the 15 training configurations.
PORIAN_CONFIG_KEYS = ("dataset", "hparams", "warmup", "decay", "param_count", "loss_type")


def load_porian_compute_optimal(path: Optional[PathLike] = None, table: Optional[str] = None):
    """Load the compute-optimal sweeps of Porian et al. (2024).

    Porian et al., "Resolving Discrepancies in Compute-Optimal Scaling of
    Language Models" (arXiv:2406.19146), exported from the authors' summaries.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The ``porian_compute_optimal`` folder, a data root holding it, or one
        of its files.  None: ``$LAWFIT_DATA/porian_compute_optimal``.
    table : {"isoflop", "optimal", "fits"}, optional
        ``"isoflop"`` (default, ``isoflop_points.csv``): every model size at
        every FLOP budget.  ``"optimal"`` (``optimal_pairs.csv``): the
        authors' per-budget optimum.  ``"fits"`` (``published_fit_results.csv``):
        their power-law fits.  Taken from the file name when ``path`` is a file.

    Returns
    -------
    pandas.DataFrame
        Every table has the configuration keys ``dataset`` (``rw`` RefinedWeb,
        ``owt2`` OpenWebText2), ``hparams``, ``warmup``, ``decay``,
        ``param_count`` (the N convention: ``kaplan`` non-embedding,
        ``standard`` with the head, ``attention`` also counting attention
        FLOPs), ``loss_type`` (``train`` / ``val``), ``source_file``, and
        ``config`` (str, the six keys joined by ``/``; 15 values).

        ``"isoflop"``: ``C`` (float64, FLOP budget, 1.25e16 to 2.56e19),
        ``N`` (float64, parameters under ``param_count``), ``D`` (float64,
        tokens, C / (6 N)), ``loss`` (float64, nats/token, smoothed).

        ``"optimal"``: ``C``, ``N`` (N*), ``D`` (D*), ``multiplier`` (D*/N*),
        ``loss`` (L*), ``loss_t`` and the bootstrap standard deviations
        ``n_star_std``, ``t_star_std``, ``multiplier_star_std`` (of the
        logs) and ``loss_star_std``; 4 rows are NaN in the source.

        ``"fits"``: ``variant`` and the fitted ``n_exponent``, ``n_coef``,
        ``t_exponent``, ``t_coef``, ``multiplier_*`` with R^2, and ``A, E,
        alpha`` of L*(C) = E + A C^-alpha.

    Examples
    --------
    >>> from lawfit.datasets import load_porian_compute_optimal
    >>> pts = load_porian_compute_optimal()                       # doctest: +SKIP
    >>> pts["config"].nunique(), pts["C"].nunique()               # doctest: +SKIP
    (15, 12)
    """
    f, table = resolve(path, NAME, FILES, table)
    df = _read_csv(f)
    need = list(PORIAN_CONFIG_KEYS) + {
        "isoflop": ["flops", "N", "D", "loss"],
        "optimal": ["flops", "n", "t", "loss"],
        "fits": ["variant", "n_exponent"],
    }[table]
    require(df, need, f, f"the Porian et al. {table!r} table")
    df = df.rename(columns={"flops": "C", "n": "N", "t": "D"})
    df = as_float(df, ["C", "N", "D", "loss"])
    df.insert(0, "config", df[list(PORIAN_CONFIG_KEYS)].astype(str).agg("/".join, axis=1))
    return df
