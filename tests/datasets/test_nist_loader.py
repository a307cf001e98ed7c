"""The NIST StRD loader (lawfit.datasets.nist) against the 27 reference files.

The data are not part of the repository: they are looked for in $LAWFIT_DATA
and in ../shared/data next to the checkout; the tests skip when absent.
"""

import ast
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nist_models import model as nist_model
from nist_scoring import data_dir

from lawfit.datasets import NIST_PROBLEMS, load_nist_strd, lre, nist_problem_names
from lawfit.datasets import nist as nist_mod

EXPECTED_DIFFICULTY = {
    "lower": ["Misra1a", "Chwirut2", "Chwirut1", "Lanczos3", "Gauss1", "Gauss2",
              "DanWood", "Misra1b"],
    "average": ["Kirby2", "Hahn1", "Nelson", "MGH17", "Lanczos1", "Lanczos2", "Gauss3",
                "Misra1c", "Misra1d", "Roszman1", "ENSO"],
    "higher": ["MGH09", "Thurber", "BoxBOD", "Rat42", "MGH10", "Eckerle4", "Rat43",
               "Bennett5"],
}
DIFFICULTY = {n: d for d, names in EXPECTED_DIFFICULTY.items() for n in names}

ALL = pytest.mark.parametrize("name", NIST_PROBLEMS)


@pytest.fixture(scope="module")
def ddir():
    d = data_dir()
    if d is None:
        pytest.skip("NIST StRD data not found (set LAWFIT_DATA or provide ../shared/data)")
    return d


@pytest.fixture(scope="module")
def problems(ddir):
    return {n: load_nist_strd(n, data_dir=ddir) for n in nist_problem_names(ddir)}


def _header(path):
    """Counts stated in a file's header, read independently of the loader."""
    text = Path(path).read_text()
    return {
        "n_obs": int(re.search(r"(\d+)\s+Observations", text).group(1)),
        "n_params": int(re.search(r"(\d+)\s+Parameters", text).group(1)),
        "n_pred": int(re.search(r"(\d+)\s+Predictors?", text).group(1)),
        "data_lines": tuple(
            int(v) for v in re.search(r"Data\s+\(lines\s+(\d+)\s+to\s+(\d+)\)", text).groups()
        ),
        "difficulty": re.search(r"(\w+)\s+Level of Difficulty", text).group(1).lower(),
    }


@pytest.mark.data
def test_all_27_problems_present(ddir):
    names = nist_problem_names(ddir)
    assert sorted(names) == sorted(NIST_PROBLEMS)
    assert names == list(NIST_PROBLEMS)  # NIST's order
    assert sorted(DIFFICULTY) == sorted(NIST_PROBLEMS)


@pytest.mark.data
@ALL
def test_counts_and_certified_values(problems, name):
    p = problems[name]
    h = _header(p.path)
    k = h["n_params"]
    assert p.name == name
    assert p.n_obs == h["n_obs"] == h["data_lines"][1] - h["data_lines"][0] + 1
    assert p.y.shape == (p.n_obs,)
    if h["n_pred"] == 1:
        assert p.inputs == ("x",) and p.x.shape == (p.n_obs,)
    else:
        assert p.x.shape == (h["n_pred"], p.n_obs) and len(p.inputs) == h["n_pred"]
    assert p.param_names == [f"b{i + 1}" for i in range(k)]
    for arr in (p.start1, p.start2, p.certified_values, p.certified_stddev):
        assert arr.shape == (k,) and arr.dtype == np.float64
        assert np.all(np.isfinite(arr))
    assert np.all(p.certified_values != 0)
    assert np.all(p.certified_stddev > 0)
    assert p.residual_sum_of_squares > 0 and p.residual_std > 0
    assert np.all(np.isfinite(p.x)) and np.all(np.isfinite(p.y))
    # The residual standard deviation is sqrt(RSS / (n - k)) in every file.
    assert math.isclose(
        p.residual_std, math.sqrt(p.residual_sum_of_squares / (p.n_obs - k)), rel_tol=1e-9
    )
    if name == "Rat43":
        # NIST erratum kept as stated: Rat43.dat says 9 degrees of freedom,
        # but n - k = 11 and its residual standard deviation uses 11.
        assert p.dof == 9
    else:
        assert p.dof == p.n_obs - k


@pytest.mark.data
@ALL
def test_difficulty(problems, name):
    p = problems[name]
    assert p.difficulty == DIFFICULTY[name] == _header(p.path)["difficulty"]


