"""`lawfit.fit`: from a table of training runs to fitted laws, every group in one batch.

The table's rows are grouped by ``by``; each group is one law.  All groups
times all starting points are one :func:`lawfit.multistart.fit_multistart`
call, and all groups times all resamples one :func:`lawfit.bootstrap.bootstrap`
call -- never a Python loop over groups calling the solver.  Defaults (start
grid, loss, residual space, bounds) come from the law (``print(lawfit.laws[name])``).

With a Dask DataFrame (or ``scheduler=`` a ``dask.distributed.Client``) the
groups are split over partitions (a shuffle on ``by`` keeps every group in one
partition), each partition is fitted on a worker exactly as above, and the
parts are gathered into one :class:`~lawfit.result.FitResult` in the same
group order as an in-process fit.  Point estimates, covariances and statuses
are then identical to the in-process fit; bootstrap resamples are keyed by a
law's position in its partition's batch, so with ``bootstrap > 0`` the
intervals agree statistically, not bit for bit.
"""
from __future__ import annotations

import hashlib

import difflib
import os
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np

from .status import LawfitWarning, Status, status_message, warn_failures
from .bootstrap import bootstrap as _bootstrap
from .catalog import Law, laws
from .formula import parse
from .engine.checks import input_problems
from .catalog.recipe import resolve as resolve_recipe
from .engine.covariance import free_block_inverse, inverse_diagonals
from .engine.data import Data
from .engine.options import Options
from .engine.progress import Progress
from .multistart import fit_data, fit_multistart, make_starts
from .result import FitResult, _pd
from .uncertainty import goodness_of_fit, identifiability, wald_interval

__all__ = ["fit", "load_table", "resolve_law"]

_NAN_POLICIES = ("raise", "omit", "propagate")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_CI = ("percentile", "bca")


# --------------------------------------------------------------------------
# Inputs: the table and the law


def _is_dask(obj) -> bool:
    mod = type(obj).__module__ or ""
    return mod.startswith("dask") and hasattr(obj, "npartitions")


def load_table(data, *, what: str = "data"):
    """A pandas DataFrame from a DataFrame, a mapping of arrays, or a CSV/TSV/parquet/JSON path.

    Raises FileNotFoundError for a missing file and ValueError for one that
    cannot be read, naming it.
    """
    pd = _pd()
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (str, os.PathLike)):
        path = Path(data).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{what}: no such file: {path}")
        suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() in (".gz", ".bz2", ".zst", ".xz") \
            else path.suffix.lower()
        try:
            if suffix in (".parquet", ".pq"):
                return pd.read_parquet(path)
            if suffix.startswith(".json"):
                return pd.read_json(path)
            if suffix.startswith(".tsv") or suffix.startswith(".tab"):
                return pd.read_csv(path, sep="\t")
            return pd.read_csv(path)
        except (ValueError, UnicodeDecodeError, OSError) as exc:
            raise ValueError(f"{path}: cannot read it as a table ({exc})") from exc
        except Exception as exc:  # pyarrow's errors and friends
            raise ValueError(f"{path}: cannot read it as a table ({type(exc).__name__}: {exc})") from exc
    if isinstance(data, Mapping):
        cols = {k: np.atleast_1d(np.asarray(v)) for k, v in data.items()}
        sizes = {k: v.shape[0] for k, v in cols.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"{what}: the arrays have different lengths ({sizes})")
        return pd.DataFrame(cols)
    if hasattr(data, "to_pandas"):  # pyarrow / polars tables
        return data.to_pandas()
    raise TypeError(f"{what} must be a DataFrame, a dict of arrays or a file path, not {type(data).__name__}")


def resolve_law(law, x: Optional[Sequence[str]] = None, columns=None) -> tuple[Law, list[str]]:
    """The :class:`Law` for a catalog name, a Law or a formula string, and the data columns of its inputs.

    A catalog law's inputs are matched to ``x`` by position (``x=["params",
    "tokens"]`` feeds Chinchilla's ``N`` and ``D``); without ``x`` the
    columns are the law's input names.  A formula string's inputs are the
    ``x`` columns: without them the error names the formula's symbols that are
    among ``columns`` (the table's, or a callable returning them, asked only
    then), once the formula parses.
    """
    x = None if x is None else _listify(x, "x")
    if isinstance(law, Law):
        obj = law
    elif isinstance(law, str):
        if law in laws:
            obj = laws[law]
        elif not _NAME.match(law.strip()):  # a formula, not a name
            try:  # a malformed formula is the first thing to report, with or without x
                formula = Law(law, inputs=x) if x is not None else parse(law)
            except ValueError as exc:
                raise ValueError(f"cannot use {law!r} as a law: {exc}") from None
            if isinstance(formula, Law):
                return formula, list(x or [])
            table = set(columns() if callable(columns) else columns) if columns is not None else set()
            found = [s for s in formula.symbols if s in table]
            hint = (f"x={found!r} (its names that are columns of the table; the others are parameters)"
                    if found else "x=[...]")
            raise ValueError(f"the formula {law!r} needs its input columns: {hint}")
        else:
            laws[law]  # raises KeyError with close matches
            raise AssertionError  # pragma: no cover
    elif callable(law):
        obj = Law(law, inputs=x if x is not None else None)
    else:
        raise TypeError(f"law must be a catalog name, a formula string or a Law, not {type(law).__name__}")
    inputs = list(obj.input_names)
    if x is None:
        return obj, inputs
    if len(x) != len(inputs):
        raise ValueError(f"law {obj.name or obj.formula!r} has {len(inputs)} input(s) {inputs}, "
                         f"but x names {len(x)} column(s) {x}")
    return obj, x


def _columns_of(data):
    """The table's column names, or for a file a callable reading them (only an error message needs
    them before the table is loaded)."""
    if hasattr(data, "columns"):
        return data.columns
    if isinstance(data, (str, os.PathLike)):
        return lambda: load_table(data).columns
    return None


