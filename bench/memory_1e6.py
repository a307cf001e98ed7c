"""Peak memory of one batch of a million small fits.

    python bench/memory_1e6.py                      # 1,000,000 fits of 10 points
    python bench/memory_1e6.py --n 200000 --points 20 --threads 2 --json out.json

Fits ``a*exp(-b*x) + c`` to n synthetic problems through ``lawfit.curve_fit``
(2-D ydata, shared x) and prints the peak resident set size
(``resource.getrusage(...).ru_maxrss``) before and after the fit, the part the
fit added, per problem and relative to the input data, the time taken and the
status summary.  The numbers count only if the fit checks out: nearly all
problems must converge and recover the true parameters.  Not part of the test
suite (too large for CI).
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time

import numpy as np

import lawfit
from lawfit.engine.core import default_threads
from lawfit.status import is_converged

LAW = "a*exp(-b*x) + c"


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # kB on Linux, bytes on macOS


def current_rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:
        return None


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="number of problems (default 1e6)")
    ap.add_argument("--points", type=int, default=10, help="points per problem (default 10)")
    ap.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    n, m = args.n, args.points

    rng = np.random.default_rng(args.seed)
    x = np.linspace(0.0, 4.0, m)
    true = np.column_stack([rng.uniform(1, 3, n), rng.uniform(0.5, 1.5, n), rng.uniform(-0.5, 0.5, n)])
    Y = np.empty((n, m))
    for s in range(0, n, 10_000):  # in chunks: temporaries must not set the "before" peak
        t = true[s:s + 10_000]
        Y[s:s + 10_000] = t[:, :1] * np.exp(-t[:, 1:2] * x) + t[:, 2:] + 1e-3 * rng.standard_normal((len(t), m))
    p0 = [1.5, 1.0, 0.0]
    lawfit.curve_fit(LAW, x, Y[:100], p0=p0)  # warm-up: imports, first compile
    before = peak_rss_bytes()
    data_bytes = Y.nbytes

    t0 = time.perf_counter()
    popt, pcov, status = lawfit.curve_fit(LAW, x, Y, p0=p0, n_threads=args.threads)
    seconds = time.perf_counter() - t0
    after = peak_rss_bytes()
    added = after - before

    ok = is_converged(status)
    rel_err = np.abs(popt[ok] - true[ok]) / np.abs(true[ok]).clip(min=0.1)
    checks_out = ok.mean() >= 0.999 and np.median(rel_err) < 1e-2
    result = {
        "n_problems": n, "points": m, "threads": args.threads or default_threads(), "seed": args.seed,
        "seconds": seconds, "fits_per_second": n / seconds,
        "peak_rss_before_bytes": before, "peak_rss_after_bytes": after, "added_bytes": added,
        "added_bytes_per_problem": added / n, "ydata_bytes": data_bytes,
        "rss_now_bytes": current_rss_bytes(), "status": lawfit.summarize_status(status),
        "converged_fraction": float(ok.mean()), "median_relative_error": float(np.median(rel_err)),
        "checks_out": bool(checks_out), "lawfit": lawfit.__version__, "numpy": np.__version__,
        "python": platform.python_version(), "machine": platform.machine(), "system": platform.system(),
    }
    print(f"{n:,} problems x {m} points, {result['threads']} threads: {seconds:.2f} s "
          f"({n / seconds:,.0f} fits/s)")
    print(f"status: {result['status']}; median relative parameter error {result['median_relative_error']:.1e}")
    print(f"peak RSS before the fit {mib(before)}, after {mib(after)}: the fit added {mib(added)} "
          f"= {added / n:,.0f} bytes per problem ({added / data_bytes:.1f}x the {mib(data_bytes)} of ydata)")
    if not checks_out:
        print("FAIL: the fit did not check out; the memory figures do not count")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if checks_out else 1


if __name__ == "__main__":
    sys.exit(main())
