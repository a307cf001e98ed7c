"""Reader for the NIST StRD nonlinear least-squares reference problems.

The NIST Statistical Reference Datasets (StRD) for nonlinear regression are
27 small curve-fitting problems, each distributed as one ``.dat`` text file
holding the model, two sets of starting values, certified parameter values
and standard deviations (computed by NIST in 128-bit arithmetic), the
certified residual sum of squares and the observations.

The data files are not shipped with lawfit.  :func:`load_nist_strd` looks for
them in, in order: the ``data_dir`` argument, the directory named by the
``LAWFIT_DATA`` environment variable, and ``shared/data`` next to a source
checkout.  A data directory may hold the ``.dat`` files directly or in a
``nist-strd`` subdirectory.

Everything is parsed from the file text: the header states the line ranges
of the starting/certified values and of the data, the model statement is
read from the ``Model:`` block and turned into a lawfit formula string
(NIST's ``exp[...]`` brackets become parentheses, ``.5`` becomes ``0.5``,
the trailing ``+ e`` error term is dropped, a ``pi = 3.14159...`` definition
is replaced by the built-in constant ``pi``).

Two problems need more than "y = f(x)":

* ``Nelson`` has two predictors ``x1`` and ``x2``; its formula uses those
  names, ``inputs`` is ``("x1", "x2")`` and ``x`` has shape ``(2, n)`` (the
  scipy ``curve_fit`` convention for several predictors).
* ``Nelson`` models ``log[y]``; the certified values are those of the fit
  of ``log(y)``, so ``y`` holds ``log`` of the observed response (the raw
  response is kept in ``y_observed``) and ``response`` is ``"log(y)"``.

Scoring helpers: :func:`lre` is the log relative error of McCullough (1998,
"Assessing the reliability of statistical software: Part I", The American
Statistician 52(4)), and :func:`score_fit` applies it to a fit.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "NistProblem",
    "load_nist_strd",
    "nist_problem_names",
    "nist_data_dir",
    "NIST_PROBLEMS",
    "lre",
    "score_fit",
    "passes",
    "CERTIFIED_DIGITS",
    "PARAM_LRE_MIN",
    "STDDEV_LRE_MIN",
]

#: The 27 problems in NIST's own listing order (by level of difficulty).
NIST_PROBLEMS: Tuple[str, ...] = (
    # lower difficulty
    "Misra1a", "Chwirut2", "Chwirut1", "Lanczos3", "Gauss1", "Gauss2",
    "DanWood", "Misra1b",
    # average difficulty
    "Kirby2", "Hahn1", "Nelson", "MGH17", "Lanczos1", "Lanczos2", "Gauss3",
    "Misra1c", "Misra1d", "Roszman1", "ENSO",
    # higher difficulty
    "MGH09", "Thurber", "BoxBOD", "Rat42", "MGH10", "Eckerle4", "Rat43",
    "Bennett5",
)

#: NIST certifies every value to 11 significant digits.
CERTIFIED_DIGITS = 11.0
#: Default pass thresholds on the minimum LRE (see :func:`passes`).
PARAM_LRE_MIN = 6.0
STDDEV_LRE_MIN = 4.0

_FUNCTIONS = ("exp", "log", "sqrt", "sin", "cos", "arctan")


@dataclass
class NistProblem:
    """One NIST StRD nonlinear regression problem, parsed from its file."""

    name: str
    formula: str
    param_names: List[str]
    x: np.ndarray
    y: np.ndarray
    start1: np.ndarray
    start2: np.ndarray
    certified_values: np.ndarray
    certified_stddev: np.ndarray
    residual_sum_of_squares: float
    residual_std: float
    dof: int
    n_obs: int
    difficulty: str
    inputs: Tuple[str, ...] = ("x",)
    response: str = "y"
    y_observed: Optional[np.ndarray] = None
    model_text: str = ""
    path: Optional[Path] = None
    model_class: str = ""

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    @property
    def starts(self) -> Tuple[np.ndarray, np.ndarray]:
        return (self.start1, self.start2)

    def start(self, which: int) -> np.ndarray:
        """Starting values ``1`` or ``2``."""
        if which == 1:
            return self.start1
        if which == 2:
            return self.start2
        raise ValueError(f"NIST problems have starts 1 and 2, not {which!r}")


# ---------------------------------------------------------------------------
# locating the files


def _default_data_dirs() -> List[Path]:
    dirs: List[Path] = []
    env = os.environ.get("LAWFIT_DATA")
    if env:
        dirs.append(Path(env).expanduser())
    # python/lawfit/datasets/nist.py -> repository root -> ../shared/data
    here = Path(__file__).resolve()
    if len(here.parents) > 3:
        dirs.append(here.parents[3].parent / "shared" / "data")
    return dirs


def _resolve_dir(d: Union[str, os.PathLike]) -> Path:
    """A data directory may hold the .dat files or a nist-strd subfolder."""
    d = Path(d).expanduser()
    sub = d / "nist-strd"
    if sub.is_dir():
        return sub
    return d


def nist_data_dir(data_dir: Union[str, os.PathLike, None] = None) -> Path:
    """The directory holding the NIST ``.dat`` files.

    Raises FileNotFoundError (naming every place looked at) when none has them.
    """
    candidates = [Path(data_dir)] if data_dir is not None else _default_data_dirs()
    tried = []
    for c in candidates:
        d = _resolve_dir(c)
        tried.append(str(d))
        if d.is_dir() and any(d.glob("*.dat")):
            return d
    raise FileNotFoundError(
        "NIST StRD data directory not found (looked in: "
        + (", ".join(tried) if tried else "nowhere: pass data_dir or set LAWFIT_DATA")
        + ")"
    )


def nist_problem_names(data_dir: Union[str, os.PathLike, None] = None) -> List[str]:
    """Names of the problems whose ``.dat`` file is present, NIST's order first."""
    d = nist_data_dir(data_dir)
    present = {p.stem: p for p in d.glob("*.dat") if p.is_file()}
    order = {n.lower(): i for i, n in enumerate(NIST_PROBLEMS)}
    return sorted(present, key=lambda n: (order.get(n.lower(), len(order)), n.lower()))