def _listify(cols, what: str = "columns") -> list[str]:
    """Column names from None, a name, a comma-separated string or a sequence of names;
    a TypeError naming ``what`` otherwise."""
    if cols is None:
        return []
    if isinstance(cols, str):
        return [s.strip() for s in cols.split(",")] if "," in cols else [cols]
    if isinstance(cols, (Mapping, np.ndarray)) and not (isinstance(cols, np.ndarray) and cols.ndim == 1
                                                         and cols.dtype.kind in "UO"):
        raise TypeError(f"{what} must be a column name or a list of column names, not {type(cols).__name__}")
    try:
        names = list(cols)
    except TypeError:
        raise TypeError(f"{what} must be a column name or a list of column names, "
                        f"not {type(cols).__name__}") from None
    bad = [c for c in names if not isinstance(c, (str, int, np.integer, np.str_))]
    if bad:
        raise TypeError(f"{what} must name columns; got {type(bad[0]).__name__} {bad[0]!r}")
    return [str(c) for c in names]


def _py(v):
    """A numpy scalar as the Python value (so messages show 5, not np.int64(5))."""
    return v.item() if isinstance(v, np.generic) else v


def _row_label(df, pos: int, source) -> str:
    label = f"row {_py(df.index[pos])!r}"
    if source is not None:
        label += f" (line {pos + 2} of {Path(source).name})"
    return label


def _check_columns(df, roles: Mapping[str, Sequence[str]]) -> None:
    have = [str(c) for c in df.columns]
    for role, cols in roles.items():
        for c in cols:
            if c not in df.columns:
                close = difflib.get_close_matches(c, have, n=3)
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                shown = ", ".join(have[:20]) + (", ..." if len(have) > 20 else "")
                raise ValueError(f"column {c!r} ({role}) is not in the data{hint} (columns: {shown})")


def _law_keys(keys) -> np.ndarray:
    """A stable 63-bit id per law from its group key values (blake2b of their text).

    The bootstrap generator is keyed by it instead of the law's position, so a
    group draws the same resamples in any batch or Dask partition.
    """
    # A missing key reads "nan" (pandas >= 3 keeps it missing through astype(str); before, "nan").
    rows = keys.astype(str).fillna("nan").agg("\x1f".join, axis=1) if keys.shape[1] else [""] * len(keys)
    return np.array([int.from_bytes(hashlib.blake2b(r.encode(), digest_size=8).digest(), "little") >> 1
                     for r in rows], dtype=np.int64)


def _numeric(df, col: str, source, strict: bool, unparsable: dict) -> np.ndarray:
    """The column as floats.  Cells that are not numbers raise with ``strict``
    (nan_policy='raise'); otherwise they become missing values and are noted in
    ``unparsable`` ({(col, position): text}) for the reasons.  A column in which
    no value is a number is a malformed call and always raises."""
    pd = _pd()
    s = df[col]
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        conv = pd.to_numeric(s, errors="coerce")
        bad = conv.isna().to_numpy() & s.notna().to_numpy()
        if bad.any():
            pos = int(np.argmax(bad))
            message = f"column {col!r} is not numeric: {_row_label(df, pos, source)} holds {_py(s.iloc[pos])!r}"
            if strict or not conv.notna().any():
                raise ValueError(message)
            for p in np.flatnonzero(bad)[:1000].tolist():
                unparsable[(col, p)] = _py(s.iloc[p])
        s = conv
    if s.dtype == np.float64:  # missing values are NaN already: a view (read-only under copy-on-write)
        return s.to_numpy()
    return s.to_numpy(dtype=float, na_value=np.nan)


def _describe_group(df, pos: int, by: list[str]) -> str:
    if not by:
        return ""
    return " in group " + ", ".join(f"{c}={_py(df[c].iloc[pos])!r}" for c in by)


# --------------------------------------------------------------------------
# Preparing the batch


def _canonical_order(codes: np.ndarray, keys: list, finite: bool = False,
                     offsets: np.ndarray | None = None) -> np.ndarray | None:
    """Row order by group code, then by the values in ``keys`` (lexicographic); None when
    the rows are in that order already.

    Tables usually arrive grouped and sorted (one run after another, checkpoints
    in order): a stable sort by group and a linear check then replace the full
    multi-key sort, which costs ~0.5 s on 800,000 rows.  ``finite``: the keys
    hold no NaN; ``offsets``: the codes are sorted already, each group's rows
    starting there.
    """
    def lexsorted():
        return np.lexsort(tuple(reversed([codes] + list(keys))))

    if not finite and any(np.isnan(k).any() for k in keys):  # NaN sorts last: leave it to lexsort
        return lexsorted()
    in_place = offsets is not None or bool(np.all(codes[:-1] <= codes[1:]))  # grouped already: no gathers
    order = None if in_place else np.argsort(codes, kind="stable")
    undecided = np.ones(max(codes.size - 1, 0), dtype=bool)
    if offsets is not None:  # pairs within a group are undecided by the codes
        undecided[offsets[1:-1] - 1] = False
        columns = list(keys)
    else:
        columns = [codes] + list(keys) if in_place else [codes[order]] + [k[order] for k in keys]
    for c in columns:
        if np.any(undecided & (c[:-1] > c[1:])):
            return lexsorted()
        undecided &= c[:-1] >= c[1:]
        if not undecided.any():  # every neighbour pair is ordered: later keys cannot reorder
            break
    return order


def _copy_on_write(pd) -> bool:
    """Whether pandas copies on write: always from 3.0, by option in 2.x."""
    if int(pd.__version__.split(".")[0]) >= 3:
        return True
    return bool(getattr(getattr(pd.options, "mode", None), "copy_on_write", False) is True)


