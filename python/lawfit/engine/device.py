"""Arrays that live on a GPU (anything exposing ``__cuda_array_interface__``:
CuPy, PyTorch CUDA tensors, Numba device arrays; DLPack producers such as JAX
arrays through a CuPy view).

:func:`lawfit.solve_batch` reads such arrays where they lie (no copy) when it
runs on the GPU.  The higher-level functions (``curve_fit``, ``fit``) build
their input matrices with numpy, so they copy device arrays to the host once,
with :func:`to_host`.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np


_DLPACK_CUDA = 2  # DLDeviceType kDLCUDA (dlpack.h)


def is_device_array(a) -> bool:
    """True for objects exposing ``__cuda_array_interface__``."""
    return hasattr(a, "__cuda_array_interface__")


def on_cuda_via_dlpack(a) -> bool:
    """True for DLPack producers (e.g. JAX arrays) whose memory is on a CUDA device."""
    if is_device_array(a) or not hasattr(a, "__dlpack__") or not hasattr(a, "__dlpack_device__"):
        return False
    try:
        return int(a.__dlpack_device__()[0]) == _DLPACK_CUDA
    except Exception:  # a producer that cannot say: treat it as a host array
        return False


def as_cuda_array(a):
    """``a`` itself, or for a CUDA DLPack producer a CuPy view of the same
    memory (no copy), so that the core can read it through
    ``__cuda_array_interface__``.  Needs CuPy (``pip install lawfit[gpu]``)."""
    if not on_cuda_via_dlpack(a):
        return a
    try:
        import cupy
    except ImportError:
        raise TypeError(f"a {type(a).__name__} on the GPU (DLPack) needs CuPy to be read in place: "
                        "pip install lawfit[gpu], or pass a numpy array") from None
    return cupy.from_dlpack(a)


def to_host(a):
    """A numpy copy of a device array (CuPy ``.get()``, PyTorch ``.cpu()``, Numba
    ``copy_to_host()``); anything else is returned unchanged.  Mappings and
    lists are converted item by item."""
    if isinstance(a, Mapping):
        return {k: to_host(v) for k, v in a.items()}
    if isinstance(a, (list, tuple)) and any(is_device_array(v) for v in a):
        return type(a)(to_host(v) for v in a)
    if not is_device_array(a):
        return a
    for method in ("get", "copy_to_host"):
        if callable(getattr(a, method, None)):
            return np.asarray(getattr(a, method)())
    if callable(getattr(a, "cpu", None)):  # torch.Tensor
        return a.detach().cpu().numpy()
    raise TypeError(f"cannot copy a {type(a).__name__} from the GPU: pass a numpy array "
                    "(or a CuPy array, a PyTorch tensor or a Numba device array)")


def device_log(a):
    """log(a) computed where ``a`` lies: CuPy and PyTorch arrays stay on the GPU."""
    module = type(a).__module__.split(".")[0]
    if module == "cupy":
        import cupy

        return cupy.log(a)
    if module == "torch":
        return a.log()
    return np.log(to_host(a))
