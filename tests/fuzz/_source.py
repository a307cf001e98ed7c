"""Where fuzz inputs come from: atheris' byte stream or a seeded random generator.

The fuzz targets in this folder draw every decision through a `Source`, so the
same target runs under atheris (coverage-guided, `FdpSource`) and in the plain
randomized CI test (`RandomSource`, tests/formula/test_fuzz_quick.py).
"""
from __future__ import annotations

import os
import sys

import math
import random

# Floats worth trying more often than a uniform draw would.
SPECIAL_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-300, 5e-324, 1e300, 1.7976931348623157e308,
                  math.inf, -math.inf, math.nan, 1e-8, 1e8, 709.78, 710.0, -745.2]


class Source:
    def int(self, lo: int, hi: int) -> int:
        raise NotImplementedError

    def float(self) -> float:
        raise NotImplementedError

    def text(self, max_len: int) -> str:
        raise NotImplementedError

    def bool(self) -> bool:
        return self.int(0, 1) == 1

    def pick(self, options):
        return options[self.int(0, len(options) - 1)]

    def chance(self, one_in: int) -> bool:
        return self.int(1, one_in) == 1

    def value(self) -> float:
        """A double: special values sometimes, else an ordinary magnitude."""
        if self.chance(6):
            return self.pick(SPECIAL_FLOATS)
        return self.float()


class FdpSource(Source):
    """Decisions read from an atheris.FuzzedDataProvider."""

    def __init__(self, fdp):
        self.fdp = fdp

    def int(self, lo, hi):
        return self.fdp.ConsumeIntInRange(lo, hi)

    def float(self):
        return self.fdp.ConsumeFloatInRange(-10.0, 10.0) if self.fdp.ConsumeBool() else self.fdp.ConsumeFloat()

    def text(self, max_len):
        return self.fdp.ConsumeUnicodeNoSurrogates(max_len)


class RandomSource(Source):
    """Decisions from a seeded random.Random (reproducible by seed)."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def int(self, lo, hi):
        return self.rng.randint(lo, hi)

    def float(self):
        if self.rng.random() < 0.7:
            return self.rng.uniform(-10.0, 10.0)
        return self.rng.choice([-1, 1]) * 10.0 ** self.rng.uniform(-320, 308)

    def text(self, max_len):
        n = self.rng.randint(0, max_len)
        kind = self.rng.random()
        if kind < 0.4:  # printable ASCII
            return "".join(chr(self.rng.randint(32, 126)) for _ in range(n))
        if kind < 0.7:  # any code point but surrogates
            out = []
            for _ in range(n):
                c = self.rng.randint(0, 0x10FFFF)
                out.append(chr(c if not 0xD800 <= c <= 0xDFFF else 0x20))
            return "".join(out)
        return bytes(self.rng.randint(0, 255) for _ in range(n)).decode("latin-1")


def run_atheris(one_input, module_globals: dict, argv=None, extra_imports=()) -> None:
    """Run an atheris fuzzer over ``one_input(Source)`` (shared by the fuzz_* scripts).

    LAWFIT_FUZZ_KNOWN=RecursionError,... lets a run go on past bugs already
    reported: each such exception is printed once and is not fatal.
    """
    import builtins
    import importlib

    import atheris

    with atheris.instrument_imports():
        import lawfit  # noqa: F401

        for name in extra_imports:
            importlib.import_module(name)

    # Coverage feedback from the harness's own decisions too (the compiled
    # module itself is not instrumented: atheris sees Python code only).
    for name, fn in list(module_globals.items()):
        if callable(fn) and getattr(fn, "__module__", None) == module_globals["__name__"] and name != "main":
            module_globals[name] = atheris.instrument_func(fn)
    one_input = module_globals.get(one_input.__name__, one_input)

    known = tuple(getattr(builtins, n) for n in filter(None, os.environ.get("LAWFIT_FUZZ_KNOWN", "").split(",")))
    seen = set()

    def test_one_input(data: bytes) -> None:
        try:
            one_input(FdpSource(atheris.FuzzedDataProvider(data)))
        except known as exc:
            if type(exc).__name__ not in seen:
                seen.add(type(exc).__name__)
                print(f"known issue (not fatal): {type(exc).__name__}: {exc}", flush=True)

    atheris.Setup(sys.argv if argv is None else argv, test_one_input)
    atheris.Fuzz()