def _group_codes(df, by: list) -> tuple[np.ndarray, np.ndarray | None]:
    """Group number of every row, groups in sorted key order (``groupby(...).ngroup()``), and
    where each group begins when the rows are grouped already (else None).

    One key column that is already sorted and complete (the usual table: one
    group after another) is numbered in one pass instead of a hash and sort.
    """
    if len(by) == 1:
        v = df[by[0]].to_numpy()
        # Sorted and complete: no neighbour pair decreases (a NaN fails every comparison it is in;
        # numpy's compare is ~10x faster than pandas' is_monotonic_increasing on 800,000 rows).
        if v.dtype.kind in "iuf" and v.size and bool(np.all(v[1:] >= v[:-1])) and v[0] == v[0]:
            offsets = np.concatenate([[0], np.flatnonzero(v[1:] != v[:-1]) + 1, [v.size]]).astype(np.int64)
            counts = np.diff(offsets)
            return np.repeat(np.arange(counts.size, dtype=np.int64), counts), offsets  # (a cumsum of bools: 20x slower)
    return df.groupby(by, sort=True, dropna=False, observed=True).ngroup().to_numpy(), None


def _messages(status: np.ndarray) -> list[str]:
    """Every status code's explanation, one lookup per distinct code (a table indexed by code)."""
    if not status.size:
        return []
    lo = int(status.min())
    present = np.bincount(status - lo)
    table = np.empty(present.size, dtype=object)
    for c in np.flatnonzero(present).tolist():
        table[c] = status_message(c + lo)
    return table[status - lo].tolist()


class _Batch:
    """The rows of all groups, sorted by group, and what the solver needs.

    Missing or non-finite values (and cells that are not numbers) follow
    ``nan_policy``: "propagate" keeps them, and the core gives their groups
    the status BAD_INPUT (so does a missing group key: its rows are not fitted
    as a group); "omit" drops those rows; "raise" stops at the first.
    Impossible values -- sigma <= 0, y <= 0 with log residuals, inputs outside
    the law's domain -- fail their group whatever the policy.
    """

    def __init__(self, df, law: Law, x_cols, y, by, sigma, bootstrap_by, nan_policy, source):
        pd = _pd()
        if nan_policy not in _NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {_NAN_POLICIES}, got {nan_policy!r}")
        if y is None:
            raise ValueError("name the column to fit: y='loss'")
        sigma_col = sigma if isinstance(sigma, str) else None
        _check_columns(df, {"an input (x)": x_cols, "y": [y], "by": by,
                            "sigma": [sigma_col] if sigma_col else [], "bootstrap_by": bootstrap_by})
        n = len(df)
        if n == 0:
            raise ValueError("the data have no rows")
        strict = nan_policy == "raise"
        unparsable: dict = {}
        cols = {c: _numeric(df, c, source, strict, unparsable) for c in dict.fromkeys(list(x_cols) + [y])}
        if sigma_col:
            sig = _numeric(df, sigma_col, source, strict, unparsable)
        elif sigma is not None:
            if isinstance(sigma, (bytes, Mapping)) or np.asarray(sigma).dtype.kind not in "iufb":
                raise TypeError(f"sigma must be a column name, a number or {n} numbers, not {type(sigma).__name__}")
            if np.size(sigma) not in (1, n):
                raise ValueError(f"sigma must be a column name, a number or {n} values, got {np.size(sigma)}")
            sig = np.broadcast_to(np.asarray(sigma, dtype=float).ravel(), (n,)).copy()
        else:
            sig = None
        # Missing / non-finite values, the first per column for the messages.
        bad = np.zeros(n, dtype=bool)
        first_bad = None
        for c, v in list(cols.items()) + ([("sigma" if sigma_col is None else sigma_col, sig)]
                                          if sig is not None else []):
            finite = np.isfinite(v)
            if finite.all():
                continue
            nf = ~finite
            if first_bad is None:
                first_bad = (c, int(nf.sum()), int(np.argmax(nf)))
            bad |= nf
        key_missing = np.zeros(n, dtype=bool)
        for c in by:
            na = df[c].isna().to_numpy()
            if na.any() and first_bad is None:
                first_bad = (c, int(na.sum()), int(np.argmax(na)))
            key_missing |= na
        bad |= key_missing
        if bad.any() and nan_policy == "raise" and first_bad is not None:
            c, k, pos = first_bad
            raise ValueError(f"column {c!r} has {k} missing or non-finite value(s), first at "
                             f"{_row_label(df, pos, source)}{_describe_group(df, pos, [b for b in by if b != c])}; "
                             "drop those rows, or pass nan_policy='omit' (skip them) or 'propagate' "
                             "(their groups fail with BAD_INPUT, the others fit)")
        self.n_dropped = int(bad.sum()) if nan_policy == "omit" else 0  # "propagate" keeps every row
        if self.n_dropped == n:
            raise ValueError("no rows left after dropping missing values (nan_policy='omit')")
        whole = self.n_dropped == 0
        idx = None if whole else np.flatnonzero(~bad)  # None: every row
        sub = df if whole else df.iloc[idx]
        if by:
            codes, offsets = _group_codes(sub, by)
        else:
            codes, offsets = np.zeros(len(sub), dtype=np.int64), np.array([0, len(sub)], dtype=np.int64)
        # Rows in a canonical order: by group, then by the values (x, y, sigma), so that the
        # same rows give the same batch however the table was ordered or partitioned.
        sort_keys = [cols[c] if whole else cols[c][idx] for c in dict.fromkeys(list(x_cols) + [y])]
        if sig is not None:
            sort_keys.append(sig if whole else sig[idx])
        order = _canonical_order(codes, sort_keys, finite=not bad.any(), offsets=offsets)
        if order is not None:
            rows, codes = order if idx is None else idx[order], codes[order]
        else:
            rows = idx  # None: every row, in the table's order
        if order is not None or offsets is None:  # codes are sorted now, and every group has a row
            offsets = np.searchsorted(codes, np.arange(int(codes[-1]) + 2, dtype=np.int64)).astype(np.int64)
        self.offsets = offsets
        # Tables usually arrive whole and in order. Where pandas copies on write (>= 3.0) the
        # frame then holds the caller's columns as pandas objects: pandas tracks that reference,
        # so a later change to the caller's table copies first and the fit's data never change
        # under it (a bare numpy view would). Otherwise each column is copied or gathered.
        in_order = order is None and whole
        share = in_order and _copy_on_write(pd)

        def take(c, a):
            if share and np.shares_memory(a, df[c].to_numpy()):
                return df[c].reset_index(drop=True)  # the same data (referenced), the frame's own index
            return a if share else a.copy() if in_order else a[rows]

        frame = {c: take(c, df[c].to_numpy()) for c in by}
        for c in dict.fromkeys(list(x_cols) + [y]):
            frame[c] = take(c, cols[c])
        if sig is not None:
            frame[sigma_col or "sigma"] = take(sigma_col, sig) if sigma_col else sig
        for c in bootstrap_by:
            if c not in frame:
                frame[c] = take(c, df[c].to_numpy())
        frame["_group"] = codes
        index = df.index.to_numpy()
        frame["_row"] = index if share else index.copy() if in_order else index[rows]
        self.frame = pd.DataFrame(frame, copy=False)  # no consolidating copy
        frame = {c: self.frame[c].to_numpy() for c in frame}
        self.keys = pd.DataFrame({c: self.frame[c].to_numpy()[self.offsets[:-1]] for c in by})
        if not by:
            self.keys = pd.DataFrame(index=range(1))
        # The frame's columns are fresh copies: the inputs share them (y is copied again below
        # where rows without a group key must be blanked).
        self.inputs = {name: frame[c] for name, c in zip(law.input_names, x_cols)}
        self.y = frame[y]
        self.sigma = None if sig is None else frame[sigma_col or "sigma"]
        self.boot_labels = None
        if bootstrap_by:
            lab = self.frame[bootstrap_by].astype(str).agg("\x1f".join, axis=1) if len(bootstrap_by) > 1 \
                else self.frame[bootstrap_by[0]]
            # Label values, not codes: group ids are then assigned per law in
            # sorted label order, the same in any partition of the data.
            self.boot_labels = lab.astype(str).to_numpy()
        self._rows = rows
        self.nonfinite = bad if in_order else bad[rows]  # only with nan_policy='propagate'
        # What the reasons need: names of the columns, unparsable cells, rows whose group key is missing.
        self.names = {**dict(zip(law.input_names, x_cols)), "y": y, "sigma": sigma_col or "sigma"}
        self.source = source
        self.unparsable = unparsable
        self.missing_key = {}
        if key_missing.any():
            flat = np.flatnonzero(key_missing if rows is None else key_missing[rows])
            self.y = self.y.copy()
            self.y[flat] = np.nan  # the core fails these groups: rows without a group are not one
            for k in flat[::-1].tolist():
                self.missing_key[int(codes[k])] = (k, next(c for c in by if _pd().isna(df[c].iloc[self.rows[k]])))

    @property
    def rows(self) -> np.ndarray:
        """The table row (position) of every flat point."""
        if self._rows is None:
            self._rows = np.arange(len(self.frame))
        return self._rows

    def row_label(self, k: int) -> str:
        """Where flat point ``k`` came from: its row label (and line of the file it was read from)."""
        label = f"row {_py(self.frame['_row'].iloc[k])!r}"
        if self.source is not None:
            label += f" (line {int(self.rows[k]) + 2} of {Path(self.source).name})"
        return label

    def reasons(self, program, status, n_free, residual: str) -> list[str]:
        """The ``reason`` of every group: for BAD_INPUT its first offending row and
        column, else the status's explanation."""
        status = np.asarray(status)
        out = _messages(status)
        bad = np.flatnonzero(status == int(Status.BAD_INPUT))
        if not bad.size:
            return out
        columns = program.input_matrix(self.inputs)
        problems = input_problems(program, columns, self.y, self.offsets, sigma=self.sigma,
                                  n_free=n_free, residual=residual)
        for g in bad.tolist():
            if g in self.missing_key:
                k, c = self.missing_key[g]
                out[g] = f"missing group key in column {c!r} at {self.row_label(k)}"
                continue
            p = problems[g]
            if p is None:
                continue
            if p.point >= 0 and (self.names.get(p.column), int(self.rows[p.point])) in self.unparsable:
                text = self.unparsable[(self.names.get(p.column), int(self.rows[p.point]))]
                out[g] = f"{text!r} (not a number) in column {self.names.get(p.column)!r} at {self.row_label(p.point)}"
                continue
            out[g] = p.describe(self.names, self.row_label(p.point) if p.point >= 0 else "")
        return out

    @property
    def n_groups(self) -> int:
        return len(self.offsets) - 1

    def distinct_inputs(self, groups) -> dict:
        """Distinct values of every input column in each of ``groups``, {input name: counts}."""
        return {name: np.array([np.unique(v[self.offsets[g]:self.offsets[g + 1]]).size for g in groups])
                for name, v in self.inputs.items()}

    def to_data(self, program) -> Data:
        """The engine's ragged container for ``program`` (its input matrix built once)."""
        weight = None
        if self.sigma is not None:  # sigma <= 0 (or missing): a weight the core refuses (BAD_INPUT)
            with np.errstate(divide="ignore", invalid="ignore"):
                weight = np.where(self.sigma > 0, 1.0 / (self.sigma * self.sigma), np.nan)
        return Data(program, program.input_matrix(self.inputs), self.y, self.offsets, weight)

    @property
    def n_points(self) -> np.ndarray:
        return np.diff(self.offsets)