def _find_file(name_or_path: Union[str, os.PathLike], data_dir) -> Path:
    p = Path(name_or_path).expanduser()
    looks_like_path = (
        isinstance(name_or_path, os.PathLike)
        or p.suffix.lower() == ".dat"
        or len(p.parts) > 1
    )
    if looks_like_path:
        if p.is_file():
            return p
        raise FileNotFoundError(f"NIST StRD file not found: {p}")
    name = str(name_or_path)
    d = nist_data_dir(data_dir)
    exact = d / f"{name}.dat"
    if exact.is_file():
        return exact
    for q in d.glob("*.dat"):
        if q.stem.lower() == name.lower():
            return q
    raise FileNotFoundError(f"NIST StRD problem {name!r} not found: no file {exact}")


# ---------------------------------------------------------------------------
# parsing

_FLOAT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eEdD][-+]?\d+)?"


def _to_float(tok: str) -> float:
    return float(tok.replace("D", "E").replace("d", "e"))


def _line_range(text: str, label: str, path) -> Tuple[int, int]:
    m = re.search(label + r"\s*\(\s*lines\s+(\d+)\s+to\s+(\d+)\s*\)", text, re.I)
    if not m:
        raise ValueError(f"{path}: header has no '{label} (lines a to b)' entry")
    return int(m.group(1)), int(m.group(2))


def _header_int(text: str, pattern: str, path) -> int:
    m = re.search(pattern, text, re.I)
    if not m:
        raise ValueError(f"{path}: cannot find {pattern!r}")
    return int(m.group(1))


def _header_float(text: str, label: str, path) -> float:
    m = re.search(label + r"\s*:\s*(" + _FLOAT + ")", text, re.I)
    if not m:
        raise ValueError(f"{path}: cannot find '{label}:'")
    return _to_float(m.group(1))


_NUMBER_RE = re.compile(r"(?<![\w.])(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _normalise_numbers(expr: str) -> str:
    def fix(m: re.Match) -> str:
        mant, exp = m.group(1), m.group(2) or ""
        if mant.startswith("."):
            mant = "0" + mant
        if mant.endswith("."):
            mant = mant + "0"
        return mant + exp

    return _NUMBER_RE.sub(fix, expr)


_TOKEN_RE = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op>\*\*|[-+*/()]))"
)


