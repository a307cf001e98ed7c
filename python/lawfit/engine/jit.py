"""Law programs compiled to machine code at run time, cached on disk and checked before use.

:func:`compiled_solver` writes a small C++ file — the core's headers, the
straight-line code :mod:`lawfit.codegen` generates for the law, an entry
point that solves a range of problems, the program it was generated from and
a *signature* — compiles it with the system's C++ compiler into a shared
library in the cache folder, and has the core load it (``_core.load_compiled``
opens it, compares its batch layout and returns a capsule that keeps it
loaded) for ``_core.solve_batch(compiled=...)``, which also checks that the
capsule's program is the batch's.  The results are bit-identical to the
interpreter's (same arithmetic, same flags); only the dispatch is gone.
:func:`compiled_cuda_solver` does the same with nvcc for the GPU.

The cache (``$LAWFIT_CACHE/jit``, default ``~/.cache/lawfit/jit``) is often a
shared home directory seen by machines with different CPUs and GPUs, written
by several processes at once, and outlives upgrades; a library built for
another CPU dies with an illegal instruction that no Python code can catch.
So:

* **The key** of an entry is a hash of its signature: the generated source
  (hence the program), the *resolved* target — the CPU features the compiler
  turns ``-march=native`` into (``-###``; ``/proc/cpuinfo`` where the
  compiler does not say) or the GPUs' compute capabilities —, the compiler's
  path, identity and version (``--version``, ``-dumpmachine``), the flags, a
  digest of the headers, the core's layout (``BATCH_VIEW_SIZE``,
  ``MAX_PARAMS``, ``MAX_STACK``, ``CUDA_ABI``) and lawfit's version.
* **The signature travels in the binary**, as bytes between two markers
  (``lawfit_jit_signature()`` returns them too).  Before a cached library is
  loaded its bytes are read and checked: a trailer appended after the
  linker's output holds their length and SHA-256 (a truncated, partly
  written or corrupt file fails it), and the embedded signature must equal
  the one this process expects (a file made for another CPU, compiler, core
  or version fails it).  Nothing of a library runs before that.  After
  loading, the exported ``lawfit_jit_signature()`` is compared once more,
  and the generated source ``static_assert``s the core's layout, so a
  library compiled against headers that disagree with the running core
  does not build at all.
* **Writes are atomic**: a library is compiled in a private temporary
  folder and renamed into place; a per-entry lock file (``flock``) makes a
  second process that wants the same law wait for the first instead of
  compiling it again.  An entry that fails the checks is rebuilt and
  replaced.
* **The size is bounded**: entries are touched when used and the least
  recently used are removed when the folder exceeds ``$LAWFIT_CACHE_SIZE``
  megabytes (default :data:`DEFAULT_CACHE_MB`).

It is optional: with no compiler, headers or writable cache, or if anything
fails, :func:`compiled_solver` returns None with the reason in
:func:`last_error`, and callers use the interpreter.

The generated C++ holds only identifiers the generator made and numeric
literals (see :mod:`lawfit.codegen`); the signature is written as a list of
byte values, so no text from the environment (paths, version strings) nor from
the user (names, formulas) is ever part of the source.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from . import native as _core
from ..codegen import audit_source, runner_source, size_class
from . import jit_policy as _policy
from .jit_policy import BACKGROUND_WORK, BACKGROUND_WORK_CUDA, background_enabled  # noqa: F401  (public here too)

__all__ = ["compiled_solver", "compiled_cuda_solver", "compiler", "nvcc", "last_error", "cache_dir",
           "cache_entry", "signature", "check_entry", "DEFAULT_CACHE_MB", "compile_in_background",
           "background_enabled", "BACKGROUND_WORK", "BACKGROUND_WORK_CUDA"]

# -ffp-contract=off and -fno-math-errno as the core's own build (CMakeLists.txt):
# the same rounding as the interpreter.
FLAGS = ["-std=c++17", "-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-march=native",
         "-shared", "-fPIC"]
# --fmad=false as the package's CUDA build (cuda/CMakeLists.txt).
CUDA_FLAGS = ["-std=c++17", "-O3", "--fmad=false", "-shared", "-Xcompiler", "-fPIC"]

#: Largest size of the cache folder, in megabytes, unless ``$LAWFIT_CACHE_SIZE`` says otherwise.
DEFAULT_CACHE_MB = 256.0
#: Version of the signature and trailer layout; a change invalidates every entry.
FORMAT = 2

_BEGIN = b"LAWFIT-JIT-SIGNATURE-BEGIN\n"
_END = b"\nLAWFIT-JIT-SIGNATURE-END"
_TRAILER_MAGIC = b"LAWFIT-JIT-TRAILER-v2\x00\x00\x00"  # 24 bytes
_TRAILER = struct.Struct("<24s32sQ")  # magic, SHA-256 of the library's bytes, their length
_STALE_SECONDS = 3600.0  # temporary folders and lock files older than this are left-overs

_lock = threading.Lock()  # guards the dictionaries below (never held while compiling)
_loaded: dict[str, object] = {}  # key -> capsule from _core.load_compiled (keeps the library loaded)
_probed: dict[tuple, dict] = {}  # (what, compiler) -> facts about the compiler or target, once per process
_entry_of: dict[tuple, str] = {}  # (kind, program.key) -> its key in _loaded (see _loaded_for)
_building: dict[str, threading.Lock] = {}  # key -> held while this process builds or loads that entry
_local = threading.local()  # last_error() is per thread: a background build does not overwrite the caller's


_TEMPLATE = """#include <cstdint>
#include <memory>

