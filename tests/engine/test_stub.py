"""python/lawfit/_core.pyi is generated from the built module (lawfit.engine.stubgen) and kept so.

The first test is the CI check: a change to the bindings without a
regenerated stub fails here with the diff.  The others check the generator.
"""
from __future__ import annotations

import ast
import enum
import subprocess
import sys
import types

import pytest

from lawfit import _core
from lawfit.engine import stubgen


def test_checked_in_stub_matches_the_built_module():
    proc = subprocess.run([sys.executable, "-m", "lawfit.engine.stubgen", "--check"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, (
        "python/lawfit/_core.pyi is out of date: run `python -m lawfit.engine.stubgen`\n" + proc.stdout + proc.stderr)


def test_check_fails_with_a_diff_when_the_stub_drifts(tmp_path, capsys):
    stub = tmp_path / "_core.pyi"
    assert stubgen.main(["--output", str(stub)]) == 0
    assert stubgen.main(["--check", "--output", str(stub)]) == 0
    stub.write_text(stub.read_text().replace("def solve_batch(", "def solve_batch_old("))
    capsys.readouterr()
    assert stubgen.main(["--check", "--output", str(stub)]) == 1
    out = capsys.readouterr().out
    assert "-def solve_batch_old(" in out and "+def solve_batch(" in out
    assert stubgen.main(["--check", "--output", str(tmp_path / "missing.pyi")]) == 1


def test_the_stub_names_everything_the_module_has():
    text = stubgen.generate()
    tree = ast.parse(text)  # valid Python
    top = {node.name: node for node in tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef))}
    annotated = {node.target.id for node in tree.body if isinstance(node, ast.AnnAssign)}
    for name in (n for n in dir(_core) if not n.startswith("__")):
        assert name in top or name in annotated, name
    for name in ("MAX_PARAMS", "MAX_STACK", "BATCH_VIEW_SIZE", "CUDA_ABI"):
        assert f"\n{name}: int\n" in text
    assert "\nWITH_CUDA: bool\n" in text
    for cls in (_core.Op, _core.Status, _core.Loss):  # every member, Op included
        members = [t.targets[0].id for t in top[cls.__name__].body if isinstance(t, ast.Assign)]
        assert members == list(cls.__members__) and len(members) == len(cls)
        assert f"class {cls.__name__}(enum.IntEnum):" in text
    options = {t.target.id: ast.unparse(t.annotation) for t in top["SolverOptions"].body
               if isinstance(t, ast.AnnAssign)}
    assert options["ftol"] == "float" and options["loss"] == "Loss" and options["device"] == "str"
    assert set(options) == {"ftol", "xtol", "gtol", "max_nfev", "n_threads", "want_jtj", "loss", "delta",
                            "log_residual", "irls_floor", "seed", "evaluate_only", "device", "layout", "max_chunk"}
    arrays = {t.target.id for t in top["BatchArrays"].body if isinstance(t, ast.AnnAssign)}
    assert len(arrays) == 17 and {"code", "columns", "p0", "start_grid", "grid_sizes"} <= arrays
    solve = ast.unparse(top["solve_batch"].args)
    assert solve == ("arrays: BatchArrays, options: SolverOptions, reduction: Optional[Reduction]=None, "
                     "compiled: Optional[CapsuleType]=None, progress: Optional[Callable[[int, int], None]]=None")
    assert ast.unparse(top["solve_batch"].returns) == "dict[str, Any]"
    # The defaults are the core's (C++), as the module reports them.
    init = top["SolverOptions"].body[1]
    defaults = dict(zip([a.arg for a in init.args.kwonlyargs], [ast.literal_eval(d) for d in init.args.kw_defaults]))
    o = _core.SolverOptions()
    assert all(defaults[k] == getattr(o, k) for k in defaults), defaults