def _check_formula(expr: str, allowed_names: Sequence[str], path) -> None:
    """Refuse anything outside the small formula grammar lawfit accepts."""
    pos, depth = 0, 0
    allowed = set(allowed_names) | set(_FUNCTIONS) | {"pi"}
    while pos < len(expr):
        m = _TOKEN_RE.match(expr, pos)
        if not m or m.end() == pos:
            raise ValueError(f"{path}: unexpected text in model at {expr[pos:]!r}")
        pos = m.end()
        if m.group("name") and m.group("name") not in allowed:
            raise ValueError(f"{path}: unknown name {m.group('name')!r} in model {expr!r}")
        op = m.group("op")
        if op == "(":
            depth += 1
        elif op == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"{path}: unbalanced parentheses in model {expr!r}")
    if depth:
        raise ValueError(f"{path}: unbalanced parentheses in model {expr!r}")


def _parse_model(lines: List[str], path) -> Tuple[str, str, str, str, Dict[str, float]]:
    """Returns (lhs, rhs, raw model text, model class, constants)."""
    start = None
    for i, ln in enumerate(lines):
        if re.match(r"\s*Model\s*:", ln):
            start = i
            break
    if start is None:
        raise ValueError(f"{path}: no 'Model:' block")
    model_class = lines[start].split(":", 1)[1].strip()
    block: List[str] = []
    for ln in lines[start + 1:]:
        if re.search(r"starting\s+values", ln, re.I):
            break
        block.append(ln)
    # Statements: a line with "=" starts one, following non-blank lines
    # without a new "lhs =" continue it (Hahn1, Kirby2, Thurber, Gauss*, ENSO).
    statements: List[str] = []
    current: Optional[List[str]] = None
    for ln in block:
        s = ln.strip()
        if not s:
            if current is not None:
                statements.append(" ".join(current))
                current = None
            continue
        if re.match(r"\d+\s+Parameters?\b", s, re.I):
            continue
        if re.match(r"^[A-Za-z_][\w\[\]()]*\s*=", s):
            if current is not None:
                statements.append(" ".join(current))
            current = [s]
        elif current is not None:
            current.append(s)
    if current is not None:
        statements.append(" ".join(current))

    constants: Dict[str, float] = {}
    model = None
    for st in statements:
        lhs, rhs = (t.strip() for t in st.split("=", 1))
        lhs_norm = lhs.replace("[", "(").replace("]", ")").replace(" ", "")
        if lhs_norm in ("y", "log(y)", "ln(y)"):
            if model is not None:
                raise ValueError(f"{path}: more than one model statement")
            model = (lhs_norm, rhs)
        elif re.fullmatch(r"[A-Za-z_]\w*", lhs) and re.fullmatch(_FLOAT, rhs):
            constants[lhs] = _to_float(rhs)
        else:
            raise ValueError(f"{path}: cannot interpret model line {st!r}")
    if model is None:
        raise ValueError(f"{path}: no 'y = ...' statement in the Model block")
    raw = "\n".join(b.rstrip() for b in block).strip("\n")
    return model[0], model[1], raw, model_class, constants


def _formula_from_rhs(rhs: str, constants: Dict[str, float], names, path) -> str:
    expr = rhs.replace("[", "(").replace("]", ")")
    # drop the additive error term "+ e" at the end
    expr, n = re.subn(r"\+\s*e\s*$", "", expr.strip())
    if n != 1:
        raise ValueError(f"{path}: model {rhs!r} does not end in '+ e'")
    expr = _normalise_numbers(expr)
    for cname, cval in constants.items():
        if cname == "pi":
            if abs(cval - math.pi) > 1e-15 * math.pi:
                raise ValueError(f"{path}: pi defined as {cval!r}")
            continue  # the built-in pi is the same number
        expr = re.sub(rf"\b{re.escape(cname)}\b", f"({cval!r})", expr)
    expr = re.sub(r"\s+", "", expr)
    _check_formula(expr, names, path)
    return expr


