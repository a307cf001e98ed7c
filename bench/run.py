"""The benchmark suite from a source checkout: ``python bench/run.py [--quick] [--only NAME] [--out DIR]``.

The suite lives in the package (``lawfit.bench``, also ``lawfit bench``); see
``python bench/run.py --help``.  Results go to bench/results/ by default.
"""
import sys
from pathlib import Path

try:
    from lawfit.bench import main
except ImportError:  # not installed: use the source tree (needs the compiled lawfit/_core there)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
    from lawfit.bench import main

if __name__ == "__main__":
    sys.exit(main(default_out=str(Path(__file__).resolve().parent / "results")))