#include "lawfit/batch.hpp"

// The core this library is for: compiling against headers that disagree with it fails here.
static_assert(sizeof(lawfit::BatchView) == {batch_view_size}u, "the headers disagree with the running core");
static_assert(lawfit::kMaxParams == {max_params}, "the headers disagree with the running core");
static_assert(lawfit::kMaxStack == {max_stack}, "the headers disagree with the running core");

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
{signature}
}}
"""

_CUDA_TEMPLATE = """#include <cstdint>
#include <cstdio>
#include <string>
#include <type_traits>

#include "batch_runner.cuh"

static_assert(sizeof(lawfit::BatchView) == {batch_view_size}u, "the headers disagree with the running core");
static_assert(lawfit::kMaxParams == {max_params}, "the headers disagree with the running core");
static_assert(lawfit::kMaxStack == {max_stack}, "the headers disagree with the running core");
static_assert(lawfit::cuda::abi_signature() == {cuda_abi}ull, "the headers disagree with the running core");

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
{signature}
}}

static_assert(std::is_same<decltype(&lawfit_cuda_jit_solve), lawfit::cuda::CompiledSolve>::value,
              "the entry point must have the core's CompiledSolve type");
"""


def last_error() -> str:
    """Why this thread's last :func:`compiled_solver` call returned None ('' if it did not)."""
    return getattr(_local, "error", "")


def compile_in_background(program, work: float = float("inf"), kind: str = "cpu") -> bool:
    """Count ``work`` (points x problems) for ``program`` and, once this process has seen
    :data:`BACKGROUND_WORK` of it, build and load its library on a daemon thread; calls
    made meanwhile interpret, later ones find it with :func:`loaded_solver`.

    Returns True when this call started the build.  Nothing is started for a law
    loaded or being built, without a compiler, or with background builds off.
    """
    if not background_enabled():
        return False
    k = (kind, program.key)
    with _lock:
        if _loaded_for(kind, program) is not None or _policy.work_seen.get(k) == float("inf"):  # loaded, or started
            return False
        if not _policy.count_work(kind, program.key, work):
            return False
        _policy.work_seen[k] = float("inf")  # started: never again in this process

    def build() -> None:
        with contextlib.suppress(Exception):  # a failed build leaves the law interpreted
            _compile_and_load(program, kind)

    threading.Thread(target=build, name="lawfit-jit", daemon=True).start()
    return True


def compiler() -> Optional[str]:
    """The C++ compiler used: ``$CXX``, else ``c++``, ``g++`` or ``clang++`` on the PATH."""
    for name in filter(None, (os.environ.get("CXX"), "c++", "g++", "clang++")):
        path = shutil.which(name)
        if path:
            return path
    return None


