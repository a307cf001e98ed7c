"""A million Chinchilla laws in one call: time and peak memory.

``chinchilla_1e6``: the demo's synthetic collection (``lawfit.demo``: each law
its own 40 (N, D) points, 1% noise), 1,000,000 laws with ``--full``
(100,000 with ``--quick``, 2,000 with ``--toy``), fitted by one batched
``lawfit.curve_fit`` call with covariances.  The fit runs in a child process,
so that its peak resident set size (``getrusage``'s ``ru_maxrss``) is its own:
the row gives the peak before the fit (the inputs), after it, and what the
fit added per law.  Answers are checked against the true parameters: a law
agrees when it converged with a sum of squares at most the truth's (the noise
moves the optimum below it); no peer fits a million laws here.

Run alone: ``python -m lawfit.bench.suite.million --n 1000000 --threads 2``
prints the same figures as JSON.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

from ..core import Config, Row, fmt_size, lawfit_status

POINTS = 40


def _peak_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # kB on Linux


def measure(n: int, threads, seed: int) -> dict:
    """Fit ``n`` synthetic laws in this process; the figures of the row."""
    from ...demo import fit_collection, make_collection
    from ...status import is_converged

    fit_collection(*make_collection(8, POINTS, seed=seed + 1)[:3], n_threads=threads)  # imports, warm-up
    N, D, loss, true = make_collection(n, POINTS, seed=seed)
    before = _peak_rss()
    t0 = time.perf_counter()
    popt, _pcov, status = fit_collection(N, D, loss, n_threads=threads)
    seconds = time.perf_counter() - t0
    after = _peak_rss()
    ok = is_converged(status)
    # A law's fit checks out when its sum of squares is at most that of the true parameters
    # (which the noise keeps from being the optimum): computed in chunks, after the peak is read.
    not_worse = np.zeros(n, dtype=bool)
    for s in range(0, n, 50_000):
        part = slice(s, s + 50_000)
        ss = [np.sum((loss[part] - _chinchilla(N[part], D[part], p[part])) ** 2, axis=1) for p in (popt, true)]
        with np.errstate(invalid="ignore"):
            not_worse[part] = ss[0] <= ss[1] * (1 + 1e-9)
    return {"n": n, "points": POINTS, "seconds": seconds, "peak_before": before, "peak_after": after,
            "input_bytes": N.nbytes + D.nbytes + loss.nbytes, "status": lawfit_status(status),
            "converged": int(ok.sum()), "not_worse": int((ok & not_worse).sum())}


def _chinchilla(N, D, p):
    E, A, alpha, B, beta = (p[:, i:i + 1] for i in range(5))
    return E + A / N**alpha + B / D**beta


def chinchilla_1e6(cfg: Config) -> list:
    """A million Chinchilla laws x 40 points in one curve_fit call: time and peak memory (child process)."""
    n = cfg.pick(2_000, 100_000, 1_000_000)
    command = [sys.executable, "-m", "lawfit.bench.suite.million", "--n", str(n), "--seed", str(cfg.seed + 21)]
    if cfg.threads:
        command += ["--threads", str(cfg.threads)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"the child process failed: {(proc.stderr or '').strip().splitlines()[-1:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    added = r["peak_after"] - r["peak_before"]
    gib = 2.0**30
    good = r["not_worse"] >= 0.99 * n
    note = (f"peak RSS {r['peak_after'] / gib:.2f} GiB ({r['peak_before'] / gib:.2f} GiB before the fit, "
            f"inputs {r['input_bytes'] / gib:.2f} GiB); the fit added {added / gib:.2f} GiB = "
            f"{added / n:,.0f} bytes per law; agree: converged with a sum of squares at most the true "
            f"parameters'")
    shape = {"laws": n, "points": POINTS, "params": 5, "starts": 1, "loss": "l2", "seed": cfg.seed + 21,
             "peak_rss_bytes": r["peak_after"], "added_rss_bytes": added}
    return [Row("chinchilla_1e6", "Chinchilla 5p, one curve_fit call", fmt_size(n, POINTS), "lawfit", n, POINTS,
                n / r["seconds"], r["seconds"], n, "share not better than truth", 1.0 - r["not_worse"] / n,
                r["not_worse"], n, "ok" if good else "FAIL", r["status"], note=note, shape=shape)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="A million Chinchilla laws in one call: time and peak memory.")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=21)
    args = ap.parse_args(argv)
    print(json.dumps(measure(args.n, args.threads, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
