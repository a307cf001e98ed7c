"""Law programs compiled to machine code at run time (CPU), cached by their hash.

:func:`compiled_solver` writes a small C++ file — the core's headers, the
straight-line code :mod:`lawfit.codegen` generates for the law, an entry
point that solves a range of problems, and the program it was generated
from — compiles it with the system's C++ compiler into a shared library under
the cache folder, and has the core load it (``_core.load_compiled``: the core
opens the library, checks that it was built against this core, and returns a
capsule that keeps it loaded) for ``_core.solve_batch(compiled=...)``, which
also checks that the capsule's program is the batch's.  The results are
bit-identical to the interpreter's (same arithmetic, same flags); only the
dispatch is gone.

It is optional: with no compiler, headers or writable cache, or if anything
fails, :func:`compiled_solver` returns None with the reason in
:func:`last_error`, and callers use the interpreter.  The cache folder is
``$LAWFIT_CACHE`` or ``~/.cache/lawfit``; compiled files are named by a hash of
the source, the compiler and the flags, written atomically, and never reused
across changes of any of them.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from . import native as _core
from ..codegen import runner_source, size_class

__all__ = ["compiled_solver", "compiled_cuda_solver", "compiler", "nvcc", "last_error"]

# -ffp-contract=off and -fno-math-errno as the core's own build (CMakeLists.txt):
# the same rounding as the interpreter.
FLAGS = ["-std=c++17", "-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-march=native", "-shared", "-fPIC"]

_lock = threading.Lock()
_loaded: dict[str, object] = {}  # source hash -> capsule from _core.load_compiled (keeps the library loaded)
_by_program: dict[tuple, object] = {}  # (kind, program) -> the same capsules, for jit='auto'
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
                                                             std::int64_t last, std::int32_t* counts,
                                                             std::int64_t counts_size) {{
    // One workspace per thread; slot 0 is all the generated code writes.
    thread_local std::unique_ptr<lawfit::Workspace<lawfit::kBlock, {np}, 1>> ws;
    if (!ws) ws.reset(new lawfit::Workspace<lawfit::kBlock, {np}, 1>());
    for (std::int64_t i = first; i < last; ++i)
        lawfit::solve_problem<GeneratedRunner>(*batch, i, *ws, counts, counts_size);
}}
{program}
}}
"""


_CUDA_TEMPLATE = """#include <cstdint>
#include <cstdio>
#include <string>
#include <type_traits>

#include "batch_runner.cuh"

namespace {{
{runner}
}}  // namespace

extern "C" {{
__attribute__((visibility("default"))) std::uint64_t lawfit_cuda_jit_abi() {{
    return lawfit::cuda::abi_signature();
}}

__attribute__((visibility("default"))) int lawfit_cuda_jit_solve(
        const lawfit::BatchView* host, const lawfit::ReduceView* r, const lawfit::cuda::Resident* resident,
        int want_jtj, int layout, std::int64_t max_chunk, const lawfit::cuda::ChunkReport* report, int* n_chunks,
        char* err, int err_len) {{
    const std::string e = lawfit::cuda::run_batch<GeneratedRunner, {np}, 1>(
        *host, *r, *resident, want_jtj != 0, static_cast<lawfit::cuda::Layout>(layout), max_chunk, report,
        n_chunks);
    if (e.empty()) return 0;
    std::snprintf(err, static_cast<std::size_t>(err_len), "%s", e.c_str());
    return 1;
}}
{program}
}}

static_assert(std::is_same<decltype(&lawfit_cuda_jit_solve), lawfit::cuda::CompiledSolve>::value,
              "the entry point must have the core's CompiledSolve type");
"""

# --fmad=false as the package's CUDA build (cuda/CMakeLists.txt).
CUDA_FLAGS = ["-std=c++17", "-O3", "--fmad=false", "-shared", "-Xcompiler", "-fPIC"]


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


def nvcc() -> str | None:
    """The CUDA compiler: ``$CUDACXX``, else nvcc on the PATH or under ``$CUDA_HOME``."""
    for name in filter(None, (os.environ.get("CUDACXX"), "nvcc")):
        path = shutil.which(name)
        if path:
            return path
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    path = Path(home) / "bin" / "nvcc"
    return str(path) if path.is_file() else None


def _include_dir() -> Path | None:
    """The core's headers: shipped in the package, or cpp/ of a source checkout."""
    here = Path(__file__).resolve().parent.parent  # the package directory
    for candidate in (here / "include", here.parent.parent / "cpp"):
        if (candidate / "lawfit" / "batch.hpp").is_file():
            return candidate
    return None


def _cuda_include_dir() -> Path | None:
    """The GPU back end's headers (batch_runner.cuh and what it includes)."""
    here = Path(__file__).resolve().parent.parent  # the package directory
    for candidate in (here / "include" / "cuda", here.parent.parent / "cuda"):
        if (candidate / "batch_runner.cuh").is_file():
            return candidate
    return None


