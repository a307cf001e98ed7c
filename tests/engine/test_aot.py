"""The catalog's laws compiled into the core ahead of time (lawfit.engine.aot).

They must give the interpreter's bits for every law, every objective the
fused path handles (plain least squares, weights, bootstrap resamples) and
the paths it leaves to the general evaluator (robust losses, log residuals,
fixed parameters); and the checked-in generated file must match the catalog.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import lawfit
from lawfit.engine import aot
from lawfit.engine import native as _core
from lawfit.engine.core import _builtin_law, evaluate_points, solve_batch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "catalog"))  # the catalog tests' recovery cases
from test_catalog import generate  # noqa: E402


def test_checked_in_file_matches_the_catalog():
    path = REPO / "cpp" / "generated" / "catalog_laws.cpp"
    assert path.read_text() == aot.catalog_source(), (
        "cpp/generated/catalog_laws.cpp is out of date: run `python -m lawfit.engine.aot` and rebuild")


def _same(a, b):
    return all(np.array_equal(np.asarray(getattr(a, f)).view(np.uint8), np.asarray(getattr(b, f)).view(np.uint8))
               for f in ("params", "cost", "nfev", "nit", "status", "jtj"))


CATALOG = sorted(lawfit.laws)


@pytest.mark.parametrize("name", CATALOG)
def test_builtin_law_gives_the_interpreters_bits(name):
    law = lawfit.laws[name]
    if _builtin_law(law.program) is None:
        pytest.skip("interpreted (no code generator, or code beyond aot.MAX_LINES)")
    x, y, true = generate(name)  # the catalog's recovery case: inputs in the law's domain
    cols = law.program.input_matrix(x)
    lo, hi = law._bound_arrays()
    truth = np.array([float(true.get(p, law.fixed.get(p, 1.0))) for p in law.program.param_names])
    p0 = np.clip(truth * 1.2 + 0.01, lo, hi)
    rng = np.random.default_rng(1)
    offsets = np.array([0, y.size])
    one = dict(problem_law=np.zeros(3, dtype=np.int64))
    variants = [dict(one), dict(one, weight=rng.uniform(0.5, 2.0, y.size)),
                dict(one, problem_resample=np.array([3, -1, 8])), dict(one, loss="huber", delta=0.05),
                dict(one, fixed=np.eye(truth.size, dtype=np.uint8)[0])]
    f0 = np.asarray(evaluate_points(law.program, cols, truth)[0]).ravel()
    if np.all(y > 0) and np.all(f0 > 0):
        variants += [dict(one, residual="log", loss="soft_l1", delta=0.1), dict(one, residual="log")]
    assert y.size >= 16  # a whole block of kBlock points: the unweighted L2 variants take run_fused's kUnit path
    most = 0
    for kw in variants:
        y_kw = np.log(y) if kw.get("residual") == "log" else y
        common = dict(lower=lo, upper=hi, max_nfev=40, **kw)
        interp = solve_batch(law.program, cols, y_kw, offsets, np.tile(p0, (3, 1)), jit=False, **common)
        builtin = solve_batch(law.program, cols, y_kw, offsets, np.tile(p0, (3, 1)), jit="auto", **common)
        assert _same(interp, builtin), (name, kw)
        most = max(most, int(np.asarray(interp.nfev).max()))
    assert most > 1  # the solver iterated: the bits compared are LM runs


def test_every_catalog_law_is_built_in():
    # All but laws without a code generator or with code beyond aot.MAX_LINES (interpreted).
    missing = [name for name in CATALOG if _builtin_law(lawfit.laws[name].program) is None
               and aot.compiled_ahead(lawfit.laws[name].program)]
    assert not missing, f"catalog laws without compiled code (regenerate with python -m lawfit.engine.aot): {missing}"


def test_auto_is_the_default_and_builtin_only_on_exact_programs():
    assert lawfit.engine.options.Options().jit == "auto"
    chin = lawfit.laws["chinchilla"].program
    capsule = _builtin_law(chin)
    assert capsule is not None
    # A program differing in one constant bit or one opcode is not the built-in law's.
    user = lawfit.compile_law("E + A/N**alpha + B/D**beta + 1e-300", inputs=["N", "D"])
    assert _builtin_law(user) is None
    code = np.ascontiguousarray(chin.code, dtype=np.int32).copy()
    code[-1, 0] = int(_core.Op.SUB)
    assert _core.builtin_compiled(code, chin.consts, len(chin.param_names)) is None
    assert _core.builtin_compiled(chin.code, chin.consts, len(chin.param_names) + 1) is None
