"""CUDA back end: agreement with the CPU, chunking, and clean behaviour without a GPU.

The GPU runs the same header-only core as the CPU (cpp/lawfit/*.hpp) in two
layouts.  'group' (16 threads per problem) adds the same per-lane partial sums
in the same order as the CPU's 16-point blocks; 'thread' (one thread per
problem) runs those 16 lanes one after another and adds each finished lane to
running totals, the same additions in the same order.  So both layouts give
the CPU's bits (tests/cpp: group_and_thread_layouts_give_the_cpu_blocks_bits
runs both on the CPU) for laws built from + - * / exp log sqrt and integer
powers, which use lawfit's own exp/log; other functions use each platform's
libm.  (Until 2026-12 the thread layout added points one by one: its first GPU
run differed from the CPU in the 8th digit and in which convergence test fired.)
"""
import numpy as np
import pytest

import lawfit
from lawfit.engine.core import resolve_device, solve_batch
from lawfit.demo import CHINCHILLA, START, make_collection

from _env import HAS_GPU

needs_gpu = pytest.mark.gpu  # tests/conftest.py skips these without a usable device


def _chinchilla_batch(n_laws=300, n_points=40, seed=5):
    N, D, loss, _ = make_collection(n_laws, n_points, seed)
    program = lawfit.compile_law(CHINCHILLA, inputs=["N", "D"])
    columns = program.input_matrix({"N": N.ravel(), "D": D.ravel()})
    offsets = np.arange(n_laws + 1) * n_points
    return program, columns, loss.ravel(), offsets


def test_auto_falls_back_to_cpu_and_cuda_says_why():
    if HAS_GPU:
        assert resolve_device("auto") == "cuda"
        return
    assert resolve_device("auto") == "cpu"
    program, columns, y, offsets = _chinchilla_batch(3)
    with pytest.raises(RuntimeError, match="CUDA"):
        solve_batch(program, columns, y, offsets, np.tile(START, (3, 1)), device="cuda")
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("tpu")


@needs_gpu
@pytest.mark.parametrize("loss, residual", [("l2", "linear"), ("huber", "log")])
@pytest.mark.parametrize("layout", ["thread", "group"])
def test_cpu_and_gpu_agree(loss, residual, layout):
    program, columns, y, offsets = _chinchilla_batch()
    K = len(offsets) - 1
    kw = dict(loss=loss, delta=1e-3 if loss == "huber" else 1.0, residual=residual)
    cpu = solve_batch(program, columns, y, offsets, np.tile(START, (K, 1)), device="cpu", **kw)
    gpu = solve_batch(program, columns, y, offsets, np.tile(START, (K, 1)), device="cuda", layout=layout, **kw)
    _assert_same_bits(gpu, cpu)


def _assert_same_bits(gpu, cpu):
    for name in ("status", "params", "cost", "nit", "nfev", "jtj"):
        np.testing.assert_array_equal(getattr(gpu, name), getattr(cpu, name), err_msg=name)


@needs_gpu
def test_bad_problems_get_the_same_status_in_both_layouts():
    program, columns, y, offsets = _chinchilla_batch(6)
    y = y.copy()
    y[45] = np.nan  # law 1 has a NaN point
    p0 = np.tile(START, (6, 1))
    p0[3, 0] = np.inf  # problem 3 has a bad start
    cpu = solve_batch(program, columns, y, offsets, p0, device="cpu")
    for layout in ("thread", "group"):
        gpu = solve_batch(program, columns, y, offsets, p0, device="cuda", layout=layout)
        np.testing.assert_array_equal(gpu.status, cpu.status)
        assert gpu.status[1] == gpu.status[3] == int(lawfit.Status.BAD_INPUT)
        np.testing.assert_array_equal(gpu.params[[1, 3]], p0[[1, 3]])


@needs_gpu
def test_bootstrap_resamples_identical_on_gpu():
    program, columns, y, offsets = _chinchilla_batch(20)
    K = 20 * 16
    kw = dict(problem_law=np.repeat(np.arange(20), 16), problem_resample=np.tile(np.arange(16), 20), seed=3)
    cpu = solve_batch(program, columns, y, offsets, np.tile(START, (K, 1)), device="cpu", **kw)
    for layout in ("thread", "group"):
        gpu = solve_batch(program, columns, y, offsets, np.tile(START, (K, 1)), device="cuda", layout=layout, **kw)
        _assert_same_bits(gpu, cpu)


@needs_gpu
@pytest.mark.parametrize("layout", ["thread", "group"])
def test_chunking_gives_the_same_answers(layout):
    program, columns, y, offsets = _chinchilla_batch(257)
    p0 = np.tile(START, (257, 1))
    one = solve_batch(program, columns, y, offsets, p0, device="cuda", layout=layout)
    many = solve_batch(program, columns, y, offsets, p0, device="cuda", max_chunk=10, layout=layout)
    assert many.n_chunks == 26 and one.n_chunks == 1
    assert np.array_equal(one.params, many.params) and np.array_equal(one.status, many.status)


GRID = {"E": [1.0, 2.0], "A": [100.0, 1000.0], "alpha": [0.2, 0.5], "B": [100.0, 1000.0], "beta": [0.2, 0.5]}