def _cache_dir() -> Path:
    root = os.environ.get("LAWFIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "lawfit")
    return Path(root) / "jit"


def _headers_digest(*folders: Path) -> str:
    h = hashlib.sha256()
    for folder in folders:
        for path in sorted([*folder.glob("*.hpp"), *folder.glob("*.cuh")]):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def compiled_solver(program):
    """``program`` compiled for the CPU: a capsule for ``_core.solve_batch(compiled=...)``,
    or None (see :func:`last_error`)."""
    global _error
    _error = ""
    cxx, include = compiler(), _include_dir()
    if cxx is None:
        _error = "no C++ compiler found (set CXX)"
        return None
    if include is None:
        _error = "the core's headers are not installed with this lawfit"
        return None
    return _compile_and_load(program, _TEMPLATE, [cxx, *FLAGS, f"-I{include}"], [include / "lawfit"], "law.cpp",
                             "cpu")


def compiled_cuda_solver(program):
    """``program`` compiled for the GPU (the whole batch driver of
    batch_runner.cuh with the law's generated code in its kernels) with nvcc
    for this machine's GPU: a capsule for ``_core.solve_batch(compiled=...)``,
    or None (see :func:`last_error`).
    nvcc takes several seconds the first time; the result is cached."""
    global _error
    _error = ""
    if not _core.WITH_CUDA:
        _error = "this lawfit build has no CUDA back end"
        return None
    compiler_path, include, cuda_include = nvcc(), _include_dir(), _cuda_include_dir()
    if compiler_path is None:
        _error = "no CUDA compiler (nvcc) found (set CUDACXX or CUDA_HOME)"
        return None
    if include is None or cuda_include is None:
        _error = "the core's headers are not installed with this lawfit"
        return None
    # The GPU of this machine, or (no GPU: a build to inspect) the package's architectures.
    arch = ["-arch=native"] if _core.cuda_device_count() > 0 else [
        "-gencode", "arch=compute_80,code=sm_80", "-gencode", "arch=compute_90,code=sm_90"]
    command = [compiler_path, *CUDA_FLAGS, *arch, f"-I{include}", f"-I{cuda_include}"]
    return _compile_and_load(program, _CUDA_TEMPLATE, command, [include / "lawfit", cuda_include], "law.cu",
                             "cuda")


def loaded_solver(program, device: str = "cpu"):
    """``program`` already compiled and loaded in this process for ``device``, or None (no compile)."""
    kind = "cpu" if device == "cpu" else "cuda"
    with _lock:
        return _by_program.get((kind, _program_key(program)))


def _program_key(program) -> tuple:
    return (bytes(np.ascontiguousarray(program.code, dtype=np.int32)),
            bytes(np.ascontiguousarray(program.consts, dtype=np.float64)), len(program.param_names))


def _compile_and_load(program, template: str, command: list[str], headers: list[Path], name: str, kind: str):
    """Generates, compiles (once: cached by the hash of source, command and
    headers) and has the core load and check the library; returns its capsule."""
    global _error
    try:
        source = template.format(runner=runner_source(program), np=size_class(len(program.param_names)),
                                 program=_program_export(program))
    except ValueError as exc:
        _error = f"no code generator for this program: {exc}"
        return None
    key = hashlib.sha256("\n".join([source, " ".join(command), _headers_digest(*headers)]).encode())
    key = key.hexdigest()[:24]
    with _lock:
        if key in _loaded:
            return _loaded[key]
        try:
            capsule = _core.load_compiled(str(_build(source, key, command, name)), kind)
        except ValueError as exc:
            _error = str(exc)
            return None
        except (OSError, subprocess.SubprocessError) as exc:
            _error = f"compiling the law with {Path(command[0]).name} failed: {exc}"
            return None
        _loaded[key] = capsule
        _by_program[(kind, _program_key(program))] = capsule
        return capsule


def _program_export(program) -> str:
    """C++ of ``lawfit_jit_program``: the program the library is generated
    from (constants as their bits), which the core compares with the batch's."""
    code = np.ascontiguousarray(program.code, dtype=np.int32).ravel().tolist()
    consts = np.ascontiguousarray(program.consts, dtype=np.float64).ravel().tolist()
    bits = [f"0x{struct.unpack('<Q', struct.pack('<d', c))[0]:016x}ull" for c in consts]
    return f"""
__attribute__((visibility("default"))) void lawfit_jit_program(const std::int32_t** code, std::int64_t* n_instr,
                                                               const std::uint64_t** const_bits,
                                                               std::int64_t* n_consts, std::int64_t* n_params) {{
    static const std::int32_t kCode[] = {{{", ".join(map(str, code)) or "0"}}};
    static const std::uint64_t kConstBits[] = {{{", ".join(bits) or "0"}}};
    *code = kCode;
    *n_instr = {len(code) // 2};
    *const_bits = kConstBits;
    *n_consts = {len(consts)};
    *n_params = {len(program.param_names)};
}}
"""


def _build(source: str, key: str, command: list[str], name: str) -> Path:
    """Compiles source with ``command`` (compiler and flags) into the cache, once."""
    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    lib_path = cache / f"law_{key}.so"
    if lib_path.is_file():
        return lib_path
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        src = Path(tmp) / name
        src.write_text(source)
        out = Path(tmp) / "law.so"
        proc = subprocess.run([*command, str(src), "-o", str(out)], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise subprocess.SubprocessError(proc.stderr.strip().splitlines()[-1] if proc.stderr else
                                             f"{command[0]} exited with {proc.returncode}")
        os.replace(out, lib_path)  # atomic: concurrent builders never see half a file
    return lib_path