def _starts_for(law: Law, batch: _Batch, starts, n_starts, fixed_values, bounds, seed):
    """Grid axes (the core makes the points), (S, P) shared by every group, or (G, S, P) for a law
    whose start grid depends on the data."""
    names = list(law.params)
    lower, upper = law._bound_arrays(bounds)
    if isinstance(starts, str) and starts in ("sobol", "lhs", "latin_hypercube"):
        s = make_starts(starts, names, n=n_starts or 64, lower=lower, upper=upper, seed=seed)
        for k, v in fixed_values.items():
            s[:, names.index(k)] = v
        return s
    if starts == "grid":
        starts = None
    axes = law.start_axes(starts=starts, fixed=fixed_values, bounds=bounds)
    if axes is not None:
        return dict(zip(names, axes))
    grid = law.starts if starts is None else starts
    if not callable(grid):
        return law.start_grid(starts=starts, fixed=fixed_values, bounds=bounds)
    per = []
    for g in range(batch.n_groups):
        s, e = batch.offsets[g], batch.offsets[g + 1]
        per.append(law.start_grid({k: v[s:e] for k, v in batch.inputs.items()}, batch.y[s:e],
                                  starts=starts, fixed=fixed_values, bounds=bounds))
    S = max(p.shape[0] for p in per)
    return np.stack([np.vstack([p, np.repeat(p[:1], S - p.shape[0], axis=0)]) for p in per])


