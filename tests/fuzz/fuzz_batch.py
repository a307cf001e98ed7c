"""Fuzz the compiled batch entry points with atheris.

    pip install atheris
    python tests/fuzz/fuzz_batch.py -max_total_time=300 -timeout=20 [corpus_dir]

Random programs (valid opcodes mostly, invalid ones sometimes), random array
shapes, dtypes, offsets, bounds, masks and options go to
``lawfit._core.solve_batch``, ``evaluate``, ``covariance``,
``bootstrap_counts`` and ``solve_callback``.  The contract (`check_*`):

* malformed calls raise ``ValueError`` or ``TypeError`` (``RuntimeError``
  only for ``device='cuda'`` where no GPU can be used); nothing else, and
  never a crash or a hang;
* a call that returns gives arrays of the documented shapes, one status code
  per problem from the Status enum (never NOT_RUN or INTERRUPTED after a
  normal fit), BAD_INPUT rows with no evaluations, converged rows with finite
  parameters inside their bounds, held parameters exactly at their start,
  and a finite, non-negative cost wherever a fit converged.

POWI exponents are drawn from [-1000, 1000] (and INT_MIN): larger ones made the
interpreter loop for minutes before it validated them (see
tests/formula/test_fuzz_quick.py::test_powi_exponent_out_of_range_is_refused).
Set LAWFIT_FUZZ_ANY_POWI=1 to draw any int32, LAWFIT_FUZZ_SAFE_POWI=1 to keep to
the compiler's [-64, 64] (for a sanitizer build of _core while INT_MIN is
still undefined behaviour there).
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _source import Source, run_atheris  # noqa: E402

N_OPS = 27
POWI = 25
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
ANY_POWI = bool(os.environ.get("LAWFIT_FUZZ_ANY_POWI"))
SAFE_POWI = bool(os.environ.get("LAWFIT_FUZZ_SAFE_POWI"))
STATUS_CODES = set(range(1, 10))  # CONVERGED_* .. BAD_INPUT: what a completed fit may report


def _floats(src: Source, n: int, nan_rate: int = 30) -> np.ndarray:
    base = src.value() if src.chance(3) else 1.0
    out = np.empty(n)
    for i in range(n):
        out[i] = src.value() if src.chance(nan_rate) else base + 0.37 * i + 0.1 * src.float()
    return out


UNARY_OPS = list(range(8, 23)) + [POWI]
BINARY_OPS = [3, 4, 5, 6, 7, 23, 24]


def _powi_arg(src: Source) -> int:
    if SAFE_POWI:
        return src.int(-64, 64)
    if ANY_POWI and src.chance(4):
        return src.int(INT32_MIN, INT32_MAX)
    return INT32_MIN if src.chance(50) else src.int(-1000, 1000) if src.chance(5) else src.int(-4, 6)


def _tree_code(src: Source, n_params: int, n_columns: int, n_consts: int, depth: int, out: list) -> None:
    """Postfix code of a random well-formed expression tree."""
    leaves = [(0, n_consts), (1, n_columns), (2, n_params)]
    leaves = [(op, n) for op, n in leaves if n > 0]
    kind = src.int(0, 2) if depth < 5 else 0
    if kind == 0:
        if not leaves:
            out.append((0, 0))  # CONST 0 of an empty pool: must be refused
            return
        op, n = src.pick(leaves)
        out.append((op, src.int(0, n - 1)))
    elif kind == 1:
        _tree_code(src, n_params, n_columns, n_consts, depth + 1, out)
        op = src.pick(UNARY_OPS)
        out.append((op, _powi_arg(src) if op == POWI else 0))
    else:
        _tree_code(src, n_params, n_columns, n_consts, depth + 1, out)
        _tree_code(src, n_params, n_columns, n_consts, depth + 1, out)
        out.append((src.pick(BINARY_OPS), 0))


def random_program(src: Source, n_params: int, n_columns: int):
    """(code, consts): well-formed postfix code half of the time, else loosely formed."""
    n_consts = src.int(0, 4)
    consts = np.array([src.value() for _ in range(n_consts)])
    if src.bool():
        out: list = []
        _tree_code(src, n_params, n_columns, n_consts, 0, out)
        return np.array(out, dtype=np.int32).reshape(-1, 2), consts
    code, depth = [], 0
    for _ in range(src.int(0, 30)):
        if src.chance(12):  # anything at all
            op, arg = src.int(-3, N_OPS + 3), src.int(-5, 40)
        elif depth < 2 or src.chance(3):
            op = src.pick([0, 1, 2])
            arg = src.int(-1, max(n_consts, n_columns, n_params)) if src.chance(10) else \
                src.int(0, max(0, [n_consts, n_columns, n_params][op] - 1))
        else:
            op = src.int(3, N_OPS - 1)
            arg = 0
        if op == POWI:
            arg = _powi_arg(src)
        code.append((op, arg))
        depth += 1 if op in (0, 1, 2) else (-1 if op in (3, 4, 5, 6, 7, 23, 24) else 0)
    code = np.array(code, dtype=np.int32).reshape(-1, 2)
    if src.chance(40):  # wrong shapes and dtypes
        code = src.pick([code.reshape(-1), code.astype(np.float64), np.zeros((2, 3), np.int32),
                         code.astype(np.int64)])
    return code, consts


def random_batch_call(src: Source) -> dict:
    P = src.int(-1, 17) if src.chance(20) else src.int(0, 4)
    Pn = max(P, 0)
    n_columns = src.int(0, 3)
    n_points = src.int(0, 40)
    code, consts = random_program(src, Pn, n_columns)
    n_laws = src.int(0, 4)
    cuts = sorted(src.int(0, n_points) for _ in range(max(n_laws - 1, 0)))
    offsets = np.array([0, *cuts, n_points][: n_laws + 1] if n_laws else [0], dtype=np.int64)
    if src.chance(8):  # offsets that leave the arrays or go backwards
        offsets = np.array([src.int(-5, n_points + 5) for _ in range(src.int(0, 5))], dtype=np.int64)
    n_problems = src.int(0, 6)
    problem_law = None
    if src.bool():
        problem_law = np.array([src.int(-1, n_laws) for _ in range(n_problems)], dtype=np.int64)
    elif not src.chance(8):
        n_problems = max(len(offsets) - 1, 0)
    p0 = np.array([[src.value() if src.chance(15) else 0.5 + src.int(0, 3) for _ in range(Pn)]
                   for _ in range(n_problems)], dtype=np.float64).reshape(n_problems, Pn)
    per_problem = src.bool()
    shape = (n_problems, Pn) if per_problem else (Pn,)
    lower = np.full(shape, -np.inf)
    upper = np.full(shape, np.inf)
    if src.bool():
        lower = np.where(np.random.default_rng(src.int(0, 99)).random(shape) < 0.5, 0.0, -np.inf)
        upper = np.where(np.random.default_rng(src.int(0, 99)).random(shape) < 0.5, 3.0, np.inf)
    fixed = None
    if src.bool():
        fixed = (np.random.default_rng(src.int(0, 99)).random(shape if src.bool() else (Pn,)) < 0.3
                 ).astype(np.uint8)
    y = _floats(src, n_points)
    if src.chance(20):
        y = y[: max(n_points - 1, 0)]
    columns = np.vstack([_floats(src, n_points) for _ in range(n_columns)]) if n_columns else \
        np.zeros((0, n_points))
    if src.chance(20):
        columns = columns.ravel()
    kwargs = dict(
        code=code, consts=consts, n_params=P, columns=columns, y=y,
        weight=None if src.bool() else np.abs(_floats(src, n_points)) * (-1 if src.chance(10) else 1),
        offsets=offsets, problem_law=problem_law, p0=p0, fixed=fixed, lower=lower, upper=upper,
        ftol=src.pick([1.49012e-8, 0.0, 1e-12, -1.0, float("nan")]),
        xtol=src.pick([1.49012e-8, 0.0, 1e-3]), gtol=src.pick([0.0, 1e-8, float("inf")]),
        max_nfev=src.pick([0, 1, 2, 5, 30, -3]), n_threads=src.int(-1, 3), want_jtj=src.bool(),
    )
    if src.bool():  # the options added with robust losses and the bootstrap
        kwargs.update(
            loss=src.int(-1, 6), delta=src.pick([1.0, 1e-3, 0.0, -1.0, float("nan"), 1e300]),
            log_residual=src.bool(), seed=src.pick([0, 1, 2**64 - 1, 12345]),
            problem_resample=None if src.bool() else
            np.array([src.int(-2, 5) for _ in range(n_problems + (src.chance(10)))], dtype=np.int64),
            group=None if src.bool() else
            np.array([src.int(-1, 3) for _ in range(n_points + (src.chance(10)))], dtype=np.int32),
            evaluate_only=src.chance(5), device=src.pick(["cpu", "cpu", "cpu", "cuda", "gpu", ""]),
            max_chunk=src.int(0, 3),
        )
    return kwargs


ARRAY_FIELDS = ("code", "consts", "n_params", "columns", "y", "weight", "offsets", "problem_law", "p0", "fixed",
                "lower", "upper", "problem_resample", "group", "law_key", "start_grid", "grid_sizes")
REDUCTION_FIELDS = ("best_of", "summary_runs", "quantiles", "grid_resamples")


def solve(kwargs: dict) -> dict:
    """``_core.solve_batch`` with one flat dict of arguments, split into its
    BatchArrays, SolverOptions and Reduction (building them checks too)."""
    from lawfit import _core

    arrays = _core.BatchArrays(**{k: v for k, v in kwargs.items() if k in ARRAY_FIELDS})
    reduction = _core.Reduction(**{k: v for k, v in kwargs.items() if k in REDUCTION_FIELDS})
    options = _core.SolverOptions(**{k: v for k, v in kwargs.items()
                                     if k not in ARRAY_FIELDS and k not in REDUCTION_FIELDS})
    return _core.solve_batch(arrays, options, reduction)


def check_batch(kwargs: dict) -> str:
    """One solve_batch call against the contract; returns its outcome."""
    device = kwargs.get("device", "cpu")
    try:
        out = solve(kwargs)
    except (ValueError, TypeError) as exc:
        return f"refused: {type(exc).__name__}"
    except RuntimeError:
        assert device == "cuda", "RuntimeError from the CPU back end"
        return "refused: no GPU"
    params, cost, nit, nfev, status, jtj = (out[k] for k in ("params", "cost", "nit", "nfev", "status", "jtj"))
    K, P = kwargs["p0"].shape
    assert params.shape == (K, P) and cost.shape == (K,) and status.shape == (K,)
    assert nit.shape == (K,) and nfev.shape == (K,)
    if kwargs["want_jtj"]:
        assert jtj.shape == (K, P, P)
    else:
        assert jtj is None
    evaluate_only = kwargs.get("evaluate_only", False)
    for k in range(K):
        s = int(status[k])
        if evaluate_only:
            assert s in (0, 8, 9), s
            continue
        assert s in STATUS_CODES, f"problem {k}: status {s}"
        if s == 9:  # BAD_INPUT
            assert nfev[k] == 0
            continue
        assert nfev[k] >= 1
        lo = np.broadcast_to(kwargs["lower"], (K, P))[k]
        hi = np.broadcast_to(kwargs["upper"], (K, P))[k]
        if kwargs["fixed"] is not None:
            held = np.broadcast_to(kwargs["fixed"], (K, P))[k].astype(bool)
            np.testing.assert_array_equal(params[k][held], kwargs["p0"][k][held])
        if 1 <= s <= 4:  # converged
            assert np.all(np.isfinite(params[k])), params[k]
            assert np.all(params[k] >= lo) and np.all(params[k] <= hi), (params[k], lo, hi)
            assert np.isfinite(cost[k]) and cost[k] >= 0.0, cost[k]
            if jtj is not None:
                np.testing.assert_array_equal(jtj[k], jtj[k].T)
    return "solved"


def check_evaluate(src: Source) -> str:
    from lawfit import _core

    P = src.int(-1, 17) if src.chance(10) else src.int(0, 4)
    n_columns, n = src.int(0, 3), src.int(0, 40)
    code, consts = random_program(src, max(P, 0), n_columns)
    columns = np.vstack([_floats(src, n) for _ in range(n_columns)]) if n_columns else np.zeros((0, n))
    params = np.array([src.value() for _ in range(max(P, 0) + (1 if src.chance(15) else 0))])
    try:
        value, grad = _core.evaluate(code, consts, P, columns, params)
    except (ValueError, TypeError):
        return "refused"
    assert value.shape == (n,) and grad.shape == (n, P)
    return "evaluated"


def check_covariance(src: Source) -> str:
    from lawfit import _core

    K, P = src.int(0, 4), src.int(-1, 18) if src.chance(10) else src.int(1, 5)
    shape = (K, max(P, 0), max(P, 0)) if not src.chance(10) else (K, max(P, 0))
    jtj = np.array([src.value() for _ in range(int(np.prod(shape)))]).reshape(shape)
    if len(shape) == 3 and src.bool() and np.isfinite(jtj).all():
        with np.errstate(all="ignore"):
            jtj = jtj @ np.swapaxes(jtj, 1, 2)
    try:
        out, ok = _core.covariance(jtj, src.pick([1e-10, 0.0, -1.0, float("nan")]))
    except (ValueError, TypeError):
        return "refused"
    assert out.shape == jtj.shape and ok.shape == (K,)
    return "inverted"


def check_bootstrap_counts(src: Source) -> str:
    from lawfit import _core

    try:
        counts = _core.bootstrap_counts(src.pick([0, 1, 2**64 - 1, -1]), src.int(-3, 5), src.int(-3, 5),
                                        src.int(-3, 2000))
    except (ValueError, TypeError):
        return "refused"
    assert counts.dtype == np.int32 and np.all(counts >= 0) and np.all(counts <= 30)
    return "drawn"


def check_callback(src: Source) -> str:
    """solve_callback with a residual function that misbehaves in random ways."""
    from lawfit import _core

    P = src.int(0, 4) if not src.chance(10) else src.int(15, 18)
    M = src.int(0, 12)
    behaviour = [src.int(0, 7) for _ in range(8)]
    calls = [0]

    def fun(p):
        b = behaviour[min(calls[0], len(behaviour) - 1)]
        calls[0] += 1
        r = np.sin(np.arange(M) + p.sum()) + 0.1 * np.arange(M)
        if b == 1:
            return r[: max(M - 1, 0)]  # size changes between calls
        if b == 2:
            return r, np.ones((M, P))  # with a Jacobian
        if b == 3:
            return r, np.ones((M + 1, P))  # Jacobian of the wrong shape
        if b == 4:
            return np.full(M, np.nan)
        if b == 5:
            return "not an array"
        if b == 6:
            return (r,)  # a tuple without its Jacobian
        return r

    p0 = np.array([0.5 + j for j in range(P)], dtype=float)
    lo = np.full(P, -np.inf) if src.bool() else np.full(P + src.int(0, 1), -1.0)
    hi = np.full(P, np.inf)
    try:
        x, cost, nit, ncalls, status, jtj = _core.solve_callback(
            fun, p0, None, lo, hi, 1.49012e-8, 1.49012e-8, 0.0, src.pick([0, 3, 20]))
    except (ValueError, TypeError, IndexError, RuntimeError):
        return "refused"
    assert x.shape == (P,) and jtj.shape == (P, P) and ncalls == calls[0]
    assert 1 <= status <= 8, status
    return "solved"


def one_input(src: Source) -> str:
    which = src.int(0, 9)
    if which <= 5:
        return check_batch(random_batch_call(src))
    if which <= 7:
        return check_evaluate(src)
    if which == 8:
        return check_covariance(src) + " / " + check_bootstrap_counts(src)
    return check_callback(src)


def main(argv=None):
    run_atheris(one_input, globals(), argv, extra_imports=())


if __name__ == "__main__":
    main()
