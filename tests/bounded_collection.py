"""Bounded curve fits from real protocols, run by lawfit and by scipy's 'trf' and 'dogbox'.

Every problem is a ``curve_fit`` call a study of scaling laws makes, on the
released collections in ``../shared/data`` (``$LAWFIT_DATA``):

* ``epoch``: Chinchilla's law ``E + A/N**alpha + B/D**beta`` on Epoch's
  replication data (Besiroglu et al. 2024, 240 runs), bounds from lawfit's
  catalog (E in [0, 20], A, B >= 0, exponents in [0, 3]: bounds at zero on
  the exponents), from 12 points of the catalog's 243-point start grid;
* ``epoch-few``: the same on the 8, 15 and 30 cheapest runs (few points);
* ``epoch-lse``: the log-parameterised form Hoffmann et al. fit (log loss =
  logsumexp(e, a - alpha log N, b - beta log D)), exponents in [0, 10], the
  other parameters free (half-open bounds), from 6 points of its 4,500 grid;
* ``colpret``: Chinchilla's law per scaled set of the Hitchhiker's collection
  (Choshen et al. 2024; at most 2,000 points per set, evenly spaced), from
  the grid's centre, and on each set's 10 cheapest points;
* ``gadre``: Gadre et al.'s over-training law ``E + (a M**eta + b M**-eta)
  C**-eta`` per dataset, from 6 grid points;
* ``clip``: Cherti/LAION's ``a (C + b)**c + d`` (b >= 0, c in [-5, 0]) per
  model family, from the catalog's data-dependent starts.

:func:`run_collection` fits each with ``lawfit.curve_fit`` (traced numpy
model; projected Levenberg-Marquardt) and ``scipy.optimize.curve_fit`` with
``method="trf"`` and ``"dogbox"``, all at default arguments, and records
whether each converged (no exception) and its cost.  :func:`report` prints
the comparison.
"""
from __future__ import annotations

import functools
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np