def _fixed(law: Law, fixed) -> tuple[dict, list[str]]:
    """Fixed parameters: values (law's and the user's mapping) and the names held at their starts."""
    values = dict(law.fixed)
    names: list[str] = []
    if fixed is None:
        pass
    elif isinstance(fixed, Mapping):
        values.update({str(k): float(v) for k, v in fixed.items()})
    else:
        names = _listify(fixed)
    unknown = [k for k in list(values) + names if k not in law.params]
    if unknown:
        raise ValueError(f"fixed names unknown parameter(s) {unknown}; the parameters are {list(law.params)}")
    return values, list(dict.fromkeys(list(values) + names))


# --------------------------------------------------------------------------
# The fit


def fit(data, law, *, x=None, y=None, by=None, sigma=None, loss=None, delta=None,
        residual=None, starts=None, n_starts=None, prune="auto", bounds=None, bootstrap: int = 0,
        bootstrap_by=None, ci: str = "percentile", fixed=None, shared=None, device: str = Options.device,
        seed: int = 0, progress: bool = True, level: float = 0.95, nan_policy: str = "propagate",
        absolute_sigma: bool = False, max_nfev: int = Options.max_nfev, n_threads: Optional[int] = None,
        scheduler=None, jit=Options.jit, recipe="auto") -> FitResult:
    """Fit a scaling law to every group of a table, all groups in one batch.

    Parameters
    ----------
    data : DataFrame, dict of arrays, path, or dask DataFrame
        The runs: one row per (run, checkpoint); CSV, TSV, parquet and JSON
        paths are read with pandas.
    law : str or Law
        A catalog name (``"chinchilla"``; ``print(lawfit.laws)`` lists them),
        a :class:`lawfit.Law`, or a formula string over the ``x`` columns
        (``"E + A/N**alpha"``).
    x : list of str
        Data columns of the law's inputs, in the law's input order (default:
        columns named like the inputs).  A comma-separated string works too.
    y : str or array
        The column to fit (e.g. ``"loss"``), or one value per row.
    by : str or list of str, optional
        Group columns: one law per group (e.g. ``"family"``).
    sigma : str, float or array, optional
        Standard deviations of ``y`` (a column, a number or one per row):
        weights 1/sigma^2, in the residual space.
    loss, delta, residual : optional
        Robust loss (l2, huber, soft_l1, cauchy, arctan), its scale, and the
        residual space (``"linear"`` or ``"log"``); default the law's recipe.
    starts : None, "grid", mapping, array, "sobol", "lhs" or "varpro"
        Start set (default the law's grid); ``n_starts`` points for a
        space-filling design within the bounds; ``"varpro"``: the best points
        of the variable-projection profile (the parameters the law is linear
        in solved exactly on a grid of the others, :mod:`lawfit.methods.varpro`); ``prune=k`` runs
        Levenberg-Marquardt only from the k best starts of each law (by the
        objective at the start); ``"auto"`` (default) prunes large grids for
        laws of more than 100 points (:mod:`lawfit.engine.starts`), None runs
        every start; ``"race"`` also cuts short the starts of small laws (a
        fifth of the work there, not always the full grid's optimum).
    bounds : dict, optional
        ``{param: (lower, upper)}`` added to the law's.
    bootstrap : int
        Resamples per law (0: intervals from the covariance instead).
    bootstrap_by : str or list of str, optional
        Resample whole groups of rows (e.g. ``"run"``: a run's checkpoints
        move together) instead of single rows.
    ci : {"percentile", "bca"}
        Bootstrap interval; BCa also runs the jackknife.
    fixed : mapping or list of str, optional
        ``{param: value}`` held fixed (or names held at their start values).
    shared : list of str, optional
        Parameters common to all groups: one joint law over all groups
        (:func:`lawfit.fit_shared`); the others stay per group.
    device : {"auto", "cpu", "cuda"}
    jit : bool or "auto"
        How the law is evaluated (:func:`lawfit.solve_batch`), with the same
        results: "auto" (default) runs the catalog's laws as code compiled
        into the package and interprets other formulas (compiling them on a
        background thread for later calls once their work adds up); True
        compiles any law first (needs a C++ compiler); False interprets.
    seed : int
        Keys the bootstrap resamples (and space-filling starts).
    progress : bool
        Print the status summary line (and a progress bar on long batches)
        to stderr.
    level : float
        Confidence level of every interval.
    nan_policy : {"propagate", "omit", "raise"}
        Rows with missing or non-finite values (or cells that are not
        numbers): ``"propagate"`` (default) keeps them, and their groups fail
        with the status BAD_INPUT and a reason naming the first offending row
        and column while every other group fits; ``"omit"`` drops those rows;
        ``"raise"`` raises a ValueError naming the column, row and group.
        Values no policy can fit -- sigma <= 0, y <= 0 with
        ``residual="log"``, inputs outside the law's domain, fewer rows than
        free parameters -- fail their group with BAD_INPUT.
    absolute_sigma, max_nfev, n_threads
        As :func:`lawfit.curve_fit`.
    scheduler : dask.distributed.Client, optional
        Fit the groups on a Dask cluster (also used for a Dask DataFrame).
    recipe : {"auto", "published", "none"} or lawfit.catalog.Recipe
        The source paper's fitting recipe (``print(lawfit.laws[name])`` shows
        it): ``"published"`` takes its loss, delta, residual space, start grid
        and bounds wherever the call gives none; ``"auto"`` (default) uses the
        law's defaults but completes a call that names the recipe's loss
        without ``delta`` (``fit(df, "chinchilla", loss="huber")`` is Hoffmann
        et al.'s Huber with delta = 1e-3 on log residuals from their grid);
        ``"none"``: the defaults only.  What was used is printed (with
        ``progress``) and kept in ``settings["recipe"]``.

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError, TypeError
        A malformed call, naming the argument: a missing column, a column
        with no numbers, arrays whose length is not the table's, arguments of
        the wrong type; missing values with ``nan_policy="raise"``.  A group
        whose data cannot be fitted, or that does not converge, is not an
        error: its status and reason are in ``params`` and one
        :class:`lawfit.LawfitWarning` says how many failed and why the first did.

    Examples
    --------
    >>> import numpy as np, pandas as pd, lawfit
    >>> rng = np.random.default_rng(0)
    >>> N = np.repeat([1e8, 3e8, 1e9, 3e9], 6); D = np.tile(np.geomspace(2e9, 6e10, 6), 4)
    >>> df = pd.DataFrame({"N": np.tile(N, 2), "D": np.tile(D, 2), "family": np.repeat(["a", "b"], 24)})
    >>> df["loss"] = 1.7 + 400 * df.N**-0.34 + 410 * df.D**-0.28 + np.where(df.family == "a", 0, 0.1)
    >>> res = lawfit.fit(df, "chinchilla", x=["N", "D"], y="loss", by="family", progress=False)
    >>> res.params[["family", "E", "alpha", "converged"]].round(3)
      family    E  alpha  converged
    0      a  1.7   0.34       True
    1      b  1.8   0.34       True
    """
    law_obj, x_cols = resolve_law(law, x, _columns_of(data))
    by = _listify(by, "by")
    bootstrap_by = _listify(bootstrap_by, "bootstrap_by")
    if nan_policy not in _NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {_NAN_POLICIES}, got {nan_policy!r}")
    if ci not in _CI:
        raise ValueError(f"ci must be one of {_CI}, got {ci!r}")
    if isinstance(bootstrap, bool) or not float(bootstrap).is_integer() or int(bootstrap) < 0:
        raise ValueError(f"bootstrap must be a non-negative whole number of resamples, got {bootstrap!r}")
    spec = dict(x_cols=x_cols, y=y, by=by, sigma=sigma, loss=loss, delta=delta, residual=residual,
                starts=starts, n_starts=n_starts, prune=prune, bounds=bounds, bootstrap=int(bootstrap),
                bootstrap_by=bootstrap_by, ci=ci, fixed=fixed, shared=_listify(shared, "shared"), device=device,
                seed=int(seed), level=float(level), nan_policy=nan_policy, absolute_sigma=absolute_sigma,
                max_nfev=max_nfev, n_threads=n_threads, jit=jit)
    chosen = resolve_recipe(law_obj, recipe, loss=loss, delta=delta, residual=residual, starts=starts,
                            bounds=bounds)
    spec.update(loss=chosen.loss, delta=chosen.delta, residual=chosen.residual, starts=chosen.starts,
                bounds=chosen.bounds, recipe=chosen.applied)
    if chosen.fixed and (fixed is None or isinstance(fixed, Mapping)):
        spec["fixed"] = {**chosen.fixed, **dict(fixed or {})}
    if isinstance(starts, str) and starts == "varpro":  # variable projection (lawfit.methods.varpro)
        from .methods.varpro import varpro_starts

        spec["starts"] = varpro_starts(law_obj, residual=chosen.residual or law_obj.residual)
    if chosen.applied and progress:
        print(f"lawfit: {chosen.applied}", file=sys.stderr)
    if _is_dask(data) or scheduler is not None:
        if y is not None and not isinstance(y, str):
            raise TypeError("with Dask data y must be a column name")
        return _fit_dask(data, law_obj, spec, scheduler, progress)
    source = data if isinstance(data, (str, os.PathLike)) else None
    df = load_table(data)
    if y is not None and not isinstance(y, str):  # one value per row instead of a column name
        values = np.asarray(y) if not hasattr(y, "to_numpy") else y.to_numpy()
        if values.ndim != 1 or values.shape[0] != len(df):
            raise ValueError(f"y must be a column name or one value per row ({len(df)}), "
                             f"got an array of shape {values.shape}")
        name = "y" if "y" not in df.columns else "_y"
        df = df.assign(**{name: values})
        spec["y"] = name
    return _fit_frame(df, law_obj, spec, progress=progress, source=source)