@pytest.mark.data
@ALL
def test_certified_residual_sum_of_squares(problems, name):
    """The hand-written numpy model at the certified values gives the certified RSS.

    Tolerance: relative 1e-6, plus the RSS that rounding the certified values to
    their 11 printed digits can cause, n * (5e-11 * max|y|)^2.  That second term
    is negligible except for Lanczos1, whose certified RSS (1.4e-25) sits far
    below the rounding of its printed parameters.
    """
    p = problems[name]
    r = p.y - nist_model(name)(p.x, *p.certified_values)
    rss = float(r @ r)
    rounding = p.n_obs * (5e-11 * float(np.max(np.abs(p.y)))) ** 2
    assert abs(rss - p.residual_sum_of_squares) <= 1e-6 * p.residual_sum_of_squares + rounding, (
        rss, p.residual_sum_of_squares)


@pytest.mark.data
def test_nelson_is_a_log_response(problems):
    p = problems["Nelson"]
    assert p.response == "log(y)" and p.inputs == ("x1", "x2")
    np.testing.assert_array_equal(p.y, np.log(p.y_observed))
    assert p.formula == "b1-b2*x1*exp(-b3*x2)"


# ---------------------------------------------------------------------------
# the formula strings

_FUNCS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos,
          "arctan": np.arctan}
_BINOPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
           ast.Div: np.divide, ast.Pow: np.power}


def eval_formula(formula, env):
    """Evaluate a formula string with numpy, allowing only lawfit's grammar."""

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id == "pi":
                return np.pi
            return env[node.id]
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in _FUNCS and len(node.args) == 1 and not node.keywords):
            return _FUNCS[node.func.id](ev(node.args[0]))
        raise ValueError(f"not in the formula grammar: {ast.dump(node)}")

    return ev(ast.parse(formula, mode="eval"))


def _env(p, b):
    env = dict(zip(p.param_names, b))
    if len(p.inputs) == 1:
        env[p.inputs[0]] = p.x
    else:
        env.update(zip(p.inputs, p.x))
    return env


