"""The compile cache of lawfit.engine.jit: keyed by everything a binary depends on,
checked before loading, atomic under concurrency, bounded; and generated code that
never carries a user's text.

The cache is often a shared home directory (several CPUs, compilers and lawfit
versions) written by several processes at once.  These tests put entries made
for another target, truncated and corrupt files and a second process in its
way, and check that every library loaded is one that was checked.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import lawfit
from lawfit import _core
from lawfit.codegen import audit_source, runner_source
from lawfit.engine import jit as _jit

needs_compiler = pytest.mark.skipif(_jit.compiler() is None, reason="no C++ compiler")

LAW = "a*x**-b + c"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private, empty cache as in a fresh process."""
    monkeypatch.setenv("LAWFIT_CACHE", str(tmp_path))
    monkeypatch.delenv("LAWFIT_CACHE_SIZE", raising=False)
    monkeypatch.setattr(_jit, "_loaded", {})
    return tmp_path / "jit"


def _solve(program, jit=True):
    x = np.linspace(1, 10, 20)
    y = 3 * x**-0.5 + 1
    sol = lawfit.solve_batch(program, program.input_matrix({"x": x}), y, [0, 20], [2.0, 0.4, 0.5], jit=jit)
    return sol.params[0]


def _replace_bytes(path, data):
    """Puts ``data`` at ``path`` as a new file.  Never rewrite a library in place: this
    process may have it mapped, and shrinking a mapped file kills the process (SIGBUS)."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _watch_loads(monkeypatch):
    """Record (path, what check_entry said at that moment) for every library the core loads."""
    seen = []
    real = _jit._core.load_compiled

    def load(path, kind):
        _, sig = _jit.cache_entry(lawfit.compile_law(LAW, inputs=["x"]), kind)
        seen.append((path, _jit.check_entry(path, sig)))
        return real(path, kind)

    monkeypatch.setattr(_jit._core, "load_compiled", load)
    return seen


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """The bytes of a good entry for LAW, built once for the module (the key does not
    depend on where the cache folder is)."""
    if _jit.compiler() is None:
        pytest.skip("no C++ compiler")
    folder = tmp_path_factory.mktemp("pristine")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAWFIT_CACHE", str(folder))
        mp.setattr(_jit, "_loaded", {})
        program = lawfit.compile_law(LAW, inputs=["x"])
        assert _jit.compiled_solver(program) is not None, _jit.last_error()
        path, _ = _jit.cache_entry(program)
        return path.read_bytes()


@pytest.fixture
def builds(monkeypatch, pristine):
    """Stands in for the compiler: every build writes the pristine library (through a
    temporary file and a rename, as the real one) and is counted."""
    done = []

    def build(source, command, name, cache, lib_path):
        done.append(lib_path)
        _replace_bytes(lib_path, pristine)

    monkeypatch.setattr(_jit, "_compile", build)
    return done


@needs_compiler
@pytest.mark.slow  # compiles
def test_the_signature_travels_in_the_binary_and_names_the_entry(cache, pristine, builds):
    program = lawfit.compile_law(LAW, inputs=["x"])
    path, sig = _jit.cache_entry(program)
    assert not path.exists()
    cache.mkdir(parents=True)
    _replace_bytes(path, pristine)  # a library built by the real compiler (the fixture)
    assert _jit.check_entry(path, sig) == ""
    assert _jit.compiled_solver(program) is not None, _jit.last_error()
    assert builds == []  # a checked entry is loaded, not rebuilt
    doc = __import__("json").loads(sig)
    assert doc["lawfit"] == lawfit.__version__ and doc["kind"] == "cpu"
    assert doc["core"] == {"batch_view_size": _core.BATCH_VIEW_SIZE, "max_params": _core.MAX_PARAMS,
                           "max_stack": _core.MAX_STACK}
    assert doc["compilers"][0]["version"] and doc["compilers"][0]["path"] == _jit.compiler()
    target = doc["target"]["cpu"]
    assert target["options"], target  # what -march=native resolved to (or the CPU's flags)
    assert "-march=native" in doc["command"]
    np.testing.assert_allclose(_solve(program), [3.0, 0.5, 1.0], rtol=1e-8)


@needs_compiler
@pytest.mark.slow
def test_an_entry_built_for_another_target_is_never_loaded(cache, monkeypatch, pristine):
    program = lawfit.compile_law(LAW, inputs=["x"])
    ours, our_sig = _jit.cache_entry(program)
    # Another machine sharing this home directory: another CPU behind -march=native.
    other_cpu = {"source": "compiler", "options": ["-march=sapphirerapids", "-mavx512f"]}
    monkeypatch.setitem(_jit._probed, ("cpu", _jit.compiler()), other_cpu)
    theirs, their_sig = _jit.cache_entry(program)
    assert theirs != ours and their_sig != our_sig
    assert _jit.compiled_solver(program) is not None  # the real compiler, told another CPU
    assert _jit.check_entry(theirs, their_sig) == ""
    assert "signature mismatch" in _jit.check_entry(theirs, our_sig)
    monkeypatch.delitem(_jit._probed, ("cpu", _jit.compiler()))
    monkeypatch.setattr(_jit, "_loaded", {})
    builds = []
    monkeypatch.setattr(_jit, "_compile", lambda *a: (builds.append(a[-1]), _replace_bytes(a[-1], pristine)))
    # Their file under our name (a copy, a hash collision, a hand edit): checked, refused, rebuilt.
    _replace_bytes(ours, theirs.read_bytes())
    loads = _watch_loads(monkeypatch)
    np.testing.assert_allclose(_solve(program), [3.0, 0.5, 1.0], rtol=1e-8)
    assert builds == [ours]  # refused and rebuilt
    assert loads == [(str(ours), "")]  # only a checked library was loaded
    assert _jit.check_entry(ours, our_sig) == "" and _jit.check_entry(theirs, their_sig) == ""


@needs_compiler
@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "no trailer", "empty"])
def test_a_damaged_entry_is_detected_and_rebuilt(cache, monkeypatch, damage, pristine, builds):
    program = lawfit.compile_law(LAW, inputs=["x"])
    path, sig = _jit.cache_entry(program)
    cache.mkdir(parents=True)
    data = pristine
    assert _jit.check_entry(path, sig) == "missing"
    if damage == "truncated":  # a copy or write that stopped half way
        _replace_bytes(path, data[: len(data) // 2])
    elif damage == "flipped byte":
        _replace_bytes(path, data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:])
    elif damage == "no trailer":  # e.g. written by an older lawfit straight from the linker
        _replace_bytes(path, data[: -_jit._TRAILER.size])
    else:
        _replace_bytes(path, b"")
    assert _jit.check_entry(path, sig) != ""
    monkeypatch.setattr(_jit, "_loaded", {})
    loads = _watch_loads(monkeypatch)
    np.testing.assert_allclose(_solve(program), [3.0, 0.5, 1.0], rtol=1e-8)
    assert builds == [path]
    assert loads == [(str(path), "")]
    assert _jit.check_entry(path, sig) == ""


@needs_compiler
def test_headers_that_disagree_with_the_running_core_do_not_build(cache, monkeypatch):
    layout = _jit._core_layout

    def wrong(kind):
        return {**layout(kind), "batch_view_size": layout(kind)["batch_view_size"] + 8}

    monkeypatch.setattr(_jit, "_core_layout", wrong)
    program = lawfit.compile_law(LAW, inputs=["x"])
    assert _jit.compiled_solver(program) is None
    assert "disagree with the running core" in _jit.last_error()
    assert not list(cache.glob("law_*.so"))
    with pytest.raises(RuntimeError, match="could not compile"):
        _solve(program, jit=True)
    np.testing.assert_allclose(_solve(program, jit="auto"), [3.0, 0.5, 1.0], rtol=1e-8)


_CHILD = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import lawfit
    go = sys.argv[1]
    while not os.path.exists(go):
        time.sleep(0.005)
    program = lawfit.compile_law("a*x**-b + c", inputs=["x"])
    x = np.linspace(1, 10, 20)
    sol = lawfit.solve_batch(program, program.input_matrix({"x": x}), 3 * x**-0.5 + 1, [0, 20],
                             [2.0, 0.4, 0.5], jit=True)
    print(repr(sol.params[0].tolist()))
""")