def _fit_frame(df, law: Law, spec: dict, *, progress: bool = True, source=None, warn: bool = True) -> FitResult:
    """The in-process fit of one table (also what every Dask partition runs)."""
    by, x_cols, y = spec["by"], spec["x_cols"], spec["y"]
    sigma = spec["sigma"]
    batch = _Batch(df, law, x_cols, y, by, sigma, spec["bootstrap_by"], spec["nan_policy"], source)
    options = law.options(loss=spec["loss"], delta=spec["delta"], residual=spec["residual"],
                          max_nfev=spec["max_nfev"], device=spec["device"], n_threads=spec["n_threads"],
                          jit=spec["jit"])
    loss, delta, residual = options.loss, options.delta, options.residual
    fixed_values, fixed_names = _fixed(law, spec["fixed"])
    lower, upper = law._bound_arrays(spec["bounds"])
    settings = dict(loss=loss, delta=delta, residual=residual, level=spec["level"], ci=spec["ci"],
                    bootstrap=spec["bootstrap"], seed=spec["seed"], device=spec["device"],
                    nan_policy=spec["nan_policy"], n_dropped=batch.n_dropped,
                    bootstrap_by=",".join(spec["bootstrap_by"]) or None, recipe=spec.get("recipe") or None)

    if spec["shared"]:
        return _fit_shared_frame(batch, law, spec, settings, loss, delta, residual, fixed_values,
                                 progress=progress, warn=warn)

    starts = _starts_for(law, batch, spec["starts"], spec["n_starts"], fixed_values, spec["bounds"], spec["seed"])
    prog = Progress(progress)
    prog.stage("fit")
    ms = fit_data(batch.to_data(law.program), starts, options, lower=lower, upper=upper,
                  fixed=fixed_names or None, prune=spec["prune"], seed=spec["seed"], warn=False,
                  progress=prog.callback)
    boot = None
    if spec["bootstrap"]:
        prog.stage("bootstrap")
        boot = _bootstrap(ms, spec["bootstrap"], seed=spec["seed"], group=batch.boot_labels,
                          law_key=_law_keys(batch.keys),
                          jackknife=spec["ci"] == "bca", progress=prog.callback)
    with warnings.catch_warnings():
        if boot is not None:  # the covariance's caveats do not matter: the bootstrap gives the intervals
            warnings.simplefilter("ignore", LawfitWarning)
        inverse = free_block_inverse(ms.jtj, ms.fixed_rows)  # one inversion for the covariance and the screen
        screen = inverse_diagonals(inverse)  # before the covariance takes the matrices over
        with np.errstate(invalid="ignore", divide="ignore"):
            cov = ms.covariance(kind="auto", absolute_sigma=spec["absolute_sigma"], inverse=inverse)
            gof = goodness_of_fit(ms)
    identified, why = identifiability(ms.jtj, np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1)), ms.fixed_rows,
                                      ms.converged, list(law.params), batch.distinct_inputs, batch.n_points,
                                      inverse=screen)
    result = _assemble(batch, law, spec, settings, est=ms.params, cov=cov, status=ms.status, cost=ms.cost,
                       n_starts=ms.n_run,
                       n_converged=ms.n_converged, basin=ms.basin_count, gof=gof,
                       replicates=None if boot is None else boot.params,
                       boot_status=None if boot is None else boot.status,
                       n_free=ms.n_free, multistart=ms, boot=boot,
                       identified=identified, identified_reason=why)
    prog.close(result.summary + (f"; {batch.n_dropped:,} rows with missing values dropped" if batch.n_dropped else ""))
    if warn:
        detail = _first_failure(result)
        if detail and spec["nan_policy"] == "propagate" and any(
                r.startswith("missing value") for r, ok in zip(result.reason, result.converged) if not ok):
            detail += "; nan_policy='omit' skips such rows"
        if detail and spec["starts"] is None and not law.starts and int(np.max(np.asarray(ms.n_run), initial=0)) <= 1:
            detail = detail.rstrip(".") + ("; every parameter started at 1 (scipy's default: the law has no start "
                                           "grid): pass a grid, starts={name: [values, ...]}, or finite bounds "
                                           "and starts='sobol'")
        warn_failures(result.status, detail=detail)
    return result


