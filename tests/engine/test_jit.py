"""Laws compiled to machine code (lawfit.codegen + lawfit.engine.jit) give the interpreter's bits.

Each formula below is fitted twice, interpreted and compiled, from several
starts (some of which fail: statuses must match too); every output array must
be identical.  Together the formulas use every opcode.  Skipped when no C++
compiler is available.
"""
import ctypes
import subprocess

import numpy as np
import pytest

import lawfit
from lawfit import _core
from lawfit.engine import jit as _jit
from lawfit.engine import jit_policy
from lawfit.opcodes import Op
from lawfit.codegen import runner_source, size_class

pytestmark = pytest.mark.skipif(_jit.compiler() is None, reason="no C++ compiler")

FORMULAS = [
    # ADD SUB MUL DIV POW NEG EXP, parameter exponent and base
    ("a*exp(-b*x) + c/(x + d) - x**e + (d*x)**0.5", dict(a=1.5, b=0.7, c=0.3, d=1.0, e=0.5)),
    # LOG LOG10 LOG1P EXPM1 SQRT ABS
    ("a*log(x + b) + c*log10(x*d) + log1p(b*x) - expm1(-c*x) + sqrt(abs(a - x))", dict(a=1.1, b=0.4, c=0.2, d=2.0)),
    # SIN COS TAN ARCTAN TANH SIGMOID SOFTPLUS
    ("a*sin(b*x) + cos(c*x) + 0.1*tan(b*x/8) + arctan(a*x) + tanh(c*x) + sigmoid(a - x) + softplus(b*x - 2)",
     dict(a=0.9, b=0.5, c=1.3)),
    # LGAMMA (arguments below and above the shift threshold of 10)
    ("a*lgamma(b*x + 0.5) - lgamma(c*x + 9)", dict(a=0.9, b=2.0, c=1.5)),
    # MIN MAX POWI (integer powers, positive and negative)
    ("minimum(a*x, b) + maximum(c, x - a) + a*x**3 + b*(x + c)**-2 + (a*x)**2", dict(a=0.8, b=2.0, c=0.5)),
    # Chinchilla, as the benchmarks run it
    ("E + A/N**alpha + B/D**beta", None),
]


def _opcodes(program):
    return {Op(int(c)) for c in program.code[:, 0]}


def test_the_formulas_cover_every_opcode():
    used = set()
    for formula, truth in FORMULAS:
        inputs = ["N", "D"] if truth is None else ["x"]
        used |= _opcodes(lawfit.compile_law(formula, inputs=inputs))
    assert set(Op) - {Op.N_OPS} <= used


def _data(formula, truth, n_laws=6, n=37, seed=0):
    rng = np.random.default_rng(seed)
    if truth is None:
        from lawfit.demo import START, make_collection

        N, D, loss, _ = make_collection(n_laws, n, seed=seed)
        program = lawfit.compile_law(formula, inputs=["N", "D"])
        return program, program.input_matrix({"N": N.ravel(), "D": D.ravel()}), loss.ravel(), START
    program = lawfit.compile_law(formula, inputs=["x"])
    x = np.tile(np.linspace(0.2, 6.0, n), n_laws)
    p = np.array([truth[k] for k in program.param_names])
    y, _ = _core.evaluate(program.code, program.consts, len(p), program.input_matrix({"x": x}), p)
    y = y * (1 + 0.01 * rng.standard_normal(y.size))
    return program, program.input_matrix({"x": x}), y, p * 1.2


@pytest.mark.parametrize("formula, truth", [ft if ft[1] is None else pytest.param(*ft, marks=pytest.mark.slow)
                                            for ft in FORMULAS])  # Chinchilla in the default tier