@needs_compiler
@pytest.mark.slow
def test_two_processes_compiling_the_same_law_at_once(cache, tmp_path):
    # A compiler wrapper that logs every build: the second process must wait
    # for the first one's library (the entry's lock), not build its own.
    log = tmp_path / "builds.log"
    wrapper = tmp_path / "cxx"
    wrapper.write_text(f'#!/bin/sh\ncase " $* " in *" -shared "*) echo build >> "{log}"; sleep 0.5;; esac\n'
                       f'exec "{_jit.compiler()}" "$@"\n')
    wrapper.chmod(0o755)
    go = tmp_path / "go"
    env = {**os.environ, "CXX": str(wrapper), "LAWFIT_CACHE": str(cache.parent)}
    children = [subprocess.Popen([sys.executable, "-c", _CHILD, str(go)], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(0.5)  # both are importing lawfit and waiting
    go.touch()
    outs = [c.communicate(timeout=300) for c in children]
    for c, (out, err) in zip(children, outs):
        assert c.returncode == 0, err
    assert outs[0][0] == outs[1][0]
    np.testing.assert_allclose(eval(outs[0][0]), [3.0, 0.5, 1.0], rtol=1e-8)
    assert log.read_text().split() == ["build"]
    libraries = list(cache.glob("law_*.so"))
    assert len(libraries) == 1
    assert not [p for p in cache.iterdir() if p.is_dir()]  # no half-written build left behind


def _fake_entry(folder, name, size, age):
    p = folder / name
    p.write_bytes(b"\0" * size)
    t = time.time() - age
    os.utime(p, (t, t))
    return p


def test_the_cache_is_bounded_least_recently_used_first(tmp_path):
    old = _fake_entry(tmp_path, "law_old.so", 400, age=300)
    mid = _fake_entry(tmp_path, "law_mid.so", 400, age=200)
    new = _fake_entry(tmp_path, "law_new.so", 400, age=100)
    just_built = _fake_entry(tmp_path, "law_oldest_but_in_use.so", 400, age=1000)
    lock = _fake_entry(tmp_path, "law_gone.lock", 0, age=7200)
    live_lock = _fake_entry(tmp_path, "law_new.lock", 0, age=7200)
    (tmp_path / "build-killed").mkdir()
    os.utime(tmp_path / "build-killed", (time.time() - 7200,) * 2)
    (tmp_path / "build-running").mkdir()
    _jit._evict(tmp_path, limit=1000, keep=just_built)
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {new.name, just_built.name, live_lock.name, "build-running"}, left
    assert not old.exists() and not mid.exists() and not lock.exists()
    _jit._evict(tmp_path, limit=0, keep=just_built)
    assert not new.exists() and just_built.exists()


@needs_compiler
@pytest.mark.slow
def test_lawfit_cache_size_bounds_the_folder(cache, monkeypatch):
    monkeypatch.setenv("LAWFIT_CACHE_SIZE", "0")  # keep only the entry just built
    first, second = (lawfit.compile_law(f, inputs=["x"]) for f in (LAW, "a*x**-b + c*x"))
    assert _jit.compiled_solver(first) is not None and _jit.compiled_solver(second) is not None
    assert [p.name for p in cache.glob("law_*.so")] == [_jit.cache_entry(second)[0].name]
    monkeypatch.setenv("LAWFIT_CACHE_SIZE", "not a number")
    assert _jit._cache_limit() == int(_jit.DEFAULT_CACHE_MB * 1024 * 1024)


# --------------------------------------------------------------------------
# Generated code is safe by construction


HOSTILE = [
    '"; system("rm -rf ~"); //',
    "a\n#include </etc/passwd>\n",
    "#define double int",
    "*/ int main() { /*",
    "x' OR '1'='1",
    "\\\\\nevil",
    "??=define",
    "E\u0301\u202e\x00tail",
    "__attribute__((constructor)) void f()",
    "p0",  # a generated name as a user's name
    "GeneratedRunner",
]
CONSTANTS = ["1e308", "1.7976931348623157e308", "5e-324", "1e-320", "0.0", "123456789012345678901234567890",
             "0.1", "2.5e-17", "9.99e307"]


def _hostile_programs(rng, n):
    """Random laws with extreme constants, then the same programs with every
    name and the formula text replaced by hostile strings."""
    shapes = ["{c}*x**-a + b", "a*exp(-b*x*{c}) + {c}", "log(exp(a - b*log(x)) + {c}) - c",
              "a*x**{c} + b/x", "minimum(a*x, {c}) + maximum(b, {c}*x)", "-(a*x)**3*{c} + sqrt(abs(b*x + {c}))"]
    for _ in range(n):
        formula = shapes[rng.integers(len(shapes))].format(c=CONSTANTS[rng.integers(len(CONSTANTS))])
        program = lawfit.compile_law(formula, inputs=["x"])
        names = [HOSTILE[k] for k in rng.integers(len(HOSTILE), size=len(program.param_names) + 2)]
        hostile = dataclasses.replace(program, param_names=names[:-2], input_names=[names[-2]],
                                      formula=names[-1] + formula)
        yield program, hostile


@pytest.mark.parametrize("seed", range(4))
def test_generated_source_never_holds_user_text(seed):
    rng = np.random.default_rng(seed)
    for program, hostile in _hostile_programs(rng, 25):
        clean = _jit._sources(program, _jit._TEMPLATE)
        dirty = _jit._sources(hostile, _jit._TEMPLATE)
        assert dirty == clean  # names and formula text do not reach the code at all
        runner = runner_source(hostile)
        audit_source(runner)
        for text in HOSTILE:
            if len(text) > 2 and text not in ("GeneratedRunner",):
                assert text not in dirty
        # Constants are exact hexadecimal literals: the code holds the program's bits.
        for c in hostile.consts:
            if np.isfinite(c):
                assert float(c).hex() in runner


def test_the_signature_is_written_as_numbers_only():
    sig = b'{"command":["/opt/my \\"odd\\" compiler\\n#include"]}'
    code = _jit._signature_export(sig)
    audit_source(code)
    assert "odd" not in code and "#include" not in code
    values = bytes(int(v) for v in code.split("{", 2)[2].split("}", 1)[0].replace("\n", " ").split(",")
                   if v.strip())
    assert values == _jit._BEGIN + sig + _jit._END


@pytest.mark.parametrize("text", [
    '#include "x.h"', "system(0);", 'const char* s = "hi";', "int main() { return 0; }", "t1 = a;",
    "/* comment */", "'c'", "\\\n", "x0 = y0;", "@", "`", "$",
])
def test_the_audit_refuses_anything_the_generator_does_not_write(text):
    with pytest.raises(ValueError, match="unexpected text"):
        audit_source(text)


def test_the_generator_refuses_what_is_not_a_program():
    program = lawfit.compile_law(LAW, inputs=["x"])
    with pytest.raises(ValueError, match="identifier"):
        runner_source(program, name="Runner; int evil")
    with pytest.raises(ValueError, match="integer array"):
        runner_source(dataclasses.replace(program, code=program.code.astype(float)))
    with pytest.raises(ValueError):
        runner_source(dataclasses.replace(program, code=np.array([[99, 0]], dtype=np.int32)))
    bad_const = program.code.copy()
    bad_const[bad_const[:, 0] == 0, 1] = 1000
    if (program.code[:, 0] == 0).any():
        with pytest.raises(ValueError, match="constant"):
            runner_source(dataclasses.replace(program, code=bad_const))
