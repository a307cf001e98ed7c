"""One law per call: ``lawfit.curve_fit`` as a drop-in for ``scipy.optimize.curve_fit``.

What a user pays who replaces one import in code that fits one law at a time:
the same call on the same 40 points, lawfit against scipy (``lm``, its
default), timed per call.  Problems: saturating power laws ``a*x**-b + c``
(Hestness et al. 2017; 40 points, x log-uniform in [1, 1e3], 1% noise, start
within 20% of the truth) and Chinchilla's law on (N, D) written as user code
writes it (``N, D = X``; 40 points).  lawfit gets the Python function (traced
on its first call, from the cache afterwards: the first call of each law is
not timed) and, on the power law, also the formula string.  Each round calls
every tool once on every problem; the per-call time is the best round's
(rounds interleave the tools, so a busy machine slows all of them alike).
Answers are checked against the reference polished by ``least_squares``.
The note (printed under the row) gives lawfit's time per call as a share
of scipy's (issue 15's target: at most 1/5) and the part of it spent
outside the core's solver.
"""
from __future__ import annotations

import time

import numpy as np

from ..core import Config, Model, Problem, compare, judge, reference, Row

POINTS = 40


def power(x, a, b, c):
    return a * x**-b + c


def power_jac(x, a, b, c):
    t = x**-b
    return np.column_stack([t, -a * np.log(x) * t, np.ones_like(x)])


def chinchilla(X, E, A, alpha, B, beta):
    N, D = X
    return E + A / N**alpha + B / D**beta


def chinchilla_jac(X, E, A, alpha, B, beta):
    N, D = X
    tn, td = N**-alpha, D**-beta
    return np.column_stack([np.ones_like(N), tn, -A * np.log(N) * tn, td, -B * np.log(D) * td])


def _problems(kind: str, n: int, seed: int) -> list[Problem]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        if kind == "power":
            x = np.sort(10 ** rng.uniform(0, 3, POINTS))
            true = np.array([rng.uniform(1, 5), rng.uniform(0.2, 0.8), rng.uniform(0.5, 2)])
            y = power(x, *true)
        else:
            x = np.vstack([10 ** rng.uniform(7, 10, POINTS), 10 ** rng.uniform(9, 12, POINTS)])
            true = np.array([1.8, 450.0, 0.34, 2000.0, 0.37]) * rng.uniform(0.9, 1.1, 5)
            y = chinchilla(x, *true)
        y = y * (1 + 0.01 * rng.standard_normal(POINTS))
        out.append(Problem(x, y, true * rng.uniform(0.8, 1.2, true.size), alt_starts=(true,)))
    return out


def _tools(kind: str, f):
    import lawfit
    from scipy.optimize import curve_fit as scipy_curve_fit

    tools = {"lawfit": lambda p: lawfit.curve_fit(f, p.x, p.y, p0=p.p0)[0]}
    if kind == "power":
        tools["lawfit formula"] = lambda p: lawfit.curve_fit("a*x**-b + c", p.x, p.y, p0=p.p0)[0]
    tools["scipy curve_fit lm"] = lambda p: scipy_curve_fit(f, p.x, p.y, p0=p.p0)[0]
    return tools


def _time_rounds(tools: dict, problems, rounds: int):
    """Best seconds per call of each tool over ``rounds`` interleaved rounds, and its answers."""
    best = {name: np.inf for name in tools}
    answers = {name: [None] * len(problems) for name in tools}
    for _ in range(rounds):
        for name, call in tools.items():
            t0 = time.perf_counter()
            for i, p in enumerate(problems):
                try:
                    answers[name][i] = np.asarray(call(p), dtype=float)
                except (RuntimeError, ValueError):
                    answers[name][i] = np.full(p.p0.size, np.nan)
            best[name] = min(best[name], (time.perf_counter() - t0) / len(problems))
    return best, {k: np.vstack(v) for k, v in answers.items()}


def _outside_solver(kind: str, f, problems, rounds: int) -> float:
    """lawfit's seconds per call with the core's solver replaced by its answer (Python around it)."""
    import sys

    cf = sys.modules["lawfit.curve_fit"]
    real = cf.solve_program
    cached = {}

    def replay(program, columns, y, *args, **kwargs):
        key = y.tobytes()
        if key not in cached:
            cached[key] = real(program, columns, y, *args, **kwargs)
        return cached[key]

    cf.solve_program = replay
    try:
        best, _ = _time_rounds({"lawfit": _tools(kind, f)["lawfit"]}, problems, rounds + 1)
    finally:
        cf.solve_program = real
    return best["lawfit"]


def single_law(cfg: Config) -> list:
    """One law per curve_fit call, 40 points: lawfit vs scipy per call."""
    n = cfg.pick(4, 16, 64)
    rounds = cfg.pick(2, 15, 25)
    rows: list[Row] = []
    for kind, f, jac, label in (("power", power, power_jac, "power law a*x**-b + c, 1 call per law"),
                                ("chinchilla", chinchilla, chinchilla_jac, "Chinchilla N, D = X, 1 call per law")):
        problems = _problems(kind, n, cfg.seed + 15)
        tools = _tools(kind, f)
        for p in problems:  # first calls: tracing and compilation, not timed
            tools["lawfit"](p)
        per_call, answers = _time_rounds(tools, problems, rounds)
        outside = _outside_solver(kind, f, problems, rounds)
        model = Model(f, jac)
        ref, ref_cost = reference(model, problems, list(answers.values()))
        agreements = {name: compare(model, problems, a, ref, ref_cost) for name, a in answers.items()}
        judge(list(agreements.values()))
        scipy_time = per_call["scipy curve_fit lm"]
        for name, a in agreements.items():
            ok = int(np.all(np.isfinite(answers[name]), axis=1).sum())
            note = f"{per_call[name] * 1e6:.0f} us per call"
            if name.startswith("lawfit"):
                note += f" = {per_call[name] / scipy_time:.2f} of scipy's (target <= 0.2)"
            if name == "lawfit":
                note += f"; {outside * 1e6:.0f} us outside the core's solver"
            rows.append(Row("single_law", label, f"{n} laws x {POINTS} pts", name, n, POINTS, 1.0 / per_call[name],
                            n * per_call[name], n, "max rel param diff", a.max_rel_param_diff, a.agree, a.compared,
                            a.check, f"{ok:,} conv", note, None,
                            {"laws": n, "points": POINTS, "rounds": rounds, "calls_per_round": n}))
    return rows