def _first_failure(result: FitResult) -> Optional[str]:
    """The first failed group and its reason, for the batch's one warning."""
    failed = np.flatnonzero(~result.converged)
    if not failed.size:
        return None
    g = int(failed[0])
    keys = result.keys
    label = ", ".join(f"{c}={_py(keys[c].iloc[g])!r}" for c in keys.columns) if len(keys.columns) else "the data"
    more = f"; see .params['reason'] for the other {failed.size - 1}" if failed.size > 1 else ""
    return f"{label}: {result.reason[g]}{more}"


def _assemble(batch: _Batch, law: Law, spec, settings, *, est, cov, status, cost, n_starts, n_converged,
              basin, gof, replicates, boot_status, n_free, multistart, boot, identified=None,
              identified_reason=None) -> FitResult:
    """The FitResult of per-group arrays; intervals from the bootstrap replicates or the covariance."""
    level = spec["level"]
    G = batch.n_groups
    with np.errstate(invalid="ignore"):
        se_cov = np.sqrt(np.clip(np.diagonal(cov, axis1=-2, axis2=-1), 0.0, None))
    if replicates is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a failed group's replicates are all NaN
            se = replicates.stderr()
            method = spec["ci"] if replicates.jackknife is not None else "percentile"
            lo, hi = replicates.interval(level, method)
        reps, jack, jack_law = replicates.replicates, replicates.jackknife, replicates.jack_law
    else:
        se = se_cov
        lo, hi = wald_interval(est, se, level)
        reps = jack = jack_law = None
    reasons = batch.reasons(law.program, status, np.broadcast_to(n_free, (G,)), settings["residual"])
    if identified is None:
        identified, identified_reason = np.ones(G, dtype=bool), [""] * G
    sigma = spec["sigma"]
    return FitResult(
        law=law, keys=batch.keys, by=spec["by"], x=spec["x_cols"], y=spec["y"],
        sigma=sigma if isinstance(sigma, str) else ("sigma" if sigma is not None else None),
        data=batch.frame, est=est, stderr=se, low=lo, high=hi, cov=cov, status=status, reason=reasons,
        cost=cost, n_points=batch.n_points, n_starts=n_starts, n_converged=n_converged, basin_count=basin,
        gof={k: gof[k] for k in ("rss", "r2", "log_likelihood", "aic", "bic")}, replicates=reps,
        boot_status=boot_status, jack=jack, jack_law=jack_law, settings=settings, multistart=multistart,
        bootstrap_result=boot, shared=spec["shared"], identified=identified,
        identified_reason=identified_reason)


