"""Law programs compiled to machine code at run time (CPU), cached by their hash.

:func:`compiled_solver` writes a small C++ file — the core's headers, the
straight-line code :mod:`lawfit.codegen` generates for the law, and an entry
point that solves a range of problems — compiles it with the system's C++
compiler into a shared library under the cache folder, loads it, and returns
the entry point's address for ``_core.solve_batch(jit_address=...)``.  The
results are bit-identical to the interpreter's (same arithmetic, same flags);
only the dispatch is gone.

It is optional: with no compiler, headers or writable cache, or if anything
fails, :func:`compiled_solver` returns None with the reason in
:func:`last_error`, and callers use the interpreter.  The cache folder is
``$LAWFIT_CACHE`` or ``~/.cache/lawfit``; compiled files are named by a hash of
the source, the compiler and the flags, written atomically, and never reused
across changes of any of them.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from . import _core
from .codegen import runner_source, size_class

__all__ = ["compiled_solver", "compiler", "last_error"]

# -ffp-contract=off and -fno-math-errno as the core's own build (CMakeLists.txt):
# the same rounding as the interpreter.
FLAGS = ["-std=c++17", "-O3", "-ffp-contract=off", "-fno-math-errno", "-march=native", "-shared", "-fPIC"]

_lock = threading.Lock()
_loaded: dict[str, tuple[ctypes.CDLL, int]] = {}  # source hash -> (library kept alive, entry address)
_error = ""

_TEMPLATE = """#include <cstdint>
#include <memory>

#include "lawfit/batch.hpp"

namespace {{
{runner}
}}  // namespace

extern "C" {{
__attribute__((visibility("default"))) std::uint64_t lawfit_jit_batch_view_size() {{
    return sizeof(lawfit::BatchView);
}}

__attribute__((visibility("default"))) void lawfit_jit_solve(const lawfit::BatchView* batch, std::int64_t first,
                                                             std::int64_t last) {{
    // One workspace per thread; slot 0 is all the generated code writes.
    thread_local std::unique_ptr<lawfit::Workspace<lawfit::kBlock, {np}, 1>> ws;
    if (!ws) ws.reset(new lawfit::Workspace<lawfit::kBlock, {np}, 1>());
    for (std::int64_t i = first; i < last; ++i) lawfit::solve_problem<GeneratedRunner>(*batch, i, *ws);
}}
}}
"""


def last_error() -> str:
    """Why the last :func:`compiled_solver` call returned None ('' if it did not)."""
    return _error


def compiler() -> str | None:
    """The C++ compiler used: ``$CXX``, else ``c++``, ``g++`` or ``clang++`` on the PATH."""
    for name in filter(None, (os.environ.get("CXX"), "c++", "g++", "clang++")):
        path = shutil.which(name)
        if path:
            return path
    return None


def _include_dir() -> Path | None:
    """The core's headers: shipped in the package, or cpp/ of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "include", here.parent.parent / "cpp"):
        if (candidate / "lawfit" / "batch.hpp").is_file():
            return candidate
    return None


def _cache_dir() -> Path:
    root = os.environ.get("LAWFIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "lawfit")
    return Path(root) / "jit"


def _headers_digest(include: Path) -> str:
    h = hashlib.sha256()
    for path in sorted((include / "lawfit").glob("*.hpp")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def module_source(program) -> str:
    """The whole C++ file compiled for ``program``."""
    return _TEMPLATE.format(runner=runner_source(program), np=size_class(len(program.param_names)))


def compiled_solver(program) -> int | None:
    """Address of the compiled entry point for ``program``, or None (see :func:`last_error`)."""
    global _error
    _error = ""
    try:
        source = module_source(program)
    except ValueError as exc:
        _error = f"no code generator for this program: {exc}"
        return None
    cxx, include = compiler(), _include_dir()
    if cxx is None:
        _error = "no C++ compiler found (set CXX)"
        return None
    if include is None:
        _error = "the core's headers are not installed with this lawfit"
        return None
    key = hashlib.sha256("\n".join([source, cxx, " ".join(FLAGS), _headers_digest(include)]).encode()).hexdigest()[:24]
    with _lock:
        if key in _loaded:
            return _loaded[key][1]
        try:
            lib_path = _build(source, key, cxx, include)
            lib = ctypes.CDLL(str(lib_path))
            lib.lawfit_jit_batch_view_size.restype = ctypes.c_uint64
            if lib.lawfit_jit_batch_view_size() != _core.BATCH_VIEW_SIZE:
                _error = "compiled code disagrees with the core on the batch layout"
                return None
        except (OSError, subprocess.SubprocessError, AttributeError) as exc:
            _error = f"compiling the law failed: {exc}"
            return None
        address = ctypes.cast(lib.lawfit_jit_solve, ctypes.c_void_p).value
        _loaded[key] = (lib, address)
        return address


def _build(source: str, key: str, cxx: str, include: Path) -> Path:
    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    lib_path = cache / f"law_{key}.so"
    if lib_path.is_file():
        return lib_path
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        src = Path(tmp) / "law.cpp"
        src.write_text(source)
        out = Path(tmp) / "law.so"
        proc = subprocess.run([cxx, *FLAGS, f"-I{include}", str(src), "-o", str(out)], capture_output=True,
                              text=True, timeout=300)
        if proc.returncode != 0:
            raise subprocess.SubprocessError(proc.stderr.strip().splitlines()[-1] if proc.stderr else
                                             f"{cxx} exited with {proc.returncode}")
        os.replace(out, lib_path)  # atomic: concurrent builders never see half a file
    return lib_path
