"""The ``lawfit`` command line (also ``python -m lawfit``).

Exit status: 0 success; 1 the fit ran but some laws did not converge (the
results are still written, their status says why); 2 a usage or data error
(bad option, unreadable file, missing or non-numeric column); 130
interrupted.
"""
from __future__ import annotations

import argparse
import sys
import warnings

_EPILOG = """\
commands:
  fit      fit a law to every group of a table (CSV, TSV, parquet, JSON)
  report   write an HTML or Markdown report (fits the data first, or renders a saved table)
  laws     list the law catalog (lawfit laws chinchilla shows one law)
  demo     fit 1,000 synthetic Chinchilla laws and compare with scipy
  bench    run the benchmark suite (lawfit bench --help)

examples:
  lawfit laws
  lawfit fit runs.csv --law chinchilla --x N,D --y loss --by family --out params.csv
  lawfit fit runs.csv --law chinchilla --x N,D --y loss --by family --bootstrap 1000 --out fit.parquet
  lawfit fit runs.csv --law "E + A/N**alpha" --x N --y loss --fixed E=1.69
  lawfit report runs.csv --law chinchilla --x N,D --y loss --by family --out report.html
  lawfit report fit.parquet --out report.md

exit status: 0 ok; 1 some laws did not converge (results still written); 2 usage or data error.
"""

_FIT_EPILOG = """\
output (--out, by extension):
  .csv / .tsv   the parameter table: group keys; each parameter with _stderr, _low, _high;
                n_points, cost, r2, aic, bic, status, reason, converged, n_starts, n_converged,
                basin_count (and n_resamples, n_failed_resamples with --bootstrap)
  .parquet      the same table, with the fit's description in the file metadata
                (lawfit report FILE.parquet renders it)
  .json         the same table as records
  .html / .md   a full report (tables and plots)
  (no --out)    the table is printed

examples:
  lawfit fit runs.csv --law chinchilla --x N,D --y loss --by family --out params.csv
  lawfit fit runs.csv --law chinchilla_lse --x params,tokens --y loss --bootstrap 1000 --bootstrap-by run
  lawfit fit runs.parquet --law hestness --x D --y loss --by model --frontier 1e21,1e23
  lawfit fit runs.csv --law "a*x**-b + c" --x x --y y --starts sobol --n-starts 256

exit status: 0 ok; 1 some laws did not converge (results still written); 2 usage or data error.
"""

_REPORT_EPILOG = """\
INPUT is either
  the data, fitted first: give --law (and the other fit options; see lawfit fit --help);
  or a table written by 'lawfit fit --out FILE.parquet' (or .csv): without --law the report
  shows its tables (no plots: the data are not in the table).

examples:
  lawfit report runs.csv --law chinchilla --x N,D --y loss --by family --bootstrap 500 --out report.html
  lawfit report fit.parquet --out report.md

exit status: 0 ok; 1 some laws did not converge (report still written); 2 usage or data error.
"""


def _add_fit_options(p: argparse.ArgumentParser, *, law_required: bool) -> None:
    p.add_argument("data", metavar="INPUT" if not law_required else "DATA",
                   help="CSV, TSV, parquet or JSON table, one row per run/checkpoint")
    p.add_argument("--law", required=law_required,
                   help="a catalog name (lawfit laws lists them) or a formula over the --x columns")
    p.add_argument("--x", help="input columns in the law's input order, comma-separated (default: the law's "
                               "input names)")
    p.add_argument("--y", help="the column to fit, e.g. loss")
    p.add_argument("--by", help="group columns, comma-separated: one law per group")
    p.add_argument("--sigma", help="column of standard deviations of y (weights 1/sigma^2)")
    p.add_argument("--loss", choices=["l2", "huber", "soft_l1", "cauchy", "arctan"],
                   help="robust loss (default: the law's)")
    p.add_argument("--delta", type=float, help="the loss's scale (default: the law's)")
    p.add_argument("--residual", choices=["linear", "log"], help="residual space (default: the law's)")
    p.add_argument("--recipe", choices=["auto", "published", "none"], default="auto",
                   help="the law's published fitting recipe: 'published' applies it; 'auto' (default) "
                        "completes a --loss given without --delta from it; 'none' ignores it")
    p.add_argument("--starts", choices=["grid", "sobol", "lhs", "varpro"], default=None,
                   help="start set: the law's grid (default), a space-filling design, or varpro (variable projection)")
    p.add_argument("--n-starts", type=int, help="starts of a sobol/lhs design (default 64)")
    p.add_argument("--prune", default="auto", type=_prune_arg, metavar="K|auto|race|none",
                   help="run LM only from the K best starts of each law (by the objective at the start); "
                        "'auto' (default) prunes grids of more than 64 starts; 'race' also cuts hopeless starts "
                        "of small laws short (faster, not exact); 'none' runs every start")
    p.add_argument("--fixed", help="parameters held fixed, e.g. E=1.69,beta=0.28")
    p.add_argument("--shared", help="parameters common to all groups (one joint fit), comma-separated")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N", help="bootstrap resamples per law")
    p.add_argument("--bootstrap-by", help="resample whole groups of rows, e.g. run")
    p.add_argument("--ci", choices=["percentile", "bca"], default="percentile", help="bootstrap interval")
    p.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--jit", action="store_true",
                   help="compile the law to machine code first (same results; needs a C++ compiler, or nvcc "
                        "for the GPU; falls back to the interpreter without one)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--nan-policy", choices=["propagate", "omit", "raise"], default="propagate",
                   help="rows with missing or non-numeric values: their groups fail with BAD_INPUT and the "
                        "others fit (propagate, the default; exit status 1), skip the rows (omit), or stop "
                        "with an error (raise; exit status 2)")
    p.add_argument("--out", "-o", help="output file; the format follows the extension")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress or summary on stderr")