def test_compiled_law_gives_the_interpreters_bits(formula, truth, tmp_path, monkeypatch):
    monkeypatch.setenv("LAWFIT_CACHE", str(tmp_path))
    program, columns, y, start = _data(formula, truth)
    L = len(y) // 37
    offsets = np.arange(L + 1) * 37
    starts = np.vstack([start, start * 0.5, start * 3.0, np.full_like(start, np.nan)])
    p0 = np.repeat(starts, L, axis=0)
    law = np.tile(np.arange(L), len(starts))
    fixed = np.zeros_like(p0, dtype=np.uint8)
    fixed[::5, 0] = 1  # some problems hold their first parameter
    kw = dict(problem_law=law, fixed=fixed, n_threads=2, max_nfev=60)
    interpreted = lawfit.solve_batch(program, columns, y, offsets, p0, **kw)
    compiled = lawfit.solve_batch(program, columns, y, offsets, p0, jit=True, **kw)
    for name in ("params", "cost", "nit", "nfev", "status", "jtj"):
        np.testing.assert_array_equal(getattr(compiled, name), getattr(interpreted, name), err_msg=name)
    assert (interpreted.status[-L:] == int(lawfit.Status.BAD_INPUT)).all()
    weight = np.linspace(0.5, 2.0, y.size)
    variants = [dict(loss="huber", delta=0.05), dict(weight=weight)]  # the generic and the fused path
    if (y > 0).all():
        variants.append(dict(residual="log", weight=weight))
    for extra in variants:
        a = lawfit.solve_batch(program, columns, y, offsets, p0, **kw, **extra)
        b = lawfit.solve_batch(program, columns, y, offsets, p0, jit=True, **kw, **extra)
        np.testing.assert_array_equal(a.params, b.params, err_msg=str(extra))
        np.testing.assert_array_equal(a.jtj, b.jtj, err_msg=str(extra))


def test_compiled_code_is_cached_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("LAWFIT_CACHE", str(tmp_path))
    monkeypatch.setattr(_jit, "_loaded", {})  # as in a fresh process
    program = lawfit.compile_law("a*x**-b + c", inputs=["x"])
    first = _jit.compiled_solver(program)
    assert first is not None and _jit.last_error() == ""
    assert len(list(tmp_path.glob("jit/law_*.so"))) == 1

    def no_second_plan(*args):
        raise AssertionError("a loaded law is not generated and audited again")

    monkeypatch.setattr(_jit, "_plan", no_second_plan)
    assert _jit.compiled_solver(lawfit.compile_law("a*x**-b + c", inputs=["x"])) is first


def _batch(program, K=3):
    x = np.linspace(1, 10, 20)
    arrays = _core.BatchArrays(code=program.code, consts=program.consts, n_params=len(program.param_names),
                               columns=program.input_matrix({"x": x}), y=3 * x**-0.5 + 1,
                               offsets=np.array([0, 20]), problem_law=np.zeros(K, np.int64),
                               p0=np.tile([2.0, 0.4, 0.5], (K, 1)), lower=np.full(3, -np.inf),
                               upper=np.full(3, np.inf))
    return arrays, _core.SolverOptions(n_threads=1)


def _foreign_capsule(name: bytes):
    new = ctypes.pythonapi.PyCapsule_New
    new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    return new(ctypes.addressof(ctypes.c_int(1)), name, None)


@pytest.mark.slow  # compiles
def test_compiled_laws_are_named_capsules_and_nothing_else_is_taken(tmp_path, monkeypatch):
    # The core loads the library and hands out a capsule; solve_batch takes
    # nothing else (no integer ever becomes a function pointer), checks the
    # capsule's name and kind, and that it was generated for the batch's program.
    monkeypatch.setenv("LAWFIT_CACHE", str(tmp_path))
    monkeypatch.setattr(_jit, "_loaded", {})
    program = lawfit.compile_law("a*x**-b + c", inputs=["x"])
    capsule = _jit.compiled_solver(program)
    assert type(capsule).__name__ == "PyCapsule" and '"lawfit.compiled_cpu"' in repr(capsule)
    arrays, options = _batch(program)
    interpreted = _core.solve_batch(arrays, options)
    compiled = _core.solve_batch(arrays, options, compiled=capsule)
    np.testing.assert_array_equal(compiled["params"], interpreted["params"])
    assert (compiled["status"] >= 1).all() and (compiled["status"] <= 4).all()
    for bad in (12345, id(capsule), "lawfit.compiled_cpu", 1.5):
        with pytest.raises(TypeError):
            _core.solve_batch(arrays, options, compiled=bad)
    for name in (b"other.library", b"lawfit.compiled"):
        with pytest.raises(ValueError, match="capsule from load_compiled"):
            _core.solve_batch(arrays, options, compiled=_foreign_capsule(name))
    with pytest.raises(ValueError, match="compiled for the CPU"):
        _core.solve_batch(arrays, _core.SolverOptions(device="cuda"), compiled=capsule)
    other = lawfit.compile_law("a*x**-b + c*x", inputs=["x"])
    with pytest.raises(ValueError, match="different program"):
        _core.solve_batch(_batch(other)[0], options, compiled=capsule)
    shifted = lawfit.compile_law("a*x**-b + c + 1", inputs=["x"])  # same shape, one more constant
    with pytest.raises(ValueError, match="different program"):
        _core.solve_batch(_batch(shifted)[0], options, compiled=capsule)