@pytest.mark.parametrize("pybind, stub", [
    ("typing.Annotated[numpy.typing.ArrayLike, numpy.float64]", "npt.NDArray[np.float64]"),
    ("typing.Annotated[numpy.typing.ArrayLike, numpy.int32] | None", "Optional[npt.NDArray[np.int32]]"),
    ("numpy.typing.NDArray[numpy.int64]", "npt.NDArray[np.int64]"),
    ("numpy.ndarray[numpy.float64]", "npt.NDArray[np.float64]"),
    ("typing.Annotated[numpy.typing.NDArray[numpy.float64], \"[m, 1]\", \"flags.writeable\"]",
     "npt.NDArray[np.float64]"),
    ("numpy.ndarray", "npt.NDArray[Any]"),
    ("numpy.typing.NDArray[numpy.bool]", "npt.NDArray[np.bool_]"),
    ("typing.SupportsInt | typing.SupportsIndex", "int"),
    ("typing.SupportsFloat | typing.SupportsIndex", "float"),
    ("typing.SupportsInt", "int"),
    ("lawfit._core.Reduction | None", "Optional[Reduction]"),
    ("typing.Optional[lawfit._core.Loss]", "Optional[Loss]"),
    ("collections.abc.Callable[[int, int], None]", "Callable[[int, int], None]"),
    ("collections.abc.Callable", "Callable[..., Any]"),
    ("typing_extensions.CapsuleType", "CapsuleType"),
    ("types.CapsuleType | None", "Optional[CapsuleType]"),
    ("tuple[numpy.typing.NDArray[numpy.float64], float]", "tuple[npt.NDArray[np.float64], float]"),
    ("dict", "dict[str, Any]"),
    ("dict[str, typing.Any]", "dict[str, Any]"),
    ("str | int | None", "Optional[str | int]"),
])
def test_pybind11_type_names_become_stub_types(pybind, stub):
    render = stubgen._Renderer("lawfit._core", stubgen._Imports())
    assert render.type(pybind) == stub


def test_overloads_defaults_and_classes_of_any_module():
    # A stand-in module with what pybind11 writes for overloads, keyword-only
    # arguments, defaults it can and cannot spell, and a read-only property.
    fake = types.ModuleType("fake._ext", "An extension.")

    def area(*args, **kwargs):
        pass
    area.__doc__ = ("area(*args, **kwargs)\nOverloaded function.\n\n"
                    "1. area(side: typing.SupportsFloat | typing.SupportsIndex) -> float\n\nA square.\n\n"
                    "2. area(w: typing.SupportsFloat | typing.SupportsIndex, h: typing.SupportsFloat | "
                    "typing.SupportsIndex = 1.0, *, unit: str = 'm', shape: object = <Shape.SQUARE: 1>) -> float\n\n"
                    "A rectangle.\n")
    fake.area = area

    class Shape(enum.IntEnum):
        """Shapes"""
        SQUARE = 1
        DISC = 2

    class Box:
        """A box."""

        def __init__(self):
            pass
        __init__.__doc__ = "__init__(self: fake._ext.Box, size: typing.SupportsInt | typing.SupportsIndex) -> None\n"

        def _size(self):
            pass
        _size.__doc__ = "(self: fake._ext.Box) -> int\n"
        size = property(_size, doc="The size.")

    fake.Shape, fake.Box, fake.VERSION = Shape, Box, "1.0"
    text = stubgen.generate(fake)
    ast.parse(text)
    assert "from typing import overload" in text
    assert ("@overload\ndef area(side: float) -> float:\n    \"\"\"A square.\"\"\"\n@overload\n"
            "def area(w: float, h: float = 1.0, *, unit: str = \"m\", shape: object = ...) -> float:\n"
            "    \"\"\"A rectangle.\"\"\"\n") in text
    assert "class Shape(enum.IntEnum):\n    \"\"\"Shapes\"\"\"\n    SQUARE = 1\n    DISC = 2\n" in text
    assert ("class Box:\n    \"\"\"A box.\"\"\"\n    def __init__(self, size: int) -> None: ...\n"
            "    #: The size.\n    @property\n    def size(self) -> int: ...\n") in text
    assert "\nVERSION: str\n" in text
