"""``python -m lawfit.bench``: the benchmark suite (same as ``lawfit bench``)."""
import sys

from .runner import main

sys.exit(main())