def _fit_parser(prog: str, epilog: str, law_required: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Fit a scaling law to every group of a table, all groups in one batch."
                                if law_required else "Write an HTML or Markdown report of a fit.")
    _add_fit_options(p, law_required=law_required)
    return p


class _UsageError(Exception):
    pass


def _prune_arg(text: str):
    """--prune: a positive count, 'auto', 'race' or 'none'."""
    if text in ("auto", "race", "none"):
        return None if text == "none" else text
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of starts, 'auto', 'race' or 'none', got {text!r}") \
            from None
    if k < 1:
        raise argparse.ArgumentTypeError("the number of starts must be positive")
    return k


def _fixed(text):
    if not text:
        return None
    out = {}
    for item in text.split(","):
        name, eq, value = item.partition("=")
        if not eq:
            raise _UsageError(f"--fixed takes name=value pairs, got {item!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise _UsageError(f"--fixed {name.strip()}: {value!r} is not a number") from None
    return out


def _run_fit(args, prog: str):
    from .api import fit

    if args.y is None:
        raise _UsageError("--y names the column to fit (e.g. --y loss)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit(args.data, args.law, x=args.x, y=args.y, by=args.by, sigma=args.sigma, loss=args.loss,
                  delta=args.delta, residual=args.residual, starts=args.starts, n_starts=args.n_starts,
                  prune=args.prune, bootstrap=args.bootstrap, bootstrap_by=args.bootstrap_by, ci=args.ci,
                  fixed=_fixed(args.fixed), shared=args.shared, device=args.device,
                  jit="auto" if args.jit else False, seed=args.seed,
                  progress=not args.quiet, level=args.level, nan_policy=args.nan_policy, n_threads=args.threads,
                  recipe=args.recipe)
    for w in caught:
        if not args.quiet:
            print(f"{prog}: warning: {str(w.message).removeprefix('lawfit: ')}", file=sys.stderr)
    return res


_OUT_FORMATS = {".html": "report", ".htm": "report", ".md": "report", ".markdown": "report",
                ".parquet": "parquet", ".pq": "parquet", ".json": "json", ".tsv": "tsv", ".tab": "tsv",
                ".csv": "csv", ".txt": "csv", "": "csv"}


def _out_format(out: str, report_only: bool = False) -> str:
    """The kind of file --out names, checked before the fit (a typo must not cost a long fit)."""
    from pathlib import Path

    ext = Path(out).suffix.lower()
    kind = _OUT_FORMATS.get(ext)
    if report_only and kind != "report":
        raise _UsageError(f"--out: a report is .html or .md, got {ext!r}")
    if kind is None:
        raise _UsageError(f"--out: unknown format {ext!r} (use .csv, .tsv, .parquet, .json, .html or .md)")
    return kind


def _write_params(res, out: str, kind: str) -> None:
    import json
    from pathlib import Path

    path = Path(out)
    if kind == "report":
        res.report(path)
    elif kind == "parquet":
        res.to_parquet(path)
    elif kind == "json":
        payload = {"lawfit": res.metadata(), "params": json.loads(res.params.to_json(orient="records"))}
        path.write_text(json.dumps(payload, indent=1))
    else:
        res.params.to_csv(path, sep="\t" if kind == "tsv" else ",", index=False)


def main_fit(argv, prog: str = "lawfit fit") -> int:
    parser = _fit_parser(prog, _FIT_EPILOG, law_required=True)
    parser.add_argument("--frontier", help="also print the compute-optimal frontier at these budgets (FLOP), "
                                           "e.g. 1e21,1e23 (laws defining N_opt/D_opt)")
    args = parser.parse_args(argv)
    kind = _out_format(args.out) if args.out else ""  # checked before the fit
    C = None
    if args.frontier:
        try:
            C = [float(v) for v in args.frontier.split(",")]
        except ValueError:
            raise _UsageError(f"--frontier takes numbers, e.g. 1e21,1e23; got {args.frontier!r}") from None
        if not all(0 < c < float("inf") for c in C):
            raise _UsageError(f"--frontier takes positive compute budgets (FLOP), got {args.frontier!r}")
    res = _run_fit(args, prog)
    if args.out:
        _write_params(res, args.out, kind)
        if not args.quiet:
            print(f"{prog}: wrote {args.out}", file=sys.stderr)
    else:
        import pandas as pd

        with pd.option_context("display.width", 200, "display.max_columns", 40, "display.max_rows", 200):
            print(res.params.drop(columns=["reason"]).to_string(index=False))
    if C is not None:
        fr = res.frontier(C=C)
        print(fr.to_string(index=False))
    return 0 if res.converged.all() else 1


def main_report(argv, prog: str = "lawfit report") -> int:
    parser = _fit_parser(prog, _REPORT_EPILOG, law_required=False)
    parser.add_argument("--title", help="report title")
    parser.add_argument("--plots", default="fit,frontier,params,residuals",
                        help="plots to include, comma-separated (default: fit,frontier,params,residuals; "
                             "'none' for tables only)")
    args = parser.parse_args(argv)
    plots = () if args.plots.strip().lower() == "none" else tuple(p.strip() for p in args.plots.split(",") if p.strip())
    unknown = [p for p in plots if p not in ("fit", "frontier", "params", "residuals")]
    if unknown:
        raise _UsageError(f"--plots: unknown plot(s) {unknown}; choose from fit, frontier, params, residuals")
    if not args.out:
        raise _UsageError("--out names the report file (.html or .md)")
    _out_format(args.out, report_only=True)
    if args.law is None:
        from .report import read_results, write_table_report

        params, meta = read_results(args.data)
        write_table_report(params, meta, args.out, title=args.title)
        ok = bool(params["converged"].all()) if "converged" in params else True
    else:
        res = _run_fit(args, prog)
        res.report(args.out, title=args.title, plots=plots)
        ok = bool(res.converged.all())
    if not args.quiet:
        print(f"{prog}: wrote {args.out}", file=sys.stderr)
    return 0 if ok else 1


def main_bench(argv) -> int:
    try:
        from .bench import main as bench_main
    except ImportError as exc:
        print(f"lawfit bench: the benchmark suite is not available in this installation ({exc})",
              file=sys.stderr)
        return 2
    return int(bench_main(list(argv)) or 0)


def _guarded(fn, argv, prog: str) -> int:
    """Run a subcommand with shell-style errors: a message on stderr and exit status 2."""
    try:
        return fn(argv, prog)
    except _UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, KeyError, TypeError, ImportError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"{prog}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. lawfit fit ... | head: stop quietly, as shell tools do
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="lawfit",
        description="Fit scaling laws in batches: many laws x starts x resamples in one call.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="command")
    demo = sub.add_parser("demo", help="fit a synthetic collection of Chinchilla laws and print a table")
    demo.add_argument("--laws", type=int, default=1000, help="number of laws (default 1000)")
    demo.add_argument("--points", type=int, default=40, help="points per law (default 40)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    demo.add_argument("--scipy-sample", type=int, default=100,
                      help="laws also fitted with scipy for comparison (default 100; 0 to skip)")
    sub.add_parser("laws", help="list the law catalog, or show one law in full (lawfit laws NAME)")
    sub.add_parser("fit", help="fit a law to every group of a table (lawfit fit --help)", add_help=False)
    sub.add_parser("report", help="write an HTML or Markdown report (lawfit report --help)", add_help=False)
    sub.add_parser("bench", help="run the benchmark suite (lawfit bench --help)", add_help=False)
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["laws"]:
        from .catalog import main_laws

        return main_laws(argv[1:])
    if argv[:1] == ["fit"]:
        return _guarded(main_fit, argv[1:], "lawfit fit")
    if argv[:1] == ["report"]:
        return _guarded(main_report, argv[1:], "lawfit report")
    if argv[:1] == ["bench"]:
        return main_bench(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run

        print(run(args.laws, args.points, args.seed, args.threads, args.scipy_sample))
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