def test_load_compiled_checks_the_library(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        _core.load_compiled(str(tmp_path / "law.so"), "gpu")
    with pytest.raises(OSError, match="cannot load"):
        _core.load_compiled(str(tmp_path / "missing.so"), "cpu")
    with pytest.raises(OSError, match="lacks lawfit_jit_batch_view_size"):
        _core.load_compiled(_core.__file__, "cpu")  # a shared library, but not a compiled law
    src = tmp_path / "stale.cpp"
    src.write_text('extern "C" __attribute__((visibility("default"))) unsigned long long '
                   "lawfit_jit_batch_view_size() { return 1; }\n")
    subprocess.run([_jit.compiler(), "-shared", "-fPIC", str(src), "-o", str(tmp_path / "stale.so")], check=True)
    with pytest.raises(ValueError, match="different lawfit core"):
        _core.load_compiled(str(tmp_path / "stale.so"), "cpu")


def test_without_a_compiler_auto_falls_back_and_true_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("LAWFIT_CACHE", str(tmp_path))
    monkeypatch.setattr(_jit, "compiler", lambda: None)
    monkeypatch.setattr(_jit, "_loaded", {})
    program = lawfit.compile_law("a*x + b", inputs=["x"])
    x = np.linspace(0, 1, 10)
    cols, y = program.input_matrix({"x": x}), 2 * x + 1
    sol = lawfit.solve_batch(program, cols, y, [0, 10], [1.0, 0.0], jit="auto")
    np.testing.assert_allclose(sol.params[0], [2.0, 1.0], rtol=1e-10)
    with pytest.raises(RuntimeError, match="no C\\+\\+ compiler"):
        lawfit.solve_batch(program, cols, y, [0, 10], [1.0, 0.0], jit=True)
    with pytest.raises(ValueError, match="jit must be"):
        lawfit.solve_batch(program, cols, y, [0, 10], [1.0, 0.0], jit="always")


def test_generated_source_is_straight_line_and_sized():
    program = lawfit.compile_law("E + A/N**alpha + B/D**beta", inputs=["N", "D"])
    src = runner_source(program)
    assert "switch" not in src and "kMask = 31u" in src
    assert size_class(5) == 8 and size_class(2) == 4 and size_class(16) == 16
    with pytest.raises(ValueError):
        size_class(17)


@pytest.mark.skipif(not _core.WITH_CUDA or _jit.nvcc() is None, reason="no CUDA build or no nvcc")
@pytest.mark.slow
def test_law_compiles_for_the_gpu(tmp_path, monkeypatch):
    # The batch driver of cuda/batch_runner.cuh with the law's code in its
    # kernels, built by nvcc and loaded; it agrees with the core on the data
    # layout.  Running it needs a GPU (tests/engine/test_gpu.py).
    monkeypatch.setenv("LAWFIT_CACHE", str(tmp_path))
    monkeypatch.setattr(_jit, "_loaded", {})  # as in a fresh process
    program = lawfit.compile_law("E + A/N**alpha + B/D**beta", inputs=["N", "D"])
    capsule = _jit.compiled_cuda_solver(program)
    assert capsule is not None, _jit.last_error()
    assert '"lawfit.compiled_cuda"' in repr(capsule)
    assert _jit.compiled_cuda_solver(program) is capsule  # loaded once
    assert len(list(tmp_path.glob("jit/law_*.so"))) == 1


@pytest.mark.slow  # compiles
def test_multistart_and_bootstrap_carry_jit_and_give_the_same_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("LAWFIT_CACHE", str(tmp_path))
    rng = np.random.default_rng(4)
    x = np.linspace(1, 10, 40)
    y = 3 * x**-0.5 + 1 + 0.02 * rng.standard_normal(40)
    starts = {"a": [1, 5], "b": [0.2, 1], "c": [0, 2]}
    runs = {}
    for jit in (False, True):
        fit = lawfit.fit_multistart("a*x**-b + c", x, y, starts, loss="huber", delta=0.05,
                                    robust_hessian="triggs", jit=jit)
        assert fit.options.jit is jit and fit.options.robust_hessian == "triggs"
        runs[jit] = (fit, lawfit.bootstrap(fit, 64, seed=2, jackknife=False))
    np.testing.assert_array_equal(runs[True][0].params, runs[False][0].params)
    np.testing.assert_array_equal(runs[True][1].interval(0.9)[0], runs[False][1].interval(0.9)[0])


def test_auto_builds_a_law_in_the_background_and_later_calls_use_it(tmp_path, monkeypatch):
    # jit='auto' never makes a call wait for the compiler: the batch that brings the law's
    # work over the threshold starts a build on a daemon thread and is interpreted; once the
    # build is loaded, calls run the compiled law, with the interpreter's bits.
    import threading

    monkeypatch.setenv("LAWFIT_CACHE", str(tmp_path))
    monkeypatch.setenv("LAWFIT_JIT_BACKGROUND", "1")
    monkeypatch.setattr(_jit, "_loaded", {})
    monkeypatch.setattr(_jit, "_entry_of", {})
    monkeypatch.setattr(jit_policy, "work_seen", {})
    monkeypatch.setattr(jit_policy, "BACKGROUND_WORK", 30_000)
    program = lawfit.compile_law("a*x**-b + c + 0.0 * x", inputs=["x"])
    x = np.tile(np.linspace(1, 10, 50), 200)
    y = 3 * x**-0.5 + 1 + 0.01 * np.sin(np.arange(x.size))
    offsets = np.arange(201) * 50
    p0 = np.tile([2.0, 0.4, 0.5], (200, 1))

    def solve(jit):
        return lawfit.solve_batch(program, program.input_matrix({"x": x}), y, offsets, p0, jit=jit, n_threads=1)

    before = {t.ident for t in threading.enumerate()}
    first = solve("auto")  # 10,000 point-problems: counted, nothing started
    assert not [t for t in threading.enumerate() if t.name == "lawfit-jit"]
    assert _jit.loaded_solver(program) is None
    second = solve("auto")  # 20,000
    third = solve("auto")  # 30,000: the build starts; this call is interpreted
    builders = [t for t in threading.enumerate() if t.name == "lawfit-jit" and t.ident not in before]
    assert len(builders) == 1
    builders[0].join(timeout=120)
    capsule = _jit.loaded_solver(program)
    assert capsule is not None, _jit.last_error()
    assert len(list(tmp_path.glob("jit/law_*.so"))) == 1
    solve("auto")  # loaded now: no second build
    assert not [t for t in threading.enumerate() if t.name == "lawfit-jit" and t.ident not in before]
    compiled = solve("auto")
    interpreted = solve(False)
    for sol in (first, second, third, compiled):
        for name in ("params", "cost", "status", "nfev"):
            assert np.array_equal(getattr(sol, name), getattr(interpreted, name)), name


def test_background_builds_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("LAWFIT_JIT_BACKGROUND", "0")
    monkeypatch.setattr(jit_policy, "work_seen", {})
    program = lawfit.compile_law("a*x**-b + c + 1.0 * x", inputs=["x"])
    assert not _jit.background_enabled()
    assert _jit.compile_in_background(program, work=1e12) is False
    assert jit_policy.work_seen == {}


def test_auto_builds_for_the_gpu_in_the_background_too(monkeypatch):
    # jit='auto' on the GPU: nothing compiled is ready, so the law runs interpreted
    # and its work counts towards a background nvcc build (with the GPU's threshold).
    from lawfit.engine import core

    asked = []
    monkeypatch.setattr(_jit, "loaded_solver", lambda program, device="cpu": None)
    monkeypatch.setattr(_jit, "compile_in_background", lambda program, work, kind="cpu": asked.append((work, kind)))
    program = lawfit.compile_law("a*x**-b + c + 2.0 * x", inputs=["x"])
    assert core._compiled_law(program, "auto", "cuda", 5e6) is None
    assert core._compiled_law(program, "auto", "cpu", 7.0) is None
    assert asked == [(5e6, "cuda"), (7.0, "cpu")]


def test_the_gpu_threshold_counts_separately(monkeypatch):
    monkeypatch.setenv("LAWFIT_JIT_BACKGROUND", "1")
    monkeypatch.setattr(jit_policy, "work_seen", {})
    program = lawfit.compile_law("a*x**-b + c + 3.0 * x", inputs=["x"])
    work = _jit.BACKGROUND_WORK * 2  # enough for a CPU build, far from the GPU's
    assert _jit.BACKGROUND_WORK_CUDA > work
    assert _jit.compile_in_background(program, work=work, kind="cuda") is False
    assert jit_policy.work_seen[("cuda", program.key)] == work


def test_one_call_of_a_user_formula_does_not_import_the_compiler_machinery(tmp_path):
    # jit='auto' counts a user law's work towards a background build without importing
    # lawfit.engine.jit (25-50 ms) until a build is due: a fresh process, one small fit.
    code = ("import sys, numpy as np, lawfit\n"
            "x = np.linspace(1, 10, 30); y = 2.0 * x ** -0.5 + 0.3\n"
            "popt, _ = lawfit.curve_fit('a*x**-b + c + 0.0*x', x, y, p0=[1.0, 1.0, 0.0])\n"
            "batch, _, _ = lawfit.curve_fit('a*x**-b + c + 0.0*x', {'x': x}, np.tile(y, (3, 1)), p0=[1.0, 1.0, 0.0])\n"
            "from lawfit.engine import core\n"
            "from lawfit.engine.jit_policy import work_seen\n"
            "print('lawfit.engine.jit' in sys.modules, round(float(popt[1]), 6), round(float(batch[2, 1]), 6),\n"
            "      sum(work_seen.values()))")
    env = dict(__import__("os").environ, LAWFIT_JIT_BACKGROUND="1", LAWFIT_CACHE=str(tmp_path))
    out = subprocess.run([__import__("sys").executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env).stdout.split()
    assert out[:3] == ["False", "0.5", "0.5"] and float(out[3]) > 0  # the batch's work counted


def test_work_counted_before_the_import_reaches_the_background_build(monkeypatch):
    # Before lawfit.engine.jit is imported the core counts each law's work in the record jit reads;
    # the call that brings it to the threshold imports jit, which then sees the whole sum, once.
    from lawfit.engine import core

    asked = []
    monkeypatch.setenv("LAWFIT_JIT_BACKGROUND", "1")
    monkeypatch.setattr(core, "_JIT_MODULE", "lawfit.engine.not_imported_yet")  # as if jit were not imported
    seen: dict = {}
    monkeypatch.setattr(jit_policy, "work_seen", seen)
    monkeypatch.setattr(jit_policy, "BACKGROUND_WORK", 1000.0)
    monkeypatch.setattr(_jit, "loaded_solver", lambda program, device="cpu": None)
    monkeypatch.setattr(_jit, "compile_in_background",
                        lambda program, work, kind="cpu": asked.append((work + seen.get((kind, program.key), 0.0), kind)))
    program = lawfit.compile_law("a*x**-b + c + 4.0 * x", inputs=["x"])
    assert core._compiled_law(program, "auto", "cpu", 400.0) is None
    assert core._compiled_law(program, "auto", "cpu", 500.0) is None
    assert asked == []  # 900: below the threshold, jit not asked
    assert core._compiled_law(program, "auto", "cpu", 300.0) is None
    assert asked == [(1200.0, "cpu")]
    assert _jit._policy.work_seen[("cpu", program.key)] == 1200.0  # one record, whoever counts
    monkeypatch.setenv("LAWFIT_JIT_BACKGROUND", "0")  # off: nothing counted, nothing imported
    assert core._compiled_law(program, "auto", "cpu", 1e9) is None
    assert seen == {("cpu", program.key): 1200.0} and len(asked) == 1
