"""GPU arrays as inputs: read in place by solve_batch on the GPU, copied once by curve_fit.

Without a GPU the checks of the ``__cuda_array_interface__`` (dtype, layout,
mask) and the refusal to read GPU memory on the CPU are tested with a stand-in
object; with CuPy and a GPU, CuPy inputs must give exactly the numpy results.
"""
import numpy as np
import pytest

import lawfit
from lawfit.engine.device import is_device_array, to_host

from _env import HAS_GPU



class StandIn:
    """Looks like a GPU array (its pointer is host memory, so never run on a GPU)."""

    def __init__(self, a, **override):
        self.a = np.ascontiguousarray(a)
        self.shape, self.ndim = self.a.shape, self.a.ndim
        cai = {"shape": self.a.shape, "typestr": self.a.dtype.str, "data": (self.a.ctypes.data, False),
               "strides": None, "version": 3}
        cai.update(override)
        self.__cuda_array_interface__ = cai

    def get(self):
        return self.a.copy()


def _problem():
    x = np.linspace(0.5, 4, 30)
    y = 2.5 * np.exp(-1.3 * x) + 0.5
    program = lawfit.compile_law("a*exp(-b*x) + c", inputs=["x"])
    return program, program.input_matrix({"x": x}), y, np.array([0, 30])


@pytest.mark.parametrize("override, message", [
    (dict(typestr="<f4"), "dtype must be <f8"),
    (dict(strides=(16,)), "C-contiguous"),
    (dict(mask=object()), "masked arrays"),
])
def test_gpu_array_interface_is_checked(override, message):
    program, columns, y, offsets = _problem()
    with pytest.raises(ValueError, match=message):
        lawfit.solve_batch(program, columns, StandIn(y, **override), offsets, [1.0, 1.0, 0.0], device="cpu")


def test_gpu_arrays_are_not_read_on_the_cpu():
    program, columns, y, offsets = _problem()
    with pytest.raises(ValueError, match="lie on the GPU: run with device='cuda'"):
        lawfit.solve_batch(program, StandIn(columns), y, offsets, [1.0, 1.0, 0.0], device="cpu")
    if not HAS_GPU:  # 'auto' and no device given go where the arrays are, and say when they cannot
        for device in ("auto", None):
            with pytest.raises(RuntimeError, match="CUDA"):
                lawfit.solve_batch(program, columns, StandIn(y), offsets, [1.0, 1.0, 0.0], device=device)


def test_curve_fit_copies_gpu_arrays_once():
    x = np.linspace(0.5, 4, 30)
    y = 2.5 * np.exp(-1.3 * x) + 0.5
    assert is_device_array(StandIn(y)) and not is_device_array(y)
    np.testing.assert_array_equal(to_host({"x": StandIn(x)})["x"], x)
    popt, _ = lawfit.curve_fit("a*exp(-b*x) + c", StandIn(x), StandIn(y), p0=[1, 1, 0])
    np.testing.assert_allclose(popt, [2.5, 1.3, 0.5], rtol=1e-7)
    with pytest.raises(TypeError, match="cannot copy"):
        to_host(type("Opaque", (), {"__cuda_array_interface__": {}})())


@pytest.mark.skipif(not HAS_GPU, reason="no usable CUDA device")
@pytest.mark.gpu
def test_cupy_inputs_are_read_in_place_and_match_numpy():
    cp = pytest.importorskip("cupy")
    program, columns, y, offsets = _problem()
    p0 = np.array([[1.0, 1.0, 0.0], [2.0, 0.5, 0.2]])
    law = np.zeros(2, np.int64)
    host = lawfit.solve_batch(program, columns, y, offsets, p0, problem_law=law, device="cuda", layout="group")
    dev = lawfit.solve_batch(program, cp.asarray(columns), cp.asarray(y), offsets, cp.asarray(p0), problem_law=law,
                             layout="group")  # no device given: cuda, the arrays are there
    np.testing.assert_array_equal(dev.params, host.params)
    logged = lawfit.solve_batch(program, cp.asarray(columns), cp.asarray(y), offsets, p0, problem_law=law,
                                residual="log", device="cuda")
    ref = lawfit.solve_batch(program, columns, y, offsets, p0, problem_law=law, residual="log", device="cuda")
    np.testing.assert_array_equal(logged.params, ref.params)
    with pytest.raises(ValueError, match="dtype must be <f8"):
        lawfit.solve_batch(program, columns, cp.asarray(y, dtype=cp.float32), offsets, p0, problem_law=law)


def test_dlpack_producers_on_the_gpu_need_cupy_or_are_left_alone():
    from lawfit.engine.device import as_cuda_array, on_cuda_via_dlpack

    class DLPackOnGpu:
        def __dlpack__(self, stream=None):
            raise AssertionError("not consumed without CuPy")

        def __dlpack_device__(self):
            return (2, 0)  # kDLCUDA

    host = np.arange(3.0)  # numpy arrays are DLPack producers on the CPU (kDLCPU = 1)
    assert not on_cuda_via_dlpack(host) and as_cuda_array(host) is host
    assert on_cuda_via_dlpack(DLPackOnGpu())
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(TypeError, match="needs CuPy"):
            as_cuda_array(DLPackOnGpu())