def _fit_shared_frame(batch: _Batch, law: Law, spec, settings, loss, delta, residual, fixed_values, *,
                      progress, warn) -> FitResult:
    """One joint law over all groups with some parameters shared (lawfit.fit_shared)."""
    from .catalog import fit_shared
    from .catalog.shared import shared_program

    shared = spec["shared"]
    G = batch.n_groups
    names = list(law.params)
    codes = batch.frame["_group"].to_numpy()
    prog = Progress(progress)
    prog.stage("fit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LawfitWarning)
        sf = fit_shared(law, batch.inputs, batch.y, groups=codes, shared=shared, sigma=batch.sigma,
                        fixed=fixed_values, loss=loss, delta=delta, residual=residual,
                        absolute_sigma=spec["absolute_sigma"], n_threads=spec["n_threads"])
    program, jnames, indicators, index = shared_program(law, shared, G)
    onehot = (codes[None, :] == np.arange(G)[:, None]).astype(float)
    joint_inputs = {**batch.inputs, **dict(zip(indicators, onehot))}
    lower, upper = law._bound_arrays(spec["bounds"])
    jidx = np.empty((G, len(names)), dtype=np.int64)
    for i, p in enumerate(names):
        jidx[:, i] = index[p]
    jl, ju = np.empty(len(jnames)), np.empty(len(jnames))
    for i in range(len(names)):
        jl[jidx[:, i]], ju[jidx[:, i]] = lower[i], upper[i]
    jfixed = [jnames[j] for p in fixed_values for j in np.unique(jidx[:, names.index(p)])]
    p0 = np.where(np.isfinite(sf.popt), sf.popt, 0.5 * (np.clip(jl, -1e300, 1e300) + np.clip(ju, -1e300, 1e300)))
    ms = fit_multistart(program, joint_inputs, batch.y, np.clip(p0, jl, ju)[None, :], sigma=batch.sigma,
                        loss=loss, delta=delta, residual=residual, lower=jl, upper=ju, fixed=jfixed or None,
                        max_nfev=spec["max_nfev"], n_threads=spec["n_threads"], device=spec["device"], warn=False,
                        jit=spec["jit"])
    boot = None
    if spec["bootstrap"]:
        boot = _bootstrap(ms, spec["bootstrap"], seed=spec["seed"], group=batch.boot_labels,
                          law_key=None,  # one joint law over every group
                          jackknife=spec["ci"] == "bca")
    with warnings.catch_warnings():
        if boot is not None:
            warnings.simplefilter("ignore", LawfitWarning)
        with np.errstate(invalid="ignore", divide="ignore"):
            jcov = ms.covariance(kind="auto", absolute_sigma=spec["absolute_sigma"])[0]
            jgof = goodness_of_fit(ms)
    est = ms.params[0][jidx]
    cov = jcov[jidx[:, :, None], jidx[:, None, :]]
    gof = {k: np.full(G, float(np.asarray(v, dtype=float)[0])) for k, v in jgof.items()}
    replicates = boot_status = None
    if boot is not None:
        from .bootstrap import Replicates

        reps = np.moveaxis(boot.params.replicates[0][:, jidx], 1, 0)  # (G, R, P)
        jack = jack_law = None
        if boot.jack_params is not None:
            J = boot.jack_params.shape[0]
            jack = np.moveaxis(boot.jack_params[:, jidx], 1, 0).reshape(G * J, len(names))
            jack_law = np.repeat(np.arange(G), J)
        replicates = Replicates(est, reps, jack, jack_law, names=names)
        boot_status = np.repeat(boot.status, G, axis=0)
    settings = dict(settings, shared=",".join(shared), joint_parameters=len(jnames))
    status = np.full(G, ms.status[0], dtype=np.int32)
    # One joint law: every group is as identifiable as it is.
    ok, why = identifiability(ms.jtj, np.sqrt(np.diagonal(jcov, axis1=-2, axis2=-1))[None], ms.fixed_rows,
                              ms.converged, list(jnames))
    result = _assemble(batch, law, spec, settings, est=est, cov=cov, status=status,
                       identified=np.repeat(ok, G), identified_reason=why * G,
                       cost=np.full(G, ms.cost[0]), n_starts=np.full(G, 1 + G), n_converged=np.full(G, 1),
                       basin=np.full(G, 1), gof=gof, replicates=replicates, boot_status=boot_status,
                       n_free=int(ms.n_free[0]), multistart=ms, boot=boot)
    prog.close(result.summary + f" (joint fit, shared {', '.join(shared)})")
    if warn:
        warn_failures(result.status[:1], detail=_first_failure(result))
    return result


# --------------------------------------------------------------------------
# Dask: groups per partition, fitted on the workers


def _fit_partition(pdf, law: Law, spec: dict):
    """Fit one partition's groups (runs on a worker); None for an empty partition."""
    if pdf is None or len(pdf) == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LawfitWarning)
        return _fit_frame(pdf, law, spec, progress=False, warn=False)


def _fit_dask(data, law: Law, spec: dict, scheduler, progress: bool) -> FitResult:
    try:
        import dask
    except ImportError as exc:
        raise ImportError("fitting on Dask needs dask: pip install lawfit[dask]") from exc
    if spec["shared"]:
        raise ValueError("shared= makes one joint law over all groups; it cannot be split over Dask partitions")
    by = spec["by"]
    t0 = time.perf_counter()
    if _is_dask(data):
        ddf = data
        if not by:
            ddf = ddf.repartition(npartitions=1)
        elif ddf.npartitions > 1:
            ddf = ddf.shuffle(on=by)  # every group in one partition
        parts = [dask.delayed(_fit_partition)(p, law, spec) for p in ddf.to_delayed()]
        if scheduler is not None:
            futures = scheduler.compute(parts)
            results = _gather(scheduler, futures, progress)
        else:
            results = list(dask.compute(*parts))
    else:
        df = load_table(data)
        n_workers = max(1, len(scheduler.scheduler_info().get("workers", {})))
        if by:
            codes = df.groupby(by, sort=True, dropna=False, observed=True).ngroup().to_numpy()
            n_chunks = max(1, min(int(codes.max()) + 1, 2 * n_workers))
            chunk_of = codes % n_chunks
        else:
            n_chunks, chunk_of = 1, np.zeros(len(df), dtype=np.int64)
        pieces = [df[chunk_of == k] for k in range(n_chunks)]
        futures = [scheduler.submit(_fit_partition, p, law, spec, pure=False) for p in pieces]
        results = _gather(scheduler, futures, progress)
    result = FitResult.concat([r for r in results if r is not None])
    result.settings["dask_partitions"] = len(results)
    result.settings["n_dropped"] = sum(int(r.settings.get("n_dropped", 0)) for r in results if r is not None)
    if progress:
        print(f"lawfit: {result.summary} (dask, {len(results)} partitions, {time.perf_counter() - t0:.2f} s)",
              file=sys.stderr)
    warn_failures(result.status)
    return result


def _gather(client, futures, progress: bool):
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(futures), desc="lawfit partitions", leave=False, file=sys.stderr)
        except ImportError:
            bar = None
    if bar is not None:
        from dask.distributed import as_completed

        for _ in as_completed(futures):
            bar.update(1)
        bar.close()
    return client.gather(futures)
