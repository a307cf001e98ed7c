"""NIST StRD nonlinear regression: accuracy in digits (LRE) for every tool.

The 27 problems of the NIST Statistical Reference Datasets, each from both of
NIST's starts, scored by the log relative error of the parameters to the
certified values (McCullough 1998; ``lawfit.datasets.nist.lre`` and
``score_fit``).  All tools run with ftol = xtol = 1e-15, as lawfit's NIST
acceptance test does (NIST certifies 11 digits; default tolerances would
measure the stopping rule, not the solver).  lawfit fits each problem's two
starts as one batch of its formula (as parsed from the NIST file); scipy
(``curve_fit`` lm and trf) and lmfit (``leastsq``) get the hand-written numpy
models of ``tests/nist_models.py`` (imported by path; their rows are skipped
when that file is not there, e.g. in an installed package).

A fit passes when its parameters have LRE >= 6 and its standard deviations
LRE >= 4 (the acceptance test's rule).  A failed fit counts against a tool
when another tool passes that problem and start; a row's check is ok when at
most 10% of its fits count against it (hard starts that defeat every tool,
such as MGH09 from start 1, do not).
"""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np

from ..core import Config, Row, have_module, quiet

TOL = {"ftol": 1e-15, "xtol": 1e-15}
MAX_BAD_SHARE = 0.10


def _nist_models(cfg: Config):
    candidates = []
    if cfg.repo_root:
        candidates.append(Path(cfg.repo_root) / "tests" / "nist_models.py")
    candidates.append(Path.cwd() / "tests" / "nist_models.py")
    for path in candidates:
        if path.is_file():
            spec = importlib.util.spec_from_file_location("_lawfit_bench_nist_models", path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            return mod
    return None


def _lawfit_pair(p, starts):
    """Both starts of one problem as a batch of one formula: [(popt, pcov) or None] * 2."""
    from ...curve_fit import curve_fit

    ys = [p.y, p.y]
    xs = [p.x, p.x]
    popt, pcov, status = curve_fit(p.formula, xs, ys, p0=np.array(starts), inputs=list(p.inputs),
                                   param_names=list(p.param_names), **TOL)
    return [(popt[k], pcov[k]) if np.all(np.isfinite(popt[k])) else None for k in range(len(starts))]


def _scipy(method, f):
    def fit(p, start):
        from scipy.optimize import curve_fit

        try:
            return curve_fit(f, p.x, p.y, p0=start, method=method, **TOL)
        except (RuntimeError, ValueError, np.linalg.LinAlgError):
            return None
    return fit


def _lmfit(f):
    def fit(p, start):
        import lmfit

        params = lmfit.Parameters()
        for name, v in zip(p.param_names, start):
            params.add(name, value=float(v))

        def resid(pars):
            return f(p.x, *[pars[n].value for n in p.param_names]) - p.y

        try:
            out = lmfit.minimize(resid, params, method="leastsq", **TOL)
        except (ValueError, TypeError, np.linalg.LinAlgError):
            return None
        if not out.success:
            return None
        popt = np.array([out.params[n].value for n in p.param_names])
        return popt, out.covar
    return fit


def nist(cfg: Config) -> list:
    """LRE of every tool on the 27 NIST StRD problems x 2 starts."""
    from ...datasets.nist import load_nist_strd, nist_data_dir, nist_problem_names, passes, score_fit

    try:
        d = nist_data_dir(Path(cfg.data_dir) / "nist-strd" if cfg.data_dir else None)
    except FileNotFoundError as exc:
        cfg.skip("nist", str(exc))
        return []
    names = nist_problem_names(d)
    if cfg.scale == "toy":
        names = names[:3]
    problems = [load_nist_strd(n, data_dir=d) for n in names]

    tools = {"lawfit": None}
    models = _nist_models(cfg)
    if models is None:
        cfg.skip("nist peers", "tests/nist_models.py not found (run from a source checkout)")
    else:
        if "scipy" in cfg.peers and have_module("scipy"):
            tools["scipy curve_fit lm"] = "lm"
            tools["scipy curve_fit trf"] = "trf"
        if "lmfit" in cfg.peers and have_module("lmfit"):
            tools["lmfit leastsq"] = "lmfit"
        elif "lmfit" in cfg.peers:
            cfg.skip("lmfit leastsq", "lmfit is not installed (pip install lmfit)")

    table = {}  # problem -> tool -> [lre start 1, lre start 2]
    results = {}
    for tool, kind in tools.items():
        lres, sd_lres, ok, seconds = [], [], [], 0.0
        with quiet():
            for p in problems:
                starts = [p.start1, p.start2]
                t0 = time.perf_counter()
                if tool == "lawfit":
                    outs = _lawfit_pair(p, starts)
                else:
                    f = models.model(p.name)
                    fit = _lmfit(f) if kind == "lmfit" else _scipy(kind, f)
                    outs = [fit(p, np.array(s, dtype=float)) for s in starts]
                seconds += time.perf_counter() - t0
                for k, out in enumerate(outs):
                    lp, ls = (0.0, 0.0) if out is None else score_fit(p, out[0], out[1])
                    lres.append(lp)
                    sd_lres.append(ls)
                    ok.append(out is not None)
                    table.setdefault(p.name, {}).setdefault(tool, [None, None])[k] = round(float(lp), 1)
        passed = np.array([passes(a, b) for a, b in zip(lres, sd_lres)])
        results[tool] = (np.array(lres), np.array(sd_lres), passed, np.array(ok), seconds)

    rows = []
    any_pass = np.any([r[2] for r in results.values()], axis=0)
    for tool, (lres, sd_lres, passed, ok, seconds) in results.items():
        n = len(lres)
        bad = ~passed & any_pass
        check = "ok" if bad.sum() <= MAX_BAD_SHARE * n else "FAIL"
        n_fail = int((~ok).sum())
        status = f"{n - n_fail} conv" + (f", {n_fail} fail" if n_fail else "")
        note = (f"min/median LRE params {lres.min():.1f}/{np.median(lres):.1f}, median LRE stddev "
                f"{np.median(sd_lres):.1f}; {int(bad.sum())} fits fail where another tool passes")
        rows.append(Row("nist", "NIST StRD, LRE >= 6 to pass", f"{len(problems)} problems x 2 starts", tool, n,
                        float(np.median([pr.n_obs for pr in problems])), n / seconds, seconds, n,
                        "median LRE params", float(np.median(lres)), int(passed.sum()), n, check, status, note,
                        None, {"problems": len(problems), "starts": 2, "ftol": TOL["ftol"], "xtol": TOL["xtol"]}))
    cfg.extra["nist_lre"] = table
    return rows