def data_root() -> Path | None:
    env = os.environ.get("LAWFIT_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return root if (root / "epoch_chinchilla").is_dir() else None


# ------------------------------------------------------------------ models (what a user hands curve_fit)


def chinchilla(X, E, A, alpha, B, beta):
    N, D = X
    return E + A / N**alpha + B / D**beta


def chinchilla_lse(X, e, a, alpha, b, beta):
    N, D = X
    return np.logaddexp(np.logaddexp(a - alpha * np.log(N), b - beta * np.log(D)), e)


def gadre(X, E, a, b, eta):
    C, M = X
    return E + (a * M**eta + b * M**-eta) * C**-eta


def clip_mammut(C, a, b, c, d):
    return a * (C + b) ** c + d


@dataclass
class Problem:
    name: str
    f: Callable
    x: np.ndarray
    y: np.ndarray
    p0: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def cost(self, p) -> float:
        with np.errstate(all="ignore"):
            r = self.f(self.x, *p) - self.y
        return float(r @ r) if np.all(np.isfinite(r)) else np.inf


@dataclass
class Outcome:
    converged: bool
    cost: float = np.inf
    seconds: float = 0.0
    error: str = ""
    params: np.ndarray | None = field(default=None, repr=False)


def _bounds(law_name: str, names) -> tuple[np.ndarray, np.ndarray]:
    import lawfit

    law = lawfit.laws[law_name]
    lo = np.array([law.bounds.get(p, (-np.inf, np.inf))[0] for p in names], float)
    hi = np.array([law.bounds.get(p, (-np.inf, np.inf))[1] for p in names], float)
    return lo, hi


def _grid(law_name: str, picks) -> np.ndarray:
    import lawfit

    grid = lawfit.laws[law_name].start_grid()
    return grid[np.asarray(picks) % len(grid)]


def _start(p0, lo, hi) -> np.ndarray:
    """A start strictly inside the bounds (trf needs it feasible; on a bound is allowed)."""
    return np.clip(np.asarray(p0, float), lo, hi)


@functools.lru_cache(maxsize=None)
def problems() -> tuple[Problem, ...]:
    import lawfit.datasets as ds

    root = data_root()
    if root is None:
        return ()
    out: list[Problem] = []
    names = ("E", "A", "alpha", "B", "beta")
    lo, hi = _bounds("chinchilla", names)

    epoch = ds.load_epoch_chinchilla(replication=True).sort_values("C")
    X = epoch[["N", "D"]].to_numpy(float).T
    y = epoch["loss"].to_numpy(float)
    for k in np.linspace(0, 242, 12).astype(int):
        out.append(Problem(f"epoch start {k}", chinchilla, X, y, _start(_grid("chinchilla", [k])[0], lo, hi), lo, hi))
    for n in (8, 15, 30):
        for k in (40, 121, 202):
            out.append(Problem(f"epoch-few {n} points start {k}", chinchilla, X[:, :n], y[:n],
                               _start(_grid("chinchilla", [k])[0], lo, hi), lo, hi))

    lse_lo = np.array([-np.inf, -np.inf, 0.0, -np.inf, 0.0])
    lse_hi = np.array([np.inf, np.inf, 10.0, np.inf, 10.0])
    for k in (0, 901, 1802, 2703, 3604, 4499):
        p0 = _start(_grid("chinchilla_lse", [k])[0], lse_lo, lse_hi)
        out.append(Problem(f"epoch-lse start {k}", chinchilla_lse, X, np.log(y), p0, lse_lo, lse_hi))

    colpret = ds.load_hitchhiker_colpret(metric="loss").dropna(subset=["N", "D", "value", "scaled_set"])
    centre = _start([2.0, 1000.0, 0.4, 1000.0, 0.4], lo, hi)
    for name, g in sorted(colpret.groupby("scaled_set"), key=lambda kv: str(kv[0])):
        g = g.sort_values("C")
        if len(g) > 2000:
            g = g.iloc[np.linspace(0, len(g) - 1, 2000).astype(int)]
        Xg, yg = g[["N", "D"]].to_numpy(float).T, g["value"].to_numpy(float)
        out.append(Problem(f"colpret {name}", chinchilla, Xg, yg, centre, lo, hi))
        out.append(Problem(f"colpret-few {name} 10 points", chinchilla, Xg[:, :10], yg[:10], centre, lo, hi))

    gd = ds.load_gadre_overtraining()
    g_lo, g_hi = _bounds("gadre_overtraining", ("E", "a", "b", "eta"))
    for name, g in sorted(gd.groupby("dataset")):
        Xg, yg = g[["C", "M"]].to_numpy(float).T, g["loss"].to_numpy(float)
        for k in (10, 50, 100):
            out.append(Problem(f"gadre {name} start {k}", gadre, Xg, yg,
                               _start(_grid("gadre_overtraining", [k])[0], g_lo, g_hi), g_lo, g_hi))

    import lawfit

    clip = ds.load_laion_clip_mammut().dropna(subset=["C", "loss"])
    c_lo, c_hi = _bounds("clip_mammut", ("a", "b", "c", "d"))
    law = lawfit.laws["clip_mammut"]
    for name, g in sorted(clip.groupby("family")):
        g = g.groupby("C", as_index=False)["loss"].min().sort_values("C")  # the frontier
        xg, yg = g["C"].to_numpy(float), g["loss"].to_numpy(float)
        grid = law.start_grid(xg, yg)
        for k in np.linspace(0, len(grid) - 1, 4).astype(int):
            out.append(Problem(f"clip {name} start {k}", clip_mammut, xg, yg, _start(grid[k], c_lo, c_hi), c_lo, c_hi))
    return tuple(out)


# ------------------------------------------------------------------ running


def _run(call, problem: Problem) -> Outcome:
    t0 = time.perf_counter()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            p = np.asarray(call(problem)[0], float)
        except (RuntimeError, ValueError, np.linalg.LinAlgError) as exc:
            return Outcome(False, seconds=time.perf_counter() - t0, error=f"{type(exc).__name__}: {exc}"[:120])
    seconds = time.perf_counter() - t0
    return Outcome(bool(np.all(np.isfinite(p))), problem.cost(p), seconds, params=p)


def _lawfit(problem):
    import lawfit

    return lawfit.curve_fit(problem.f, problem.x, problem.y, p0=problem.p0, bounds=(problem.lower, problem.upper))


def _scipy(method):
    def call(problem):
        from scipy.optimize import curve_fit

        return curve_fit(problem.f, problem.x, problem.y, p0=problem.p0, bounds=(problem.lower, problem.upper),
                         method=method)
    return call


TOOLS = {"lawfit": _lawfit, "trf": _scipy("trf"), "dogbox": _scipy("dogbox")}


@functools.lru_cache(maxsize=None)
def run_collection() -> dict:
    """{tool: [Outcome per problem]} for lawfit, scipy trf and scipy dogbox."""
    return {tool: [_run(call, p) for p in problems()] for tool, call in TOOLS.items()}


def same_or_lower(a: float, b: float, rtol: float = 1e-7) -> bool:
    """Whether cost ``a`` is no higher than ``b`` (relative slack for rounding and scipy's stopping)."""
    return a <= b + rtol * abs(b) + 1e-300


def report() -> str:
    probs = problems()
    if not probs:
        return "bounded collection: data not found (set LAWFIT_DATA)\n"
    res = run_collection()
    lines = [f"{'problem':<44} {'lawfit':>12} {'trf':>12} {'dogbox':>12}  lawfit vs trf"]
    tally = {"lower": 0, "same": 0, "higher": 0, "trf failed": 0}
    for i, p in enumerate(probs):
        lf, trf, dog = (res[t][i] for t in TOOLS)
        cells = [f"{o.cost:12.6g}" if o.converged else f"{'fails':>12}" for o in (lf, trf, dog)]
        if not trf.converged:
            verdict = "trf failed"
        elif not lf.converged or not same_or_lower(lf.cost, trf.cost):
            verdict = "higher"
        elif lf.cost < trf.cost * (1 - 1e-7):
            verdict = "lower"
        else:
            verdict = "same"
        tally[verdict] += 1
        lines.append(f"{p.name[:44]:<44} {cells[0]} {cells[1]} {cells[2]}  {verdict}")
    conv = {t: sum(o.converged for o in res[t]) for t in TOOLS}
    secs = {t: sum(o.seconds for o in res[t]) for t in TOOLS}
    lines.append(f"{len(probs)} problems; converged: " + ", ".join(f"{t} {conv[t]}" for t in TOOLS))
    lines.append("lawfit vs trf: " + ", ".join(f"{k} {v}" for k, v in tally.items()))
    lines.append("seconds: " + ", ".join(f"{t} {secs[t]:.2f}" for t in TOOLS))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python tests/bounded_collection.py
    print(report())