@needs_gpu
@pytest.mark.parametrize("layout", ["thread", "group"])
def test_device_starts_and_reductions_match_the_cpu(layout):
    # Grid starts generated on the device, the best of each law's 32 starts
    # reduced there, in chunks of whole runs; then bootstrap summaries.
    program, columns, y, offsets = _chinchilla_batch(40)
    for kw in (dict(), dict(max_chunk=70)):  # 70 -> chunks of 64 problems (two whole runs)
        cpu = solve_batch(program, columns, y, offsets, start_grid=GRID, best_of=32, device="cpu")
        gpu = solve_batch(program, columns, y, offsets, start_grid=GRID, best_of=32, device="cuda",
                          layout=layout, **kw)
        np.testing.assert_array_equal(gpu.status, cpu.status)
        np.testing.assert_array_equal(gpu.best, cpu.best)
        np.testing.assert_array_equal(gpu.n_converged, cpu.n_converged)
        np.testing.assert_array_equal(gpu.params, cpu.params)
    L, R = 40, 50
    q = np.array([0.025, 0.5, 0.975])
    boot = dict(problem_law=np.repeat(np.arange(L), R), problem_resample=np.tile(np.arange(R), L), seed=4,
                summary_runs=R, quantiles=q)
    p0 = np.tile(START, (L * R, 1))
    cpu = solve_batch(program, columns, y, offsets, p0, device="cpu", **boot)
    gpu = solve_batch(program, columns, y, offsets, p0, device="cuda", layout=layout, max_chunk=3 * R, **boot)
    assert gpu.n_chunks == 14 and gpu.params is None
    np.testing.assert_array_equal(gpu.n_used, cpu.n_used)
    np.testing.assert_array_equal(gpu.quantiles, cpu.quantiles)
    np.testing.assert_array_equal(gpu.mean, cpu.mean)


@needs_gpu
@pytest.mark.parametrize("layout", ["thread", "group"])
def test_law_compiled_for_the_gpu_gives_the_interpreters_bits(layout):
    program, columns, y, offsets = _chinchilla_batch(200)
    p0 = np.tile(START, (200, 1))
    kw = dict(device="cuda", layout=layout, loss="huber", delta=1e-2)
    interpreted = solve_batch(program, columns, y, offsets, p0, **kw)
    compiled = solve_batch(program, columns, y, offsets, p0, jit=True, **kw)
    for name in ("params", "cost", "nfev", "status", "jtj"):
        np.testing.assert_array_equal(getattr(compiled, name), getattr(interpreted, name), err_msg=name)


def test_auto_skips_a_gpu_that_fails_its_self_check(monkeypatch):
    # A GPU that is present but gives wrong answers (or errors) is not used by
    # device='auto': one warning says why, and the CPU runs.
    import lawfit.engine.core as batch

    monkeypatch.setattr(batch, "_self_check", [])
    monkeypatch.setattr(batch._core, "WITH_CUDA", True)
    monkeypatch.setattr(batch._core, "cuda_device_count", lambda: 1)
    real_solve = batch.solve_batch

    def wrong_on_gpu(*args, device="cpu", **kw):
        sol = real_solve(*args, device="cpu", **kw)
        if device == "cuda":
            sol.params = sol.params * (1 + 1e-12)  # a broken kernel's last digits
        return sol

    monkeypatch.setattr(batch, "solve_batch", wrong_on_gpu)
    with pytest.warns(lawfit.LawfitWarning, match="group layout differs from the CPU"):
        assert resolve_device("auto") == "cpu"
    assert resolve_device("auto") == "cpu"  # checked once per process
    assert resolve_device("cuda") == "cuda"  # asked for explicitly: no check

    monkeypatch.setattr(batch, "_self_check", [])
    monkeypatch.setattr(batch, "solve_batch", real_solve)
    if not HAS_GPU:  # the real back end raises without a device: also a failed check
        with pytest.warns(lawfit.LawfitWarning, match="self-check"):
            assert resolve_device("auto") == "cpu"


def test_auto_keeps_small_batches_on_the_cpu(monkeypatch):
    # A usable GPU that passes its self-check still gets only batches large enough
    # to pay for a call (AUTO_GPU_WORK_PER_THREAD evaluations per CPU thread).
    import lawfit.engine.core as batch

    monkeypatch.setattr(batch, "_self_check", [True, ""])
    monkeypatch.setattr(batch._core, "WITH_CUDA", True)
    monkeypatch.setattr(batch._core, "cuda_device_count", lambda: 1)
    monkeypatch.delenv("LAWFIT_AUTO_GPU_WORK", raising=False)
    per_thread = batch.AUTO_GPU_WORK_PER_THREAD
    assert resolve_device("auto", work=per_thread * 2 - 1, n_threads=2) == "cpu"
    assert resolve_device("auto", work=per_thread * 2, n_threads=2) == "cuda"
    assert resolve_device("auto", work=per_thread * 2, n_threads=16) == "cpu"
    assert resolve_device("auto") == "cuda"  # no size given: the GPU when it is usable
    assert resolve_device("cuda", work=1.0) == "cuda"  # asked for: no size rule
    monkeypatch.setenv("LAWFIT_AUTO_GPU_WORK", "0")
    assert resolve_device("auto", work=1.0, n_threads=2) == "cuda"
    monkeypatch.setenv("LAWFIT_AUTO_GPU_WORK", "lots")
    with pytest.raises(ValueError, match="LAWFIT_AUTO_GPU_WORK must be a number"):
        resolve_device("auto", work=1.0)
    monkeypatch.delenv("LAWFIT_AUTO_GPU_WORK")
    # a small batch through solve_batch with the default 'auto' of the engine runs on the CPU
    program, columns, y, offsets = _chinchilla_batch(4)
    sol = solve_batch(program, columns, y, offsets, np.tile(START, (4, 1)), device="auto", n_threads=1)
    assert (sol.status > 0).all() and sol.n_chunks == 1
