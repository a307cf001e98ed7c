"""The ``lawfit`` command line (also ``python -m lawfit``)."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="lawfit",
        description="Fit scaling laws in batches: many laws x starts x resamples in one call.",
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
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["laws"]:
        from .catalog import main_laws

        return main_laws(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run

        print(run(args.laws, args.points, args.seed, args.threads, args.scipy_sample))
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
