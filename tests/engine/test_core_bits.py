"""The CPU core's results pinned bit for bit (issue 14: changes made only for speed keep every bit).

Each case fits a small batch and compares a SHA-256 of the raw outputs
(params, cost, nit, nfev, status, J^T W J) with the digest the core gave
before the speed work of issue 14 (commit 9f9521e), re-pinned once when
math::exp/log moved from Horner's to Estrin's scheme (last bits of about one
exp in 1,400 and one log in 3,500; power_law kept its digest): the
compile-time sized LM paths (all parameters free: ``lm_iterate<P>``; the
trust-region step with a constant number of moving parameters) must give
what the run-time sized ones gave, on the interpreter and on generated code
(jit) alike.  Cases with
a held parameter or bounds exercise the run-time paths and the active set.

If a change is *meant* to alter results, regenerate the digests with
``python tests/engine/test_core_bits.py`` and say so in the commit.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from lawfit.demo import CHINCHILLA, START, make_collection
from lawfit.engine import jit as _jit
from lawfit.engine.core import solve_batch
from lawfit.formula import compile_law

# The digests hold on the platform they were recorded on: the inputs come from numpy's
# (CPU-dispatched) pow/exp and the core calls the C library's exp/log/pow, whose
# results may differ in the last bit on another C library or CPU family.
RECORDED_ON = {"machine": "x86_64", "libc": "glibc 2.36", "fma": True, "avx512f": False, "numpy": "2.4"}


def _platform() -> dict:
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), [])
    except OSError:
        flags = []
    return {"machine": platform.machine(), "libc": " ".join(platform.libc_ver()), "fma": "fma" in flags,
            "avx512f": "avx512f" in flags, "numpy": ".".join(np.__version__.split(".")[:2])}


EXPECTED = {
    "chinchilla": "71937536ec715c6801ae24634a525a89a13b38416af6028e9679f81ac76f7b19",
    "chinchilla_bounds_huber": "e3b1ea80d3374cb12be70769cd2f0e254ea9fa55ae2e52fca165d92d4f60d88b",
    "chinchilla_fixed_alpha": "03d8fbf441831adc67d73942bbf868f085b7c5d873cd092b9e14ef2a44683f94",
    "chinchilla_soft_l1_log": "d49b5cfae404502b6b0dfb4087890a1c228ee0c8ddc42a90de8a4ffa8063ef69",
    "chinchilla_1000_points": "81e8891cf6bba05e49d105623bd8f678fa6a64386da123584f225bae6c8a481b",
    "power_law": "5758005594a8cfacdb7a16cf0c627eb0233d378f61b0404367152fd250542f95",
    "bnsl": "ac2cb85cebc0b6da548de067f90ec3f9fbe10bc8f13bf0638b3524b669b1a736",
    "approach3_huber_log": "573429d51bd112b116431f4578ad1d4f79d947d819f24888516607ecc477df5b",
}


def _digest(sol) -> str:
    h = hashlib.sha256()
    for name in ("params", "cost", "nit", "nfev", "status", "jtj"):
        v = getattr(sol, name)
        h.update(name.encode())
        if v is not None:
            h.update(np.ascontiguousarray(v).tobytes())
    return h.hexdigest()


def _chinchilla(n_laws, n_points, seed):
    N, D, L, _ = make_collection(n_laws, n_points, seed=seed)
    prog = compile_law(CHINCHILLA, inputs=["N", "D"])
    cols = prog.input_matrix({"N": N.ravel(), "D": D.ravel()})
    return prog, cols, L.ravel(), np.arange(n_laws + 1) * n_points, np.tile(START, (n_laws, 1))


def _cases():
    """name -> callable(jit) returning a BatchSolution."""
    cases = {}
    prog, cols, y, off, p0 = _chinchilla(64, 40, 3)
    cases["chinchilla"] = lambda jit: solve_batch(prog, cols, y, off, p0, n_threads=1, jit=jit)
    cases["chinchilla_bounds_huber"] = lambda jit: solve_batch(
        prog, cols, y, off, p0, lower=[0, 0, 0, 0, 0], upper=[2.5, 1e4, 1, 1e4, 0.35], loss="huber", delta=0.01,
        n_threads=1, jit=jit)
    fixed = np.zeros(5, bool)
    fixed[2] = True
    cases["chinchilla_fixed_alpha"] = lambda jit: solve_batch(prog, cols, y, off, p0, fixed=fixed, n_threads=1,
                                                              jit=jit)
    cases["chinchilla_soft_l1_log"] = lambda jit: solve_batch(prog, cols, y, off, p0, loss="soft_l1", delta=0.01,
                                                              residual="log", n_threads=1, jit=jit)
    prog1k, cols1k, y1k, off1k, p01k = _chinchilla(4, 1000, 4)
    cases["chinchilla_1000_points"] = lambda jit: solve_batch(prog1k, cols1k, y1k, off1k, p01k, n_threads=1, jit=jit)

    rng = np.random.default_rng(5)
    x = 10 ** rng.uniform(0, 4, (64, 20))
    yp = rng.uniform(1, 10, (64, 1)) * x ** -rng.uniform(0.2, 0.8, (64, 1)) * (1 + 0.02 * rng.standard_normal((64, 20)))
    power = compile_law("a*x**-b", inputs=["x"])
    cases["power_law"] = lambda jit: solve_batch(power, power.input_matrix({"x": x.ravel()}), yp.ravel(),
                                                 np.arange(65) * 20, np.tile([1.0, 0.5], (64, 1)), n_threads=1,
                                                 jit=jit)
    # BNSL with one break: six parameters.
    law = "a + b*x**(-c0) * (1 + (x/d1)**(1/f1))**(-c1*f1)"
    bnsl = compile_law(law, inputs=["x"], params=["a", "b", "c0", "c1", "d1", "f1"])
    true = np.column_stack([rng.uniform(0.5, 1, 16), rng.uniform(5, 20, 16), rng.uniform(0.1, 0.4, 16),
                            rng.uniform(0.2, 0.6, 16), 10 ** rng.uniform(2, 4, 16), rng.uniform(0.2, 1, 16)])
    xb = np.sort(10 ** rng.uniform(0, 6, (16, 60)), axis=1)
    t = [true[:, i : i + 1] for i in range(6)]
    yb = (t[0] + t[1] * xb ** -t[2] * (1 + (xb / t[4]) ** (1 / t[5])) ** (-t[3] * t[5])) * (
        1 + 0.01 * rng.standard_normal((16, 60)))
    pb = true * (1 + 0.1 * rng.standard_normal(true.shape))
    cases["bnsl"] = lambda jit: solve_batch(bnsl, bnsl.input_matrix({"x": xb.ravel()}), yb.ravel(),
                                            np.arange(17) * 60, pb, n_threads=1, jit=jit)
    # Approach 3: log-sum-exp law, huber on log residuals, many starts on one law.
    lse = compile_law("log(exp(a - alpha*log(N)) + exp(b - beta*log(D)) + exp(e))", inputs=["N", "D"],
                      params=["a", "b", "e", "alpha", "beta"])
    n = 240
    Nl = 10 ** rng.uniform(7.7, 10.2, n)
    Dl = 10 ** rng.choice(np.linspace(18, 22, 9), n) / (6 * Nl)
    Ll = (1.82 + 482 / Nl**0.348 + 2085 / Dl**0.366) * np.exp(0.02 * rng.standard_normal(n))
    starts = np.column_stack([rng.uniform(0, 25, 24), rng.uniform(0, 25, 24), rng.uniform(-1, 1.5, 24),
                              rng.uniform(0, 2, 24), rng.uniform(0, 2, 24)])
    cases["approach3_huber_log"] = lambda jit: solve_batch(
        lse, lse.input_matrix({"N": Nl, "D": Dl}), np.log(Ll), np.array([0, n]), starts,
        problem_law=np.zeros(len(starts), np.int64), loss="huber", delta=1e-3, n_threads=1, jit=jit)
    return cases


@pytest.mark.parametrize("jit", [False, True], ids=["interpreted", "jit"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_core_results_are_the_pinned_bits(name, jit):
    here = _platform()
    if here != RECORDED_ON:
        pytest.skip(f"the digests were recorded on {RECORDED_ON}; this is {here}")
    if jit and _jit.compiler() is None:
        pytest.skip("no C++ compiler for jit=True")
    assert _digest(_cases()[name](jit)) == EXPECTED[name]


if __name__ == "__main__":  # prints the digests of the core as built (see the docstring)
    for key, run in _cases().items():
        print(f'    "{key}": "{_digest(run(False))}",')
