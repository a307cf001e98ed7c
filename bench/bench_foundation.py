"""Foundation benchmark: batched Chinchilla fits against scipy's curve_fit.

    python bench/bench_foundation.py [--laws 10000] [--quick]

Fits synthetic Chinchilla laws (5 parameters, 40 points, one shared p0) with
lawfit's batch and, in the same run, a sample with scipy.optimize.curve_fit
(method='lm') in a loop; prints fits/s for both, the ratio and the parameter
agreement, then how lawfit's time grows with the number of problems and the
number of points per problem.  Writes the tables as JSON to bench/results/.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

import lawfit
from lawfit.bench.report import simple_table as table
from lawfit.engine.core import default_threads
from lawfit.status import is_converged
from lawfit.demo import CHINCHILLA, START, fit_collection, make_collection, scipy_fits


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def chinchilla_jacobian(x, E, A, alpha, B, beta):
    tn, td = x[0] ** -alpha, x[1] ** -beta
    return np.column_stack([np.ones(x.shape[1]), tn, -A * np.log(x[0]) * tn, td, -B * np.log(x[1]) * td])


def headline(n_laws: int, n_scipy: int, repeat: int) -> dict:
    N, D, loss, true = make_collection(n_laws, 40, seed=1)
    fit_collection(N[:100], D[:100], loss[:100])  # warm-up
    result = {}

    def run():
        result["fit"] = fit_collection(N, D, loss)

    t = best_of(run, repeat)
    popt, pcov, status = result["fit"]
    # The same fits with the law compiled to machine code (lawfit.engine.jit; the
    # one-off compile, cached on disk, is timed apart).
    import time as _time
    from lawfit.engine import jit as _jit
    from lawfit.formula import compile_law
    t0 = _time.perf_counter()
    compiled = _jit.compiled_solver(compile_law(CHINCHILLA, inputs=["N", "D"])) is not None
    t_compile = _time.perf_counter() - t0
    t_jit = float("nan")
    if compiled:
        t_jit = best_of(lambda: result.setdefault("jit", fit_collection(N, D, loss, jit=True)), repeat)
    ref, t_scipy = scipy_fits(N, D, loss, n_scipy)
    ok = is_converged(status)[:n_scipy] & np.isfinite(ref).all(axis=1)
    rel = np.abs(popt[:n_scipy][ok] / ref[ok] - 1)
    # Agreement of the optima themselves: both tools with tight tolerances (at
    # the defaults each stops somewhere in Chinchilla's flat B-beta valley) and
    # scipy given the exact Jacobian (its finite differences alone leave ~1e-5
    # relative error in B there).
    tight = dict(ftol=1e-14, xtol=1e-14)
    n_tight = min(n_scipy, 100)
    ref_t, _ = scipy_fits(N, D, loss, n_tight, jac=chinchilla_jacobian, **tight)
    from lawfit import curve_fit
    popt_t, _, status_t = curve_fit(CHINCHILLA, {"N": N[:n_tight], "D": D[:n_tight]}, loss[:n_tight],
                                    p0=START, **tight)
    ok_t = is_converged(status_t) & np.isfinite(ref_t).all(axis=1)
    rel_t = np.abs(popt_t[ok_t] / ref_t[ok_t] - 1)
    return {
        "tight_max_rel_param_diff": float(rel_t.max()) if rel_t.size else float("nan"),
        "tight_both_converged": int(ok_t.sum()),
        "laws": n_laws,
        "lawfit_fits_per_s": n_laws / t,
        "lawfit_seconds": t,
        "lawfit_jit_fits_per_s": n_laws / t_jit,
        "jit_compile_seconds": t_compile,
        "jit_identical": bool(compiled and np.array_equal(result["jit"][0], popt, equal_nan=True)),
        "scipy_fits_per_s": n_scipy / t_scipy,
        "scipy_sample": n_scipy,
        "ratio": (n_laws / t) / (n_scipy / t_scipy),
        "converged": int(is_converged(status).sum()),
        "both_converged": int(ok.sum()),
        "max_rel_param_diff": float(rel.max()) if rel.size else float("nan"),
        "median_rel_param_diff": float(np.median(rel)) if rel.size else float("nan"),
    }


def scaling_problems(sizes, repeat):
    rows = []
    for n in sizes:
        N, D, loss, _ = make_collection(n, 40, seed=2)
        res = {}
        t = best_of(lambda: res.setdefault("s", fit_collection(N, D, loss)[2]), repeat)
        rows.append({"problems": n, "points": 40, "seconds": t, "fits_per_s": n / t,
                     "converged": int(is_converged(res["s"]).sum())})
    return rows


def scaling_points(points, total_points, repeat):
    rows = []
    for m in points:
        n = max(8, total_points // m)
        N, D, loss, _ = make_collection(n, m, seed=3)
        res = {}
        t = best_of(lambda: res.setdefault("s", fit_collection(N, D, loss)[2]), repeat)
        rows.append({"problems": n, "points": m, "seconds": t, "fits_per_s": n / t,
                     "us_per_fit": 1e6 * t / n, "ns_per_point_fit": 1e9 * t / (n * m),
                     "converged": int(is_converged(res["s"]).sum())})
    return rows




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--laws", type=int, default=10000)
    ap.add_argument("--scipy-sample", type=int, default=300)
    ap.add_argument("--quick", action="store_true", help="smaller ladders (about 20 s)")
    args = ap.parse_args()
    repeat = 2 if args.quick else 3
    info = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
            "threads": default_threads(), "lawfit": lawfit.__version__, "numpy": np.__version__}
    try:
        import scipy
        info["scipy"] = scipy.__version__
    except ImportError:
        raise SystemExit("this benchmark compares against scipy: pip install scipy")

    h = headline(args.laws, args.scipy_sample, repeat)
    print(f"## Chinchilla, {h['laws']:,} laws x 40 points, one p0 ({info['threads']} threads)\n")
    print(table([
        {"tool": "lawfit (batch)", "fits/s": h["lawfit_fits_per_s"], "converged": h["converged"], "n": h["laws"]},
        {"tool": "lawfit (batch, jit=True)", "fits/s": h["lawfit_jit_fits_per_s"], "n": h["laws"]},
        {"tool": "scipy curve_fit lm (loop)", "fits/s": h["scipy_fits_per_s"], "n": h["scipy_sample"]},
    ], ["tool", "fits/s", "n"]))
    print(f"\njit: compiled in {h['jit_compile_seconds']:.2f} s (0 when cached), results identical to the "
          f"interpreter's: {h['jit_identical']}; ratio lawfit jit/scipy: "
          f"{h['lawfit_jit_fits_per_s'] / h['scipy_fits_per_s']:.0f}x")
    print(f"\nratio lawfit/scipy: {h['ratio']:.0f}x; parameters where both converge "
          f"({h['both_converged']}): max rel diff {h['max_rel_param_diff']:.2e}, "
          f"median {h['median_rel_param_diff']:.2e}; with ftol=xtol=1e-14 for both (scipy with exact jac) "
          f"({h['tight_both_converged']} laws): max rel diff {h['tight_max_rel_param_diff']:.2e}\n")

    sizes = [100, 1000, 10000] if args.quick else [100, 1000, 10000, 100000]
    rp = scaling_problems(sizes, repeat)
    print("## Time vs number of problems (40 points each)\n")
    print(table(rp, ["problems", "seconds", "fits_per_s", "converged"]))
    pts = [10, 100, 1000, 10000] if not args.quick else [10, 100, 1000]
    rq = scaling_points(pts, 400000 if not args.quick else 100000, repeat)
    print("\n## Time vs points per problem\n")
    print(table(rq, ["points", "problems", "us_per_fit", "ns_per_point_fit", "converged"]))

    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    path = out / f"foundation_{time.strftime('%Y%m%d_%H%M%S')}.json"
    path.write_text(json.dumps({"info": info, "headline": h, "problems": rp, "points": rq}, indent=2))
    print(f"\nwritten {path.relative_to(Path(__file__).parent.parent)}")


if __name__ == "__main__":
    main()
