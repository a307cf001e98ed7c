"""CUDA back end: agreement with the CPU, chunking, and clean behaviour without a GPU.

The GPU runs the same header-only core as the CPU (cpp/lawfit/*.hpp) with a
block of one point per thread, so sums are accumulated in a different order:
parameters agree to 1e-10 relative (rounding differences amplified by at most
the problems' conditioning), status codes and bootstrap multiplicities exactly.
"""
import numpy as np
import pytest

import lawfit
from lawfit import _core
from lawfit._batch import resolve_device, solve_batch
from lawfit.demo import CHINCHILLA, START, make_collection

HAS_GPU = _core.WITH_CUDA and _core.cuda_device_count() > 0
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="no usable CUDA device")


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
def test_cpu_and_gpu_agree(loss, residual):
    program, columns, y, offsets = _chinchilla_batch()
    K = len(offsets) - 1
    kw = dict(loss=loss, delta=1e-3 if loss == "huber" else 1.0, residual=residual)
    cpu = solve_batch(program, columns, y, offsets, np.tile(START, (K, 1)), device="cpu", **kw)
    gpu = solve_batch(program, columns, y, offsets, np.tile(START, (K, 1)), device="cuda", **kw)
    assert np.array_equal(cpu.status, gpu.status)
    ok = cpu.status > 0
    np.testing.assert_allclose(gpu.params[ok], cpu.params[ok], rtol=1e-10)
    np.testing.assert_allclose(gpu.cost[ok], cpu.cost[ok], rtol=1e-10)


@needs_gpu
def test_bootstrap_resamples_identical_on_gpu():
    program, columns, y, offsets = _chinchilla_batch(20)
    K = 20 * 16
    kw = dict(problem_law=np.repeat(np.arange(20), 16), problem_resample=np.tile(np.arange(16), 20), seed=3)
    cpu = solve_batch(program, columns, y, offsets, np.tile(START, (K, 1)), device="cpu", **kw)
    gpu = solve_batch(program, columns, y, offsets, np.tile(START, (K, 1)), device="cuda", **kw)
    assert np.array_equal(cpu.status, gpu.status)
    ok = cpu.status > 0
    np.testing.assert_allclose(gpu.params[ok], cpu.params[ok], rtol=1e-10)


@needs_gpu
def test_chunking_gives_the_same_answers():
    program, columns, y, offsets = _chinchilla_batch(257)
    p0 = np.tile(START, (257, 1))
    one = solve_batch(program, columns, y, offsets, p0, device="cuda")
    many = solve_batch(program, columns, y, offsets, p0, device="cuda", max_chunk=10)
    assert np.array_equal(one.params, many.params) and np.array_equal(one.status, many.status)