def nvcc() -> Optional[str]:
    """The CUDA compiler: ``$CUDACXX``, else nvcc on the PATH or under ``$CUDA_HOME``."""
    for name in filter(None, (os.environ.get("CUDACXX"), "nvcc")):
        path = shutil.which(name)
        if path:
            return path
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    candidate = Path(home) / "bin" / "nvcc"
    return str(candidate) if candidate.is_file() else None


def _include_dir() -> Optional[Path]:
    """The core's headers: shipped in the package, or cpp/ of a source checkout."""
    here = Path(__file__).resolve().parent.parent  # the package directory
    for candidate in (here / "include", here.parent.parent / "cpp"):
        if (candidate / "lawfit" / "batch.hpp").is_file():
            return candidate
    return None


def _cuda_include_dir() -> Optional[Path]:
    """The GPU back end's headers (batch_runner.cuh and what it includes)."""
    here = Path(__file__).resolve().parent.parent  # the package directory
    for candidate in (here / "include" / "cuda", here.parent.parent / "cuda"):
        if (candidate / "batch_runner.cuh").is_file():
            return candidate
    return None


def cache_dir() -> Path:
    """The folder of compiled laws: ``$LAWFIT_CACHE/jit``, default ``~/.cache/lawfit/jit``."""
    root = os.environ.get("LAWFIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "lawfit")
    return Path(root) / "jit"


def _cache_limit() -> int:
    """Most bytes the cache folder may hold (``$LAWFIT_CACHE_SIZE`` megabytes)."""
    text = os.environ.get("LAWFIT_CACHE_SIZE", "")
    try:
        mb = float(text) if text.strip() else DEFAULT_CACHE_MB
    except ValueError:
        mb = DEFAULT_CACHE_MB
    return int(max(mb, 0.0) * 1024 * 1024)


def _headers_digest(*folders: Path) -> str:
    h = hashlib.sha256()
    for folder in folders:
        for path in sorted([*folder.glob("*.hpp"), *folder.glob("*.cuh")]):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


# --------------------------------------------------------------------------
# What the binary is for: compiler and target, resolved


def _run(command: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _compiler_identity(path: str) -> dict:
    """The compiler's identity: its path, ``--version`` (first line and a hash
    of all of it) and the machine it targets (``-dumpmachine``)."""
    key = ("identity", path)
    if key not in _probed:
        version = _run([path, "--version"])
        text = (version.stdout or "") + (version.stderr or "")
        machine = ""
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            machine = _run([path, "-dumpmachine"]).stdout.strip()
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        _probed[key] = {"path": path, "version": first, "version_sha256": hashlib.sha256(text.encode()).hexdigest(),
                        "machine": machine}
    return _probed[key]


_TARGET_WORDS = re.compile(r"^(-march=|-mtune=|-mcpu=|-m[a-z0-9][a-z0-9.-]*$)")


def _resolved_flags(line: str) -> list[str]:
    """The target options of the compiler proper's command line, as ``-###`` prints it:
    GCC's ``-march=znver3 -mavx2 -mno-avx512f ... --param l1-cache-size=32``,
    Clang's ``-target-cpu znver3 -target-feature +avx2 ...``."""
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    out = []
    for i, w in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if w in ("-target-cpu", "-target-feature", "-tune-cpu") or (w == "--param" and "cache" in nxt):
            out.append(f"{w} {nxt}")
        elif _TARGET_WORDS.match(w):
            out.append(w)
    return out


def _cpuinfo() -> list[str]:
    """The CPU's model name and feature flags from /proc/cpuinfo (Linux), or []."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return []
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "")
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines()
                  if ln.startswith(("flags", "Features"))), [])
    return [f"model {model}"] + sorted(set(flags))


def _cpu_target(cxx: str) -> dict:
    """What ``-march=native`` means on this machine for ``cxx``: the options
    the compiler resolves it to (``cxx -march=native -### ...``), else the
    CPU's flags from /proc/cpuinfo."""
    key = ("cpu", cxx)
    if key not in _probed:
        resolved: list[str] = []
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            proc = _run([cxx, "-march=native", "-###", "-x", "c++", "-c", os.devnull, "-o", os.devnull])
            for line in proc.stderr.splitlines():
                if "cc1" in line:  # GCC's cc1plus, Clang's "-cc1"
                    resolved = _resolved_flags(line)
                    break
        if any(w.startswith(("-march=", "-target-cpu")) and "native" not in w for w in resolved):
            _probed[key] = {"source": "compiler", "options": sorted(set(resolved))}
        else:
            _probed[key] = {"source": "cpuinfo", "options": _cpuinfo()}
    return _probed[key]


def _gpu_target() -> dict:
    """The compute capabilities of this machine's GPUs (``nvidia-smi``), their names, and the
    nvcc architecture options that build for exactly them."""
    key = ("gpu", "")
    if key not in _probed:
        n = int(_core.cuda_device_count())
        names = [str(_core.cuda_device_name(d)) for d in range(n)]
        caps: list[str] = []
        smi = shutil.which("nvidia-smi")
        if n and smi:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                out = _run([smi, "--query-gpu=compute_cap", "--format=csv,noheader"], timeout=30).stdout
                caps = sorted({c.strip() for c in out.splitlines() if re.fullmatch(r"\d+\.\d+", c.strip())})
        if caps:
            arch = []
            for c in caps:
                sm = c.replace(".", "")
                arch += ["-gencode", f"arch=compute_{sm},code=sm_{sm}"]
        elif n:  # a GPU, but nothing says which: nvcc's own resolution (its names are in the key)
            arch = ["-arch=native"]
        else:  # no GPU: a build to inspect, for the package's architectures
            arch = ["-gencode", "arch=compute_80,code=sm_80", "-gencode", "arch=compute_90,code=sm_90"]
        _probed[key] = {"devices": names, "compute_capabilities": caps, "arch": arch}
    return _probed[key]


def _core_layout(kind: str) -> dict:
    layout = {"batch_view_size": int(_core.BATCH_VIEW_SIZE), "max_params": int(_core.MAX_PARAMS),
              "max_stack": int(_core.MAX_STACK)}
    if kind == "cuda":
        layout["cuda_abi"] = int(_core.CUDA_ABI)
    return layout


def _lawfit_version() -> str:
    from .. import __version__

    return str(__version__)


def signature(kind: str, source: str, command: list[str], target: dict, compilers: list[str],
              headers: str) -> bytes:
    """The signature of a library: everything it was built from and for, as
    canonical JSON (sorted keys, ASCII).  Its SHA-256 names the cache entry;
    the library carries it and is loaded only when it matches."""
    doc = {
        "format": FORMAT,
        "lawfit": _lawfit_version(),
        "kind": kind,
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "command": list(command),
        "target": target,
        "compilers": [_compiler_identity(c) for c in compilers],
        "headers_sha256": headers,
        "core": _core_layout(kind),
    }
    return json.dumps(doc, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _signature_export(sig: bytes) -> str:
    """C++ of ``lawfit_jit_signature``: the signature between its markers, as byte values
    (numeric literals only), returned with its length."""
    blob = _BEGIN + sig + _END
    rows = [", ".join(str(b) for b in blob[i:i + 32]) for i in range(0, len(blob), 32)]
    body = ",\n    ".join(rows)
    return f"""
__attribute__((visibility("default"), used)) const unsigned char* lawfit_jit_signature(std::uint64_t* size) {{
    static const unsigned char kSignature[] = {{
    {body}}};
    *size = sizeof(kSignature);
    return kSignature;
}}
"""


# --------------------------------------------------------------------------
# Cache entries: check, build, evict


def check_entry(path: Path, expected: bytes) -> str:
    """Why the library at ``path`` must not be loaded ('' when it may): it is
    missing, truncated or corrupt (its trailer's length or SHA-256 do not
    match its bytes), or its embedded signature is not ``expected``."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if len(data) < _TRAILER.size:
        return "truncated (no trailer)"
    magic, digest, length = _TRAILER.unpack(data[-_TRAILER.size:])
    body = data[:-_TRAILER.size]
    if magic != _TRAILER_MAGIC:
        return "truncated or not written by this lawfit (no trailer)"
    if length != len(body):
        return f"truncated ({len(body)} of {length} bytes)"
    if hashlib.sha256(body).digest() != digest:
        return "corrupt (checksum mismatch)"
    begin = body.find(_BEGIN)
    end = body.find(_END, begin + len(_BEGIN)) if begin >= 0 else -1
    if begin < 0 or end < 0:
        return "carries no signature"
    if body[begin + len(_BEGIN):end] != expected:
        return "built for another target, compiler, core or lawfit version (signature mismatch)"
    return ""


def _seal(path: Path) -> None:
    """Appends the trailer (length and SHA-256 of the bytes) to a freshly linked library."""
    body = path.read_bytes()
    with open(path, "ab") as f:
        f.write(_TRAILER.pack(_TRAILER_MAGIC, hashlib.sha256(body).digest(), len(body)))
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def _entry_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on one cache entry across processes (``flock`` on ``path``;
    nothing where the platform has no flock: the atomic rename still keeps entries whole)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path, "a+b") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        except OSError:  # e.g. a network file system without locks: build anyway (renames stay atomic)
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _compile(source: str, command: list[str], name: str, cache: Path, lib_path: Path) -> None:
    """Compiles ``source`` into a private folder of ``cache``, seals it and renames it to ``lib_path``."""
    with tempfile.TemporaryDirectory(dir=cache, prefix="build-") as tmp:
        src = Path(tmp) / name
        src.write_text(source)
        out = Path(tmp) / "law.so"
        proc = subprocess.run([*command, str(src), "-o", str(out)], capture_output=True, text=True, timeout=600,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
            why = next((ln for ln in lines if "error" in ln), lines[-1] if lines else "")
            raise subprocess.SubprocessError(why or f"{Path(command[0]).name} exited with {proc.returncode}")
        _seal(out)
        os.replace(out, lib_path)  # atomic: readers see the old entry or the whole new one


def _evict(cache: Path, limit: int, keep: Path) -> None:
    """Removes the least recently used libraries until the folder holds at most
    ``limit`` bytes (never ``keep``), and left-overs of killed builds."""
    now = time.time()
    entries = []
    for p in cache.iterdir():
        try:
            st = p.stat()
        except OSError:
            continue
        if p.name.startswith("law_") and p.suffix == ".so":
            entries.append((st.st_mtime, st.st_size, p))
        elif now - st.st_mtime > _STALE_SECONDS:
            if p.is_dir() and p.name.startswith(("build-", "tmp")):
                shutil.rmtree(p, ignore_errors=True)
            elif p.suffix == ".lock" and not p.with_suffix(".so").exists():
                with contextlib.suppress(OSError):
                    p.unlink()
    total = sum(size for _, size, _ in entries)
    for _, size, p in sorted(entries, key=lambda e: e[0]):
        if total <= limit:
            break
        if p == keep:
            continue
        with contextlib.suppress(OSError):
            p.unlink()
            total -= size


def _entry(source: str, sig: bytes, command: list[str], name: str) -> Path:
    """The checked library for ``sig``: the cached one if it passes :func:`check_entry`,
    else a fresh build (one process builds, the others wait for it)."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(sig).hexdigest()[:32]
    lib_path = cache / f"law_{key}.so"
    if check_entry(lib_path, sig) == "":
        with contextlib.suppress(OSError):
            os.utime(lib_path)  # the entry's last use, for eviction
        return lib_path
    with _entry_lock(cache / f"law_{key}.lock"):
        if check_entry(lib_path, sig) != "":  # nobody built it while this process waited
            _compile(source, command, name, cache, lib_path)
            problem = check_entry(lib_path, sig)
            if problem:
                raise OSError(f"the library just built is {problem}")
    _evict(cache, _cache_limit(), keep=lib_path)
    return lib_path


def _verify_loaded(path: Path, expected: bytes) -> str:
    """Compares the signature the loaded library's ``lawfit_jit_signature()`` returns
    with ``expected`` ('' when equal).  The library is already open in the core, so
    this opens the same copy."""
    try:
        import ctypes
    except ImportError:  # pragma: no cover
        return ""
    try:
        lib = ctypes.CDLL(str(path), mode=getattr(os, "RTLD_LOCAL", 0) | getattr(os, "RTLD_NOW", 0))
        fn = lib.lawfit_jit_signature
    except (OSError, AttributeError) as exc:
        return f"its signature cannot be read ({exc})"
    fn.restype = ctypes.POINTER(ctypes.c_ubyte)
    fn.argtypes = [ctypes.POINTER(ctypes.c_uint64)]
    size = ctypes.c_uint64(0)
    blob = ctypes.string_at(fn(ctypes.byref(size)), size.value)
    with contextlib.suppress(ImportError, AttributeError, OSError):
        import _ctypes

        _ctypes.dlclose(lib._handle)  # the core's capsule keeps its own reference
    if blob != _BEGIN + expected + _END:
        return "the loaded library's signature differs from the one checked on disk"
    return ""


# --------------------------------------------------------------------------
# Entry points


def _sources(program, template: str) -> str:
    """The whole C++ file for ``program`` (without the signature), audited."""
    runner = runner_source(program)
    exported = _program_export(program)
    audit_source(runner)
    audit_source(exported)
    return template.format(runner=runner, np=size_class(len(program.param_names)), program=exported,
                           signature="{signature}", cuda_abi=int(_core.CUDA_ABI), **_core_layout("cpu"))


class _Unavailable(Exception):
    """Why a law cannot be compiled here (no compiler, no headers, ...)."""


def _plan(program, kind: str) -> tuple[str, bytes, list[str], str]:
    """(source without its signature, signature, compile command, file name) of ``program``'s
    library for ``kind`` ('cpu' or 'cuda'); raises _Unavailable saying why there is none."""
    include = _include_dir()
    if kind == "cpu":
        cxx = compiler()
        if cxx is None:
            raise _Unavailable("no C++ compiler found (set CXX)")
        if include is None:
            raise _Unavailable("the core's headers are not installed with this lawfit")
        command, headers, name, template = [cxx, *FLAGS, f"-I{include}"], [include / "lawfit"], "law.cpp", _TEMPLATE
        compilers = [cxx]

        def target():
            return {"cpu": _cpu_target(cxx)}
    else:
        if not _core.WITH_CUDA:
            raise _Unavailable("this lawfit build has no CUDA back end")
        compiler_path, cuda_include = nvcc(), _cuda_include_dir()
        if compiler_path is None:
            raise _Unavailable("no CUDA compiler (nvcc) found (set CUDACXX or CUDA_HOME)")
        if include is None or cuda_include is None:
            raise _Unavailable("the core's headers are not installed with this lawfit")
        gpu = _gpu_target()
        command = [compiler_path, *CUDA_FLAGS, *gpu["arch"], f"-I{include}", f"-I{cuda_include}"]
        headers, name, template = [include / "lawfit", cuda_include], "law.cu", _CUDA_TEMPLATE
        host = [c for c in [compiler()] if c]  # nvcc compiles the host code with the system's compiler
        compilers = [compiler_path, *host]

        def target():
            return {"gpu": {k: gpu[k] for k in ("devices", "compute_capabilities")},
                    "host_cpu": _cpu_target(host[0]) if host else {}}
    try:
        skeleton = _sources(program, template)
    except ValueError as exc:
        raise _Unavailable(f"no code generator for this program: {exc}") from None
    try:
        sig = signature(kind, skeleton, command, target(), compilers, _headers_digest(*headers))
    except (OSError, subprocess.SubprocessError) as exc:
        raise _Unavailable(f"cannot identify the compiler {Path(command[0]).name}: {exc}") from None
    return skeleton, sig, command, name


def cache_entry(program, kind: str = "cpu") -> tuple[Path, bytes]:
    """Where ``program``'s library for ``kind`` lives in the cache and the signature it
    must carry (nothing is compiled).  Raises RuntimeError when it cannot be built here."""
    try:
        _, sig, _, _ = _plan(program, kind)
    except _Unavailable as exc:
        raise RuntimeError(str(exc)) from None
    return cache_dir() / f"law_{hashlib.sha256(sig).hexdigest()[:32]}.so", sig


def compiled_solver(program):
    """``program`` compiled for the CPU: a capsule for ``_core.solve_batch(compiled=...)``,
    or None (see :func:`last_error`)."""
    return _compile_and_load(program, "cpu")


def compiled_cuda_solver(program):
    """``program`` compiled for the GPU (the whole batch driver of
    batch_runner.cuh with the law's generated code in its kernels) with nvcc
    for this machine's GPUs: a capsule for ``_core.solve_batch(compiled=...)``,
    or None (see :func:`last_error`).
    nvcc takes several seconds the first time; the result is cached."""
    return _compile_and_load(program, "cuda")


def loaded_solver(program, device: str = "cpu"):
    """``program`` already compiled and loaded in this process for ``device``, or None (no compile)."""
    kind = "cpu" if device == "cpu" else "cuda"
    with _lock:
        return _loaded_for(kind, program)


def _loaded_for(kind: str, program):
    """The capsule loaded in this process for ``program`` (``kind`` 'cpu' or 'cuda'), or None;
    call with ``_lock`` held.  Forgotten with ``_loaded`` (as the tests' fresh processes do)."""
    return _loaded.get(_entry_of.get((kind, program.key), ""))


def _compile_and_load(program, kind: str):
    """Finds or builds the checked library of ``program`` and has the core load it."""
    _local.error = ""
    with _lock:  # loaded before: no need to generate and audit its source again (15 ms a call)
        capsule = _loaded_for(kind, program)
    if capsule is not None:
        return capsule
    try:
        skeleton, sig, command, name = _plan(program, kind)
    except _Unavailable as exc:
        _local.error = str(exc)
        return None
    key = hashlib.sha256(sig).hexdigest()[:32]
    with _lock:
        if key in _loaded:
            return _loaded[key]
        building = _building.setdefault(key, threading.Lock())
    with building:  # one thread per entry builds; the others wait for it, then find it loaded
        with _lock:
            if key in _loaded:
                return _loaded[key]
        source = skeleton.replace("{signature}", _signature_export(sig), 1)
        try:
            path = _entry(source, sig, command, name)
            capsule = _core.load_compiled(str(path), kind)
        except ValueError as exc:
            _local.error = str(exc)
            return None
        except (OSError, subprocess.SubprocessError) as exc:
            _local.error = f"compiling the law with {Path(command[0]).name} failed: {exc}"
            return None
        problem = _verify_loaded(path, sig)
        if problem:
            _local.error = f"{path.name}: {problem}"
            return None
        with _lock:
            _loaded[key] = capsule
            _entry_of[(kind, program.key)] = key
        return capsule


def _program_export(program) -> str:
    """C++ of ``lawfit_jit_program``: the program the library is generated
    from (constants as their bits), which the core compares with the batch's."""
    code = np.ascontiguousarray(program.code, dtype=np.int32).ravel().tolist()
    consts = np.ascontiguousarray(program.consts, dtype=np.float64).ravel()
    bits = [f"0x{int(b):016x}ull" for b in consts.view(np.uint64).tolist()]
    return f"""
__attribute__((visibility("default"))) void lawfit_jit_program(const std::int32_t** code, std::int64_t* n_instr,
                                                               const std::uint64_t** const_bits,
                                                               std::int64_t* n_consts, std::int64_t* n_params) {{
    static const std::int32_t kCode[] = {{{", ".join(str(int(c)) for c in code) or "0"}}};
    static const std::uint64_t kConstBits[] = {{{", ".join(bits) or "0"}}};
    *code = kCode;
    *n_instr = {len(code) // 2};
    *const_bits = kConstBits;
    *n_consts = {consts.size};
    *n_params = {int(len(program.param_names))};
}}
"""