def _parse_dat(text: str, path) -> NistProblem:
    lines = text.splitlines()

    def line(i: int) -> str:  # 1-based, as in the file header
        return lines[i - 1] if 0 < i <= len(lines) else ""

    header = "\n".join(lines[:60])
    m = re.search(r"Dataset\s+Name\s*:\s*(\S+)", text, re.I)
    name = m.group(1) if m else Path(str(path)).stem

    s_lo, s_hi = _line_range(text, r"Starting\s+Values", path)
    c_lo, c_hi = _line_range(text, r"Certified\s+Values", path)
    d_lo, d_hi = _line_range(text, r"Data", path)

    m = re.search(r"\b(Lower|Average|Higher)\s+Level\s+of\s+Difficulty", text, re.I)
    if not m:
        raise ValueError(f"{path}: no 'Level of Difficulty' line")
    difficulty = m.group(1).lower()

    n_obs_header = _header_int(header, r"(\d+)\s+Observations", path)
    n_par_header = _header_int(header, r"(\d+)\s+Parameters", path)
    n_pred = _header_int(header, r"(\d+)\s+Predictors?", path)

    # parameter table: "b1 = start1 start2 certified stddev"
    pnames: List[str] = []
    table: List[List[float]] = []
    for i in range(s_lo, s_hi + 1):
        m = re.match(r"\s*(b\d+)\s*=\s*(.*)$", line(i))
        if not m:
            raise ValueError(f"{path}: line {i} is not a parameter line: {line(i)!r}")
        vals = [_to_float(t) for t in m.group(2).split()]
        if len(vals) != 4:
            raise ValueError(f"{path}: line {i}: expected 4 numbers, got {vals}")
        pnames.append(m.group(1))
        table.append(vals)
    if len(pnames) != n_par_header:
        raise ValueError(f"{path}: header says {n_par_header} parameters, table has {len(pnames)}")
    if pnames != [f"b{k + 1}" for k in range(len(pnames))]:
        raise ValueError(f"{path}: parameters not named b1..bk: {pnames}")
    tab = np.array(table, dtype=np.float64)

    cert_text = "\n".join(line(i) for i in range(c_lo, c_hi + 1))
    rss = _header_float(cert_text, r"Residual\s+Sum\s+of\s+Squares", path)
    rsd = _header_float(cert_text, r"Residual\s+Standard\s+Deviation", path)
    dof = _header_int(cert_text, r"Degrees\s+of\s+Freedom\s*:\s*(\d+)", path)
    n_obs_cert = _header_int(cert_text, r"Number\s+of\s+Observations\s*:\s*(\d+)", path)

    # the column header just above the data: "Data:  y  x" or "Data: y x1 x2"
    cols = None
    for i in range(d_lo - 1, 0, -1):
        m = re.match(r"\s*Data\s*:\s*(.*)$", line(i))
        if m and re.fullmatch(r"[A-Za-z]\w*(\s+[A-Za-z]\w*)*", m.group(1).strip()):
            cols = m.group(1).split()
            break
        if line(i).strip():
            break
    if cols is None:
        cols = ["y"] + (["x"] if n_pred == 1 else [f"x{k + 1}" for k in range(n_pred)])
    if cols[0] != "y" or len(cols) != 1 + n_pred:
        raise ValueError(f"{path}: unexpected data columns {cols} for {n_pred} predictor(s)")
    inputs = tuple(cols[1:])

    rows = []
    for i in range(d_lo, d_hi + 1):
        s = line(i).strip()
        if not s:
            continue
        vals = [_to_float(t) for t in s.split()]
        if len(vals) != len(cols):
            raise ValueError(f"{path}: data line {i} has {len(vals)} columns, expected {len(cols)}")
        rows.append(vals)
    data = np.array(rows, dtype=np.float64).reshape(-1, len(cols))
    n_obs = data.shape[0]
    if n_obs != n_obs_header or n_obs != n_obs_cert:
        raise ValueError(
            f"{path}: read {n_obs} observations, header says {n_obs_header} / {n_obs_cert}"
        )

    lhs, rhs, raw_model, model_class, constants = _parse_model(lines, path)
    formula = _formula_from_rhs(rhs, constants, list(pnames) + list(inputs), path)

    y_obs = np.ascontiguousarray(data[:, 0])
    if lhs == "y":
        y, response = y_obs, "y"
    else:  # log[y] (Nelson): the certified fit is of log(y)
        y, response = np.log(y_obs), "log(y)"
    x = np.ascontiguousarray(data[:, 1]) if n_pred == 1 else np.ascontiguousarray(data[:, 1:].T)

    return NistProblem(
        name=name,
        formula=formula,
        param_names=pnames,
        x=x,
        y=y,
        start1=np.ascontiguousarray(tab[:, 0]),
        start2=np.ascontiguousarray(tab[:, 1]),
        certified_values=np.ascontiguousarray(tab[:, 2]),
        certified_stddev=np.ascontiguousarray(tab[:, 3]),
        residual_sum_of_squares=rss,
        residual_std=rsd,
        dof=dof,
        n_obs=n_obs,
        difficulty=difficulty,
        inputs=inputs,
        response=response,
        y_observed=y_obs,
        model_text=raw_model,
        path=Path(str(path)),
        model_class=model_class,
    )


