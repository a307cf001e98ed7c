"""What the test machine offers: the released data sets and a usable GPU."""
import os
from pathlib import Path

from lawfit import _core

#: The CUDA back end is built and a device is usable: GPU tests run.
HAS_GPU = bool(_core.WITH_CUDA and _core.cuda_device_count() > 0)


def data_root() -> Path:
    """``$LAWFIT_DATA``, else ``../shared/data`` beside the repository (it may not exist)."""
    env = os.environ.get("LAWFIT_DATA")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
