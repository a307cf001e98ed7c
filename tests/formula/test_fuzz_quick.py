"""Randomized fuzzing that runs in CI (no atheris), plus the regression tests of
what fuzzing found.

The targets are those of tests/fuzz/ (atheris harnesses for longer local
runs): random text and token soup into the formula parser and compiler;
random programs, int32 code arrays, shapes, dtypes and options into
``lawfit._core.solve_batch``, ``evaluate``, ``covariance``, ``bootstrap_counts``
and ``solve_callback``.  Each run tries seeds 0, 1, 2, ... for a bounded time;
a failure names the seed, which reproduces it exactly.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

import lawfit
from lawfit import _core
from lawfit.formula import compile_law

FUZZ_DIR = Path(__file__).resolve().parents[1] / "fuzz"
sys.path.insert(0, str(FUZZ_DIR))
import fuzz_batch  # noqa: E402
import fuzz_formula  # noqa: E402
from _source import RandomSource  # noqa: E402

INT32 = np.iinfo(np.int32)


def run_seeds(target, seconds: float, max_cases: int = 10**7):
    """Run target(RandomSource(seed)) for seeds 0.. until the time is up.

    Returns (cases tried, outcome counts); fails listing one seed per distinct
    kind of failure.
    """
    outcomes: dict[str, int] = defaultdict(int)
    failures: dict[str, tuple[int, str]] = {}
    deadline = time.monotonic() + seconds
    seed = 0
    while seed < max_cases and time.monotonic() < deadline:
        try:
            outcomes[target(RandomSource(seed))] += 1
        except Exception as exc:  # any exception is a finding; group them by kind
            tb = exc.__traceback__
            while tb.tb_next is not None:
                tb = tb.tb_next
            where = f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"
            failures.setdefault(f"{type(exc).__name__} at {where}", (seed, str(exc)[:300]))
        seed += 1
    print(f"{target.__module__}: {seed} cases: {dict(outcomes)}")
    assert not failures, "\n".join(f"{kind} (first at seed {s}): {msg}" for kind, (s, msg) in failures.items())
    return seed, outcomes


# ------------------------------------------------------------------ time-bounded fuzzing


# A short run in the default tier, a longer one in the slow tier (.ci/run).
BUDGETS = [2.5, pytest.param(30.0, marks=pytest.mark.slow)]


@pytest.mark.parametrize("seconds", BUDGETS)
def test_fuzz_formula_parser_and_compiler(seconds):
    n, outcomes = run_seeds(fuzz_formula.one_input, seconds=seconds)
    assert n > 100 * seconds
    assert outcomes["compiled and evaluated"] > 10 * seconds  # the generator reaches the compiler


@pytest.mark.parametrize("seconds", BUDGETS)
def test_fuzz_batch_entry_points(seconds):
    n, outcomes = run_seeds(fuzz_batch.one_input, seconds=seconds)
    assert n > 100 * seconds
    assert outcomes["solved"] > 10 * seconds and outcomes["evaluated"] > 5 * seconds


def test_random_int32_code_arrays():
    # Code arrays of uniformly random int32 (opcodes and arguments anywhere in
    # the type's range), random column shapes: refused or evaluated, never a crash.
    # POWI arguments are kept to |n| <= 1000, so most are refused as out of range
    # (|n| <= 64) and the rest stay cheap; test_powi_exponent_out_of_range_is_refused
    # covers huge ones.
    rng = np.random.default_rng(8)
    deadline = time.monotonic() + 3.0
    tried = evaluated = 0
    while time.monotonic() < deadline:
        n_instr = int(rng.integers(0, 12))
        code = rng.integers(INT32.min, INT32.max, size=(n_instr, 2), endpoint=True, dtype=np.int32)
        small = rng.random(n_instr) < 0.7  # mostly real opcodes with small arguments
        code[small, 0] = rng.integers(0, 26, small.sum())
        code[small, 1] = rng.integers(-2, 6, small.sum())
        powi = code[:, 0] == 25
        code[powi, 1] = np.clip(code[powi, 1], -1000, 1000)
        consts = rng.normal(size=int(rng.integers(0, 3)))
        P = int(rng.integers(-2, 18))
        columns = rng.normal(size=(int(rng.integers(0, 3)), int(rng.integers(0, 20))))
        params = rng.normal(size=max(P, 0))
        try:
            value, grad = _core.evaluate(code, consts, P, columns, params)
        except (ValueError, TypeError):
            pass
        else:
            evaluated += 1
            assert value.shape == (columns.shape[1],) and grad.shape == (columns.shape[1], P)
        if P >= 0 and columns.shape[1] > 0:
            K = int(rng.integers(1, 4))
            try:
                arrays = _core.BatchArrays(code=code, consts=consts, n_params=P, columns=columns,
                                           y=rng.normal(size=columns.shape[1]),
                                           offsets=np.array([0, columns.shape[1]]),
                                           problem_law=np.zeros(K, np.int64), p0=np.ones((K, P)),
                                           lower=np.full(P, -np.inf), upper=np.full(P, np.inf))
                out = _core.solve_batch(arrays, _core.SolverOptions(max_nfev=5, n_threads=2, want_jtj=False))
            except (ValueError, TypeError):
                pass
            else:
                assert set(out["status"].tolist()) <= set(range(1, 10))
        tried += 1
    print(f"{tried} random int32 programs, {evaluated} evaluated")
    assert tried > 100


def test_random_reductions_grids_and_resamples():
    # solve_batch's device-side options (start grids, generated resamples,
    # best-of runs, replicate summaries) with random, often invalid, shapes and
    # values: a clear ValueError or consistent outputs, never a crash.
    rng = np.random.default_rng(11)
    programs = [lawfit.compile_law(f, inputs=["x"]) for f in ("a*x**-b + c", "a*exp(-b*x)", "a + b*x + c*x**2")]
    solved = refused = 0
    for _ in range(1500):
        prog = programs[rng.integers(3)]
        P = len(prog.param_names)
        sizes = rng.integers(0, 12, int(rng.integers(0, 5)))
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        L, M = len(sizes), int(offsets[-1])
        x, y = rng.uniform(0.1, 5, M), rng.normal(1, 0.3, M)
        if M and rng.random() < 0.1:
            y[rng.integers(M)] = np.nan
        kw = {}
        if rng.random() < 0.5:
            grid = [rng.normal(1, 1, int(rng.integers(0 if rng.random() < 0.05 else 1, 3))) for _ in range(P)]
            kw["start_grid"] = grid
            if rng.random() < 0.5:
                kw["n_resamples"] = int(rng.integers(-1, 4))
            K = L * int(np.prod([max(len(g), 1) for g in grid])) * max(kw.get("n_resamples", 0), 1)
        else:
            K = int(rng.integers(0, 8))
            kw["p0"] = rng.normal(1, 1, (K, P))
            kw["problem_law"] = rng.integers(-1, L + 1, K)
        if rng.random() < 0.5:
            kw["best_of"] = int(rng.integers(0, 4))
        if rng.random() < 0.4:
            kw["summary_runs"] = int(rng.integers(0, 4))
            kw["quantiles"] = rng.uniform(-0.1, 1.1, int(rng.integers(0, 3)))
        if rng.random() < 0.2:
            kw["problem_resample"], kw["seed"] = rng.integers(-1, 3, K), 3
        try:
            sol = lawfit.solve_batch(prog, prog.input_matrix({"x": x}), y, offsets, max_nfev=20,
                                     want_jtj=bool(rng.random() < 0.5), **kw)
        except ValueError:
            refused += 1
            continue
        solved += 1
        if sol.status is not None:
            assert sol.params.shape == (len(sol.status), P)
            assert set(np.unique(sol.status).tolist()) <= set(range(11))
        if sol.mean is not None:
            assert sol.mean.shape == sol.sd.shape == sol.n_used.shape and len(sol.quantiles) == len(sol.mean)
            assert (sol.n_used >= 0).all()
    assert solved > 300 and refused > 100


def test_random_byte_strings_into_parse():
    # Any text either parses into a tree that prints back to an equal tree, or
    # raises ValueError; nothing else escapes.  Printable soup of formula
    # characters makes sure both outcomes are exercised.
    rng = np.random.default_rng(3)
    alphabet = np.frombuffer(b"abx019.+-*/()e ^,", dtype=np.uint8)
    outcomes = {"parsed": 0, "refused": 0}
    for i in range(3000):
        n = int(rng.integers(0, 60))
        raw = (rng.integers(0, 256, size=n, dtype=np.uint8) if i % 2 else rng.choice(alphabet, size=n)).tobytes()
        for text in (raw.decode("latin-1"), raw.decode("utf-8", errors="replace")):
            try:
                tree = lawfit.parse(text)
            except ValueError:
                outcomes["refused"] += 1
                continue
            outcomes["parsed"] += 1
            assert isinstance(tree, lawfit.formula.Expr)
            assert lawfit.parse(tree.to_formula()) == tree, text
    assert outcomes["parsed"] > 50 and outcomes["refused"] > 50, outcomes


# ------------------------------------------------------------------ regressions found by fuzzing


@pytest.mark.parametrize("text", [
    "-" * 300 + "a*x",           # a chain of unary minus the parser accepts
    "x" + "**a" * 300,           # right-nested powers
    "a" + " + b*x" * 300,        # a long flat sum: shallow text, deep tree
    "a" + " + b*x" * 2000,
    "exp(" * 150 + "a*x" + ")" * 150,
], ids=["unary-chain", "power-chain", "sum-300", "sum-2000", "nested-calls"])
def test_deep_or_long_formulas_compile_or_raise_value_error(text):
    # Found by fuzz_formula: parse() accepts these, but compile_law (and
    # Expr.to_formula / hash) recursed past Python's limit and raised RecursionError.
    try:
        tree = lawfit.parse(text)
    except ValueError:
        return
    try:
        program = compile_law(text, ["x"])
    except ValueError as exc:
        assert "deep" in str(exc) or "long" in str(exc) or "nest" in str(exc)
        return
    assert lawfit.parse(tree.to_formula()) == tree
    assert program.code.shape[0] > 0


def test_traced_function_with_a_long_sum_falls_back_instead_of_crashing():
    # The same limit reached through tracing: curve_fit must fall back to the
    # Python path (or fit), never raise RecursionError.
    x = np.linspace(0.1, 1.0, 30)

    def many_terms(x, a, b):
        total = a
        for k in range(400):
            total = total + b * x / (k + 1)
        return total

    y = many_terms(x, 1.0, 0.5)
    popt, _, info, _, _ = lawfit.curve_fit(many_terms, x, y, p0=[0.5, 0.2], full_output=True)
    np.testing.assert_allclose(popt, [1.0, 0.5], rtol=1e-6)
    assert info["path"] in ("traced", "python")


def _powi_program(n: int):
    return np.array([[2, 0], [25, n]], dtype=np.int32)


@pytest.mark.parametrize("n", [65, -65, 10**6, -(10**6), INT32.min])
def test_powi_exponent_out_of_range_is_refused(n):
    # Found while writing tests/cpp: POWI's exponent is not range-checked.  The
    # compiler emits |n| <= 64; a program from elsewhere with n ~ 2**31 makes the
    # interpreter multiply 2**31 times per lane per block (a batch that runs for
    # hours and that Ctrl-C cannot stop), and n = INT_MIN negates INT_MIN
    # (undefined behaviour; in practice a wrong value).  Such programs must be
    # refused like any other malformed program.
    columns = np.zeros((0, 3))
    with pytest.raises(ValueError):
        _core.evaluate(_powi_program(n), np.zeros(0), 1, columns, np.array([1.0000001]))
    try:
        arrays = _core.BatchArrays(code=_powi_program(n), consts=np.zeros(0), n_params=1, columns=columns,
                                   y=np.ones(3), offsets=np.array([0, 3]), p0=np.ones((1, 1)),
                                   lower=np.full(1, -np.inf), upper=np.full(1, np.inf))
        out = _core.solve_batch(arrays, _core.SolverOptions(max_nfev=3, n_threads=1, want_jtj=False))
    except ValueError:
        return
    assert out["status"][0] in (int(lawfit.Status.NON_FINITE), int(lawfit.Status.BAD_INPUT))


# ------------------------------------------------------------------ the atheris harnesses


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris is not installed")
@pytest.mark.parametrize("harness", ["fuzz_formula.py", "fuzz_batch.py"])
def test_atheris_harness_short_run(harness, tmp_path):
    # A short coverage-guided run of each harness (the longer run is manual:
    # see the harness docstrings).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(lawfit.__file__).parents[1]),
                                                                     os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, str(FUZZ_DIR / harness), "-runs=3000", "-timeout=20", "-seed=1",
         f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Done 3000 runs" in proc.stderr