@pytest.mark.data
@ALL
def test_formula_grammar(problems, name):
    f = problems[name].formula
    tokens = re.findall(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|[A-Za-z_]\w*|\*\*|[-+*/()]|\S", f)
    allowed = set(problems[name].param_names) | set(problems[name].inputs) | set(_FUNCS) | {"pi"}
    for t in tokens:
        assert (re.fullmatch(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", t) or t in allowed
                or t in {"**", "+", "-", "*", "/", "(", ")"}), (t, f)
    assert "[" not in f and "]" not in f and " " not in f


@pytest.mark.data
@ALL
def test_formula_matches_hand_written_model(problems, name):
    p = problems[name]
    ref = nist_model(name)
    with np.errstate(all="ignore"):
        for b in (p.certified_values, p.start1, p.start2):
            got = eval_formula(p.formula, _env(p, b))
            want = ref(p.x, *b)
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-300, equal_nan=True)


@pytest.mark.data
@ALL
def test_formula_with_lawfit_formula(problems, name):
    """The loader's formula, compiled by lawfit.formula, equals the hand-written model."""
    formula_mod = pytest.importorskip("lawfit.formula")
    p = problems[name]
    prog = formula_mod.compile_law(p.formula, inputs=list(p.inputs), params=list(p.param_names))
    ref = nist_model(name)
    k, n = p.n_params, p.n_obs
    for b in (p.certified_values, p.start1, p.start2):
        b = np.array(b, dtype=np.float64)
        value, grad = prog.evaluate(b, p.x)
        value = np.asarray(value, dtype=np.float64).reshape(-1)
        with np.errstate(all="ignore"):
            want = ref(p.x, *b)
        assert value.shape == (n,)
        np.testing.assert_allclose(value, want, rtol=1e-9,
                                   atol=1e-12 * float(np.nanmax(np.abs(want))), equal_nan=True)
    # the gradient at the certified values against central differences
    b = np.array(p.certified_values, dtype=np.float64)
    _, grad = prog.evaluate(b, p.x)
    grad = np.asarray(grad, dtype=np.float64)
    if grad.shape == (k, n):
        grad = grad.T
    assert grad.shape == (n, k)
    for j in range(k):
        h = 1e-6 * max(abs(b[j]), 1e-3)
        bp, bm = b.copy(), b.copy()
        bp[j] += h
        bm[j] -= h
        fd = (ref(p.x, *bp) - ref(p.x, *bm)) / (2 * h)
        scale = float(np.max(np.abs(fd))) or 1.0
        np.testing.assert_allclose(grad[:, j], fd, rtol=1e-4, atol=1e-6 * scale,
                                   err_msg=f"{name}: d/d{p.param_names[j]}")


@pytest.mark.parametrize(
    "rhs, expected",
    [
        ("b1 / ((1+exp[b2-b3*x])**(1/b4))  +  e", "b1/((1+exp(b2-b3*x))**(1/b4))"),
        ("b1 * (1-(1+2*b2*x)**(-.5))  +  e", "b1*(1-(1+2*b2*x)**(-0.5))"),
        ("(b1+b2*x+b3*x**2+b4*x**3) / (1+b5*x+b6*x**2+b7*x**3)  +  e",
         "(b1+b2*x+b3*x**2+b4*x**3)/(1+b5*x+b6*x**2+b7*x**3)"),
        ("b1 - b2*x - arctan[b3/(x-b4)]/pi  +  e", "b1-b2*x-arctan(b3/(x-b4))/pi"),
    ],
)
def test_formula_conversion(rhs, expected):
    got = nist_mod._formula_from_rhs(
        rhs, {"pi": math.pi}, ["b1", "b2", "b3", "b4", "b5", "b6", "b7", "x"], "<test>")
    assert got == expected


def test_formula_conversion_rejects_unknown_names():
    with pytest.raises(ValueError):
        nist_mod._formula_from_rhs("b1*tanh(x) + e", {}, ["b1", "x"], "<test>")
    with pytest.raises(ValueError):
        nist_mod._formula_from_rhs("b1*(x + e", {}, ["b1", "x"], "<test>")


# ---------------------------------------------------------------------------
# finding files


@pytest.mark.data
def test_missing_problem_names_the_path(ddir):
    with pytest.raises(FileNotFoundError, match=re.escape(str(ddir / "NoSuchProblem.dat"))):
        load_nist_strd("NoSuchProblem", data_dir=ddir)


def test_missing_file_path(tmp_path):
    missing = tmp_path / "nothing.dat"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_nist_strd(missing)


def test_missing_data_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path))):
        nist_problem_names(tmp_path)


@pytest.mark.data
def test_load_by_path_and_case_insensitive_name(ddir):
    a = load_nist_strd(ddir / "Misra1a.dat")
    b = load_nist_strd("misra1a", data_dir=ddir)
    assert a.name == b.name == "Misra1a"
    np.testing.assert_array_equal(a.y, b.y)


@pytest.mark.data
def test_lawfit_data_env(ddir, monkeypatch):
    # LAWFIT_DATA may name the data directory or the nist-strd folder itself
    monkeypatch.setenv("LAWFIT_DATA", str(ddir))
    assert load_nist_strd("DanWood").n_obs == 6
    monkeypatch.setenv("LAWFIT_DATA", str(ddir.parent))
    assert len(nist_problem_names()) == 27


def test_datasets_import_with_numpy_only():
    """The loader module needs numpy and the standard library, nothing else."""
    nist_py = Path(nist_mod.__file__)
    code = (
        "import sys, importlib.util, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('scipy', 'lawfit', 'cupy', 'torch', 'pandas'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"spec = importlib.util.spec_from_file_location('nist_alone', {str(nist_py)!r})\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['nist_alone'] = m\n"
        "spec.loader.exec_module(m)\n"
        "print(m.lre(1.0000001, 1.0))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


# ---------------------------------------------------------------------------
# LRE


def test_lre():
    assert float(lre(1.0, 1.0)) == 11.0
    assert math.isclose(float(lre(1.000001, 1.0)), 6.0, abs_tol=1e-6)
    assert math.isclose(float(lre(-2.02e-3, -2.0e-3)), 2.0, abs_tol=1e-9)
    assert float(lre(1.5, 1.0)) == 0.0          # not one digit right
    assert float(lre(np.nan, 1.0)) == 0.0
    assert float(lre(np.inf, 1.0)) == 0.0
    assert float(lre(1e-12, 0.0)) == 11.0       # absolute error at a zero
    np.testing.assert_allclose(lre([1.0, 1.001], [1.0, 1.0], digits=9), [9.0, 3.0], atol=1e-9)