def load_nist_strd(
    name_or_path: Union[str, os.PathLike], data_dir: Union[str, os.PathLike, None] = None
) -> NistProblem:
    """Load one NIST StRD problem by name (``"Misra1a"``, case-insensitive) or path.

    ``data_dir`` overrides the search for the data directory (see the module
    docstring).  Raises FileNotFoundError naming the path when it is missing.
    """
    path = _find_file(name_or_path, data_dir)
    return _parse_dat(path.read_text(encoding="ascii", errors="replace"), path)


# ---------------------------------------------------------------------------
# scoring


def lre(estimate, certified, digits: float = CERTIFIED_DIGITS) -> np.ndarray:
    """Log relative error, elementwise (McCullough 1998).

    ``LRE = -log10(|estimate - certified| / |certified|)`` (the absolute error
    where the certified value is 0), capped at ``digits``; set to 0 where it
    is below 1 (not even one correct digit) or the estimate is not finite.
    Returns a float64 array (0-d for scalar input).
    """
    est = np.asarray(estimate, dtype=np.float64)
    cert = np.asarray(certified, dtype=np.float64)
    est, cert = np.broadcast_arrays(est, cert)
    with np.errstate(all="ignore"):
        err = np.abs(est - cert)
        rel = np.where(cert != 0.0, err / np.abs(cert), err)
        out = np.where(rel > 0.0, -np.log10(rel), digits)
    out = np.where(np.isfinite(est) & np.isfinite(out), out, 0.0)
    out = np.minimum(out, digits)
    out = np.where(out < 1.0, 0.0, out)
    return out


def score_fit(problem: NistProblem, popt, pcov=None, digits: float = CERTIFIED_DIGITS):
    """Minimum LRE over the parameters and over the standard deviations.

    The standard deviations are ``sqrt(diag(pcov))``; a missing or non-finite
    covariance scores 0.  Returns ``(min_lre_params, min_lre_stddev)``.
    """
    k = problem.n_params
    if popt is None:
        return 0.0, 0.0
    popt = np.asarray(popt, dtype=np.float64).reshape(-1)
    if popt.shape != (k,):
        return 0.0, 0.0
    lp = float(np.min(lre(popt, problem.certified_values, digits)))
    ls = 0.0
    if pcov is not None:
        pcov = np.asarray(pcov, dtype=np.float64)
        if pcov.shape == (k, k):
            with np.errstate(invalid="ignore"):
                sd = np.sqrt(np.diag(pcov))
            ls = float(np.min(lre(sd, problem.certified_stddev, digits)))
    return lp, ls


def passes(
    lre_params: float,
    lre_stddev: float,
    param_min: float = PARAM_LRE_MIN,
    stddev_min: float = STDDEV_LRE_MIN,
) -> bool:
    """The pass rule of lawfit's NIST acceptance test."""
    return lre_params >= param_min and lre_stddev >= stddev_min
