"""Shared plumbing of the released-data loaders: pandas import, paths, checks.

Path rules (every ``load_<name>(path=None, ...)`` follows them):

* ``path`` a file: that file is read (its name picks the table when the
  loader has several and ``table`` is not given).
* ``path`` a directory: the dataset folder itself, or a data root holding it
  as a subfolder named like the dataset (``<root>/epoch_chinchilla``).
* ``path`` None: ``$LAWFIT_DATA/<name>``; ``LAWFIT_DATA`` names the directory
  that holds the dataset folders.  The data are never shipped with lawfit.

A wrong path raises FileNotFoundError naming it; a file without the expected
columns raises ValueError naming it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]

ENV_VAR = "LAWFIT_DATA"
_INSTALL_HINT = "pip install lawfit[pandas]"


def _pandas():
    """Import pandas, or say how to install it."""
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
        raise ImportError(
            f"lawfit.datasets loaders need pandas: {_INSTALL_HINT}"
        ) from exc
    return pd


def _read_csv(path: Path, **kwargs):
    pd = _pandas()
    try:
        return pd.read_csv(path, **kwargs)
    except (ValueError, UnicodeDecodeError) as exc:  # ParserError, EmptyDataError, bad dtype
        raise ValueError(f"{path}: cannot read as the expected CSV: {exc}") from exc


def _read_parquet(path: Path):
    """Read a parquet file into plain numpy dtypes (float64 with NaN, str/object).

    The files store pandas nullable/arrow dtypes; ignoring that metadata gives
    the ordinary dtypes every pandas version handles the same way.
    """
    _pandas()
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError(
            f"reading {path.name} needs pyarrow: {_INSTALL_HINT}"
        ) from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:  # ArrowInvalid and friends: not a parquet file
        raise ValueError(f"{path}: cannot read as parquet: {exc}") from exc
    return table.to_pandas(ignore_metadata=True)


def data_root() -> Path:
    """Return the directory named by ``$LAWFIT_DATA`` (FileNotFoundError if unset or missing)."""
    env = os.environ.get(ENV_VAR)
    if not env:
        raise FileNotFoundError(
            f"no data path given and ${ENV_VAR} is not set: pass path= (the dataset "
            f"folder or one of its files) or set {ENV_VAR} to the directory holding "
            "the dataset folders"
        )
    root = Path(env).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"${ENV_VAR} is {env!r}, which is not a directory")
    return root


def resolve(
    path: Optional[PathLike],
    name: str,
    files: Dict[str, str],
    table: Optional[str] = None,
) -> Tuple[Path, str]:
    """Find the file to read.

    ``files`` maps table names to file names in the dataset folder; its first
    entry is the default table.  Returns ``(file, table)``.
    """
    if table is not None and table not in files:
        raise ValueError(f"{name}: unknown table {table!r}; choose one of {list(files)}")
    if path is None:
        folder = data_root() / name
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{name}: no folder {folder} (from ${ENV_VAR}); pass path= instead"
            )
    else:
        folder = Path(path).expanduser()
        if folder.is_file():
            if table is None:
                by_file = {v: k for k, v in files.items()}
                table = by_file.get(folder.name, next(iter(files)))
            return folder, table
        if not folder.exists():
            raise FileNotFoundError(f"{name}: path not found: {folder}")
        if not folder.is_dir():
            raise FileNotFoundError(f"{name}: not a file or directory: {folder}")
        if (folder / name).is_dir() and not any((folder / f).is_file() for f in files.values()):
            folder = folder / name
    table = table or next(iter(files))
    f = folder / files[table]
    if not f.is_file():
        raise FileNotFoundError(f"{name}: file not found: {f} (table {table!r})")
    return f, table


def require(df, columns: Iterable[str], path: Path, what: str):
    """ValueError naming ``path`` when ``df`` lacks any of ``columns``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{path}: not {what}: missing column(s) {missing} "
            f"(found {list(df.columns)[:12]}{' ...' if df.shape[1] > 12 else ''})"
        )
    return df


def as_float(df, columns: Iterable[str]):
    """Cast columns to float64 in place (large integer counts and FLOPs included)."""
    pd = _pandas()
    for c in columns:
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="raise").astype("float64")
    return df


def columns_first(df, first: Iterable[str]):
    """``df`` with the columns of ``first`` that it has moved to the front, the rest in their order."""
    first = [c for c in first if c in df.columns]
    return df[first + [c for c in df.columns if c not in first]]
