"""``lawfit bench``: lawfit against scipy, lmfit and the published analyses, on this machine.

    lawfit bench [--quick] [--only NAME[,NAME...]] [--out DIR] [--data DIR]
    python bench/run.py --quick          (from a source checkout)

Each benchmark fits the same data with lawfit and its peers in one run
(scipy ``curve_fit`` lm and trf, scipy ``least_squares`` with a robust loss,
scipy L-BFGS-B on the Huber objective as in Chinchilla's Approach 3, lmfit
when installed; the CUDA back end against the CPU one when a GPU is usable),
checks every answer against a reference solution and writes a Markdown table,
a JSON record (machine, versions, seed, batch shapes, every row) and a PNG of
throughput vs batch size into ``--out``.

Expected duration on a 2-core AMD EPYC VM (no GPU): ``--quick`` 30-45 s
(under 2 minutes even on a busy machine) plus about 2 minutes for the
user-call rows (userflow, nearly all of it lawfit's own evaluate and
bootstrap calls on the released data); the full suite 4-5 minutes, 2.5 of
them the peers on the Approach-3 grid (all 4,500 starts with scipy's L-BFGS-B
and least_squares), plus the user-call rows.  The GPU section, where a GPU is usable, adds about a
minute with ``--quick``; at full scale (1e7 laws; the 4,000-resample x 4,500-start
bootstrap, 18 million fits) about 4 minutes for gpu_epoch and gpu_ladders on an
H200, so a device call runs it in parts (``bench/gpu_check.sh --only ...``).

Benchmarks (``--only`` takes these names or the family in brackets):
chinchilla_laws, chinchilla_points, chinchilla_1e6 [chinchilla]; powerlaw; single_law
[curve_fit] (one law per call, against scipy per call); bnsl; robust;
approach3, bootstrap [epoch]; nist; colpret; user_hitchhiker, user_evaluate,
user_epoch, user_groups [userflow] (the README's calls with default
arguments, each against its scipy equivalent); gpu_epoch, gpu_ladders,
gpu_layouts [gpu] (only where a GPU is usable).

Data: the Epoch Chinchilla, NIST StRD, ColPret and user-call benchmarks read
the released data from ``--data``, ``$LAWFIT_DATA`` or ``../shared/data``
beside a source checkout; without them Approach 3 and the bootstrap use a
synthetic stand-in and the others (user_groups excepted) are skipped (the run
says so).  scipy is required
(the references are computed with it); lmfit, pandas/pyarrow (ColPret) and
matplotlib (the plot) are optional.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Optional, Sequence

from . import report
from .core import Config, have_module, quiet, single_threaded_blas
from .data import find_data_dir, repo_root
from .suite import REGISTRY, select

DEFAULT_OUT = "lawfit-bench-results"


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__.split("\n\n")
    ap = argparse.ArgumentParser(
        prog="lawfit bench", description=doc[0].split(": ", 1)[-1],
        epilog="\n\n".join(doc[2:]), formatter_class=argparse.RawDescriptionHelpFormatter)
    scale = ap.add_mutually_exclusive_group()
    scale.add_argument("--quick", action="store_const", dest="scale", const="quick",
                       help="smaller sizes and samples: 30-45 s on 2 cores, plus ~2 min of userflow rows with the data")
    scale.add_argument("--full", action="store_const", dest="scale", const="full",
                       help="the full suite (default): 4-5 min on 2 cores")
    scale.add_argument("--toy", action="store_const", dest="scale", const="toy",
                       help="toy sizes, seconds; only to check that the suite runs")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="run only these benchmarks or families (repeatable, comma-separated)")
    ap.add_argument("--out", metavar="DIR", help=f"output folder (default ./{DEFAULT_OUT})")
    ap.add_argument("--data", metavar="DIR", help="folder holding the released data sets (default: "
                    "$LAWFIT_DATA, else ../shared/data beside a source checkout)")
    ap.add_argument("--seed", type=int, default=0, help="random seed of the synthetic data (default 0)")
    ap.add_argument("--threads", type=int, default=None, help="lawfit CPU threads (default: all cores)")
    ap.add_argument("--no-peers", action="append", default=[], metavar="LIB",
                    help="leave out a peer library: scipy (peers only; references still use it) or lmfit")
    ap.add_argument("--no-plot", action="store_true", help="do not draw the PNG")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.set_defaults(scale="full")
    return ap


def _version(module: str) -> Optional[str]:
    try:
        mod = __import__(module)
    except ImportError:
        return None
    return getattr(mod, "__version__", "?")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> Optional[float]:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine_info(cfg: Config, argv: Sequence[str]) -> dict:
    from .. import __version__
    from ..engine import native as _core
    from ..engine.core import default_threads
    from .suite.gpu import gpu_available

    usable, reason, name = gpu_available()
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "scale": cfg.scale,
        "command": "lawfit bench " + " ".join(argv),
        "seed": cfg.seed,
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "lawfit_threads": cfg.threads or default_threads(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "with_cuda": bool(getattr(_core, "WITH_CUDA", False)),
        "gpu": name if usable else None,
        "gpu_note": None if usable else reason,
        "data_dir": cfg.data_dir,
        "versions": {"lawfit": __version__, **{m: _version(m) for m in
                                               ("numpy", "scipy", "lmfit", "pandas", "pyarrow", "matplotlib")}},
    }


def _short(rows) -> str:
    out = []
    for r in rows:
        sp = f"  ({r.speedup:,.0f}x)" if r.speedup and r.speedup >= 10 else (
            f"  ({r.speedup:.2g}x)" if r.speedup else "")
        out.append(f"  {r.size:<44} {r.tool:<22} {r.fits_per_s:>12,.0f} fits/s{sp:<10} "
                   f"acc {report._accuracy(r):>9}  {r.agree}/{r.compared} {r.check}")
        if r.benchmark == "single_law" and r.note:  # per-call times and lawfit's share of scipy's
            out.append(f"      {r.note}")
    return "\n".join(out)


def main(argv: Optional[Sequence[str]] = None, default_out: Optional[str] = None) -> int:
    """Run the suite; returns 0, 1 when a benchmark raised, 2 when it cannot run at all."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.list:
        for name, (family, fn) in REGISTRY.items():
            print(f"{name:<18} [{family}]  {(fn.__doc__ or '').strip().splitlines()[0]}")
        return 0
    try:
        names = select(args.only)
    except ValueError as exc:
        print(f"lawfit bench: {exc}", file=sys.stderr)
        return 2
    if not have_module("scipy"):
        print("lawfit bench needs scipy (the reference solutions are computed with it): "
              "pip install lawfit[bench]", file=sys.stderr)
        return 2
    # No background compiles of user laws mid-suite: each row times one path
    # (interpreted, or jit=True rows compiled before their timing).
    os.environ.setdefault("LAWFIT_JIT_BACKGROUND", "0")
    root = repo_root()
    peers = tuple(p for p in ("scipy", "lmfit") if p not in args.no_peers)
    cfg = Config(scale=args.scale, seed=args.seed, threads=args.threads, data_dir=find_data_dir(args.data),
                 repo_root=str(root) if root else None, peers=peers)
    out = Path(args.out or default_out or DEFAULT_OUT)
    out.mkdir(parents=True, exist_ok=True)
    info = machine_info(cfg, argv)
    print(f"lawfit bench ({cfg.scale}): {report.machine_line(info)}")
    print(f"data: {cfg.data_dir or 'not found'}; output: {out}\n", flush=True)

    rows, errors = [], []
    t_start = time.perf_counter()
    with single_threaded_blas() as blas:
        info["blas"] = blas.note
        print(blas.note + "\n", flush=True)
        for name in names:
            t0 = time.perf_counter()
            try:
                with quiet():
                    got = REGISTRY[name][1](cfg)
            except KeyboardInterrupt:
                errors.append((name, "interrupted"))
                break
            except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
                errors.append((name, f"{type(exc).__name__}: {exc}"))
                print(f"[{name}] raised:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
                continue
            report.add_speedups(got)
            rows += got
            print(f"[{name}] {time.perf_counter() - t0:.1f} s" + ("" if got else " (skipped)"))
            if got:
                print(_short(got), flush=True)
    wall = time.perf_counter() - t_start
    info["shapes"] = {f"{r.benchmark}: {r.problem}, {r.size}": r.shape for r in rows}

    stamp = time.strftime("%Y%m%d_%H%M%S")
    base = out / f"bench_{cfg.scale}_{stamp}"
    text = report.markdown(rows, info, cfg, wall, cfg.skipped, errors)
    base.with_suffix(".md").write_text(text)
    report.write_json(base.with_suffix(".json"), rows, info, cfg, wall, cfg.skipped, errors)
    drawn = False if args.no_plot else report.plot(base.with_suffix(".png"), rows, info)
    print("\n" + report.markdown_table(rows) + "\n")
    for what, why in cfg.skipped:
        print(f"skipped {what}: {why}")
    if not args.no_plot and not drawn:
        print("no plot: matplotlib is not installed (pip install matplotlib)" if not have_module("matplotlib")
              else "no plot: no Chinchilla ladder in this run")
    print(f"\nwall time {wall:.1f} s; written {base}.md, .json" + (", .png" if drawn else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
