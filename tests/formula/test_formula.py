"""Formula parsing, compilation, the numpy reference evaluator and tracing."""
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lawfit.opcodes import MAX_PARAMS, MAX_STACK, Op
from lawfit.formula import (
    Binary, Call, Num, Sym, TraceError, Unary, compile_law, parse, trace, trace_checked,
)

HEADER = Path(__file__).resolve().parents[2] / "cpp" / "lawfit" / "opcodes.hpp"


def ops_of(program):
    return [Op(code) for code in program.code[:, 0]]


def finite_difference(program, p, x, h=1e-6):
    p = np.asarray(p, dtype=float)
    columns = []
    for j in range(p.size):
        step = h * max(1.0, abs(p[j]))
        up, down = p.copy(), p.copy()
        up[j] += step
        down[j] -= step
        columns.append((program.evaluate(up, x)[0] - program.evaluate(down, x)[0]) / (2 * step))
    return np.stack(columns, axis=1)


# ---------------------------------------------------------------- opcodes


def test_opcode_numbers_match_cpp_header():
    text = HEADER.read_text()
    body = re.search(r"enum class Op[^{]*\{(.*?)\};", text, re.S).group(1)
    body = re.sub(r"//[^\n]*", "", body)
    cpp = {name: int(value) for name, value in re.findall(r"(\w+)\s*=\s*(\d+)", body)}
    assert cpp == {op.name: op.value for op in Op}
    assert int(re.search(r"kMaxParams\s*=\s*(\d+)", text).group(1)) == MAX_PARAMS
    assert int(re.search(r"kMaxStack\s*=\s*(\d+)", text).group(1)) == MAX_STACK


# ---------------------------------------------------------------- parsing

x, y, a, b, c = (Sym(n) for n in "xyabc")


@pytest.mark.parametrize("text, tree", [
    ("-x**2", Unary("-", Binary("**", x, Num(2)))),
    ("2**3**2", Binary("**", Num(2), Binary("**", Num(3), Num(2)))),
    ("x^-a", Binary("**", x, Unary("-", a))),
    ("a - b - c", Binary("-", Binary("-", a, b), c)),
    ("a / b * c", Binary("*", Binary("/", a, b), c)),
    ("a + b * c", Binary("+", a, Binary("*", b, c))),
    ("-a * b", Binary("*", Unary("-", a), b)),
    ("+a", a),
    ("atan(x) + min(a, b)", Binary("+", Call("arctan", (x,)), Call("minimum", (a, b)))),
    ("max(a, b)", Call("maximum", (a, b))),
    ("pow(x, 2)", Call("pow", (x, Num(2)))),
    ("1e-3 + .5 + 3. + 2E+2", Binary("+", Binary("+", Binary("+", Num(1e-3), Num(0.5)),
                                                   Num(3.0)), Num(200.0))),
])
def test_parse_trees(text, tree):
    assert parse(text) == tree


@pytest.mark.parametrize("text, value", [
    ("-2**2", -4.0), ("2**3**2", 512.0), ("2**-1", 0.5), ("-2**-2", -0.25),
    ("10 - 4 - 3", 3.0), ("2*3**2", 18.0), ("8/4/2", 1.0), ("2^3", 8.0), ("+-+2", -2.0),
    ("(1 + 2)*3", 9.0), ("pi", math.pi), ("sqrt(16) + abs(-3)", 7.0),
    ("min(1, 2) + max(1, 2)", 3.0), ("square(3) + pow(2, 5)", 41.0), ("log10(1000)", 3.0),
])
def test_constant_formulas_follow_python_precedence(text, value):
    program = compile_law(text, [])
    assert ops_of(program) == [Op.CONST]
    assert program.evaluate([], np.zeros((0, 3)))[0] == pytest.approx([value] * 3, rel=1e-15)


ROUND_TRIP = [
    "E + A/N**alpha + B/D**beta", "-x**2", "(-x)**2", "2**3**2", "(2**3)**2", "a - (b - c)",
    "a/(b*c)", "a*-b", "x**-a", "-(a + b)", "--a", "exp(-b*x) + minimum(a, x)",
    "sigmoid(k*(x - x0))*softplus(y)", "1e-300*x + 1.5e300", "0.1 + .2 + 3.", "pow(a, b)^2",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip(text):
    tree = parse(text)
    assert parse(tree.to_formula()) == tree
    assert parse(str(tree)) == tree


NAMES = st.sampled_from(["x", "y", "alpha", "N", "exp", "pi", "b_2"])
NUMBERS = st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(abs)
UNARY_FNS = st.sampled_from(["exp", "log", "sqrt", "sigmoid", "softplus", "arctan", "square"])
TREES = st.recursive(
    st.one_of(NUMBERS.map(Num), NAMES.map(Sym)),
    lambda sub: st.one_of(
        sub.map(lambda e: Unary("-", e)),
        st.builds(Binary, st.sampled_from(["+", "-", "*", "/", "**"]), sub, sub),
        st.builds(lambda fn, e: Call(fn, (e,)), UNARY_FNS, sub),
        st.builds(lambda fn, e, f: Call(fn, (e, f)), st.sampled_from(["minimum", "pow"]), sub, sub),
    ),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(TREES)
def test_round_trip_random_trees(tree):
    assert parse(tree.to_formula()) == tree


@pytest.mark.parametrize("text, position, fragment", [
    ("", 0, "empty formula"),
    ("   ", 0, "empty formula"),
    ("(a + b", 0, "unclosed '('"),
    ("exp(a", 3, "unclosed '('"),
    ("(a + b))", 7, "unexpected ')'"),
    ("foo(x)", 0, "unknown function 'foo'"),
    ("a + bar(x, 1)", 4, "unknown function 'bar'"),
    ("exp(a, b)", 0, "takes 1 argument, got 2"),
    ("x + pow(a)", 4, "takes 2 arguments, got 1"),
    ("a +", 3, "unexpected end of formula"),
    ("a * / b", 4, "unexpected '/'"),
    ("a b", 2, "unexpected 'b'"),
    ("2 3", 2, "unexpected '3'"),
    ("a $ b", 2, "unexpected character '$'"),
    ("x == 1", 2, "unexpected character '='"),
    ("f(a,)", 0, "unknown function"),
    ("exp(a,)", 6, "unexpected ')'"),
    ("()", 1, "unexpected ')'"),
])
def test_malformed_formulas_name_the_position(text, position, fragment):
    with pytest.raises(ValueError) as info:
        parse(text)
    message = str(info.value)
    assert fragment in message
    assert f"at position {position}" in message
    assert message.splitlines()[-1] == " " * (4 + position) + "^"


# ---------------------------------------------------------------- compiling


def test_chinchilla_hoists_logs():
    program = compile_law("E + A/N**alpha + B/D**beta", ["N", "D"])
    assert program.param_names == ["E", "A", "alpha", "B", "beta"]
    assert program.input_names == ["N", "D"]
    neg_logs = [Unary("-", Call("log", (Sym(name),))) for name in ("N", "D")]
    assert program.columns == [Sym("N"), Sym("D"), *neg_logs]
    ops = ops_of(program)
    assert Op.LOG not in ops and Op.POW not in ops and Op.DIV not in ops and Op.NEG not in ops
    assert program.code.dtype == np.int32 and program.code.shape == (len(ops), 2)
    assert program.code.flags.c_contiguous
    N, D = np.array([1e7, 1e9]), np.array([1e9, 1e11])
    matrix = program.input_matrix({"D": D, "N": N})
    assert matrix.flags.c_contiguous and matrix.shape == (4, 2)
    np.testing.assert_array_equal(matrix, [N, D, -np.log(N), -np.log(D)])


def test_identical_subtrees_share_a_column_and_unused_inputs_stay():
    program = compile_law("a*log(x) + b*exp(c*log(x))", ["x", "unused"])
    assert program.columns == [Sym("x"), Sym("unused"), Call("log", (Sym("x"),))]
    assert program.input_matrix(np.ones((2, 3))).shape == (3, 3)


def test_whole_input_expression_becomes_one_column():
    program = compile_law("a + (x**2 + sin(y))/exp(x)", ["x", "y"])
    assert len(program.columns) == 3
    assert ops_of(program) == [Op.PARAM, Op.INPUT, Op.ADD]


@pytest.mark.parametrize("text, expected_ops", [
    ("(a + x)**2", [Op.PARAM, Op.INPUT, Op.ADD, Op.POWI]),
    ("square(a)", [Op.PARAM, Op.POWI]),
    ("pow(a, 3)", [Op.PARAM, Op.POWI]),
    ("(a + x)**-2", [Op.PARAM, Op.INPUT, Op.ADD, Op.POWI]),
    ("(a + x)**1", [Op.PARAM, Op.INPUT, Op.ADD]),
    ("(a + x)**0", [Op.CONST]),
    ("a**0.5", [Op.PARAM, Op.CONST, Op.POW]),
    ("a**65", [Op.PARAM, Op.CONST, Op.POW]),
    ("a**x", [Op.PARAM, Op.INPUT, Op.POW]),
    ("x**a", [Op.PARAM, Op.INPUT, Op.MUL, Op.EXP]),
    ("2**a", [Op.PARAM, Op.CONST, Op.MUL, Op.EXP]),
    ("a**b", [Op.PARAM, Op.PARAM, Op.LOG, Op.MUL, Op.EXP]),
    ("a*(2*3 + log(1))", [Op.PARAM, Op.CONST, Op.MUL]),
    ("-a", [Op.PARAM, Op.NEG]),
])
def test_power_rewrites_and_folding(text, expected_ops):
    assert ops_of(compile_law(text, ["x"])) == expected_ops


def test_powi_argument_and_constants():
    program = compile_law("(a + x)**-3 * 2.5 + 2.5", ["x"])
    assert [int(arg) for op, arg in program.code if op == Op.POWI] == [-3]
    assert program.consts.tolist() == [2.5]


def test_parameter_order_and_declared_parameters():
    assert compile_law("c*x + a*exp(b)", ["x"]).param_names == ["c", "a", "b"]
    program = compile_law("c*x + a", ["x"], params=["a", "b", "c"])
    value, grad = program.evaluate([1.0, 2.0, 3.0], np.array([1.0, 2.0]))
    np.testing.assert_allclose(value, [4.0, 7.0])
    np.testing.assert_array_equal(grad, [[1, 0, 1], [1, 0, 2]])


def test_pi_is_a_constant_unless_listed():
    assert compile_law("pi*a", []).param_names == ["a"]
    program = compile_law("pi*a", [], params=["a", "pi"])
    assert program.evaluate([2.0, 3.0], np.zeros((0, 1)))[0] == [6.0]


@pytest.mark.parametrize("inputs, params, fragment", [
    (["x"], ["a"], "unknown symbol 'b'"),
    (["x", "x"], None, "duplicate name 'x'"),
    (["x"], ["a", "b", "a"], "duplicate name 'a'"),
    (["x"], ["x", "a", "b"], "duplicate name 'x'"),
])
def test_name_errors(inputs, params, fragment):
    with pytest.raises(ValueError, match=fragment):
        compile_law("a*x + b", inputs, params)


def test_too_many_parameters():
    compile_law(" + ".join(f"p{i}" for i in range(MAX_PARAMS)), [])
    with pytest.raises(ValueError, match="at most 16 parameters"):
        compile_law(" + ".join(f"p{i}" for i in range(MAX_PARAMS + 1)), [])


def test_stack_depth_is_exact_and_limited():
    def nested(depth):
        return "a + (" * depth + "a" + ")" * depth

    assert compile_law("a + b*c", []).max_stack == 3
    assert compile_law(nested(MAX_STACK - 1), []).max_stack == MAX_STACK
    with pytest.raises(ValueError, match="stack"):
        compile_law(nested(MAX_STACK), [])


def test_input_matrix_forms_and_errors():
    program = compile_law("a*x + b*log(y)", ["x", "y"])
    xs, ys = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    expected = [xs, ys, np.log(ys)]
    np.testing.assert_array_equal(program.input_matrix(np.vstack([xs, ys])), expected)
    np.testing.assert_array_equal(program.input_matrix({"x": xs, "y": ys, "z": 0}), expected)
    assert program.input_matrix(np.zeros((2, 0))).shape == (3, 0)
    with pytest.raises(ValueError, match="2 input row"):
        program.input_matrix(xs)
    with pytest.raises(ValueError, match="2 input row"):
        program.input_matrix(np.ones((3, 2)))
    with pytest.raises(ValueError, match="different lengths"):
        program.input_matrix({"x": xs, "y": ys[:1]})
    with pytest.raises(ValueError, match="missing input 'y'"):
        program.input_matrix({"x": xs})
    one = compile_law("a*x", ["x"])
    np.testing.assert_array_equal(one.input_matrix([1.0, 2.0]), [[1.0, 2.0]])
    with pytest.raises(ValueError, match="parameters"):
        one.evaluate([1.0, 2.0], xs)


def test_repr_and_describe():
    program = compile_law("a*exp(-b*x)", ["x"])
    assert "a*exp(-b*x)" in repr(program)
    assert "PARAM" in program.describe() and "EXP" in program.describe()


# ---------------------------------------------------------------- reference evaluator

X1 = np.linspace(0.5, 4.0, 9)
X2 = np.vstack([np.geomspace(1e6, 1e9, 9), np.geomspace(1e9, 1e12, 9)[::-1]])

LAWS = [
    ("a*x**-b + c", "x", lambda x, a, b, c: a * x**-b + c, [2.0, 0.5, 1.0], X1),
    ("E + A/N**alpha + B/D**beta", "N D",
     lambda N, D, E, A, al, B, be: E + A / N**al + B / D**be, [1.7, 406.0, 0.34, 411.0, 0.28], X2),
    ("a*exp(-b*x) + c", "x", lambda x, a, b, c: a * np.exp(-b * x) + c, [3.0, 0.7, 0.2], X1),
    ("a*exp(-(x - mu)**2/(2*sigma**2))", "x",
     lambda x, a, mu, s: a * np.exp(-(x - mu) ** 2 / (2 * s**2)), [1.5, 2.0, 0.6], X1),
    ("L/(1 + exp(-k*(x - x0)))", "x", lambda x, L, k, x0: L / (1 + np.exp(-k * (x - x0))),
     [2.0, 1.3, 2.2], X1),
    ("a*sigmoid(k*(x - x0)) + c", "x",
     lambda x, a, k, x0, c: a / (1 + np.exp(-k * (x - x0))) + c, [2.0, 1.3, 2.2, 0.1], X1),
    ("a*softplus(k*(x - x0))", "x",
     lambda x, a, k, x0: a * np.logaddexp(0, k * (x - x0)), [0.5, 300.0, 2.0], X1),
    ("(b1 + b2*x + b3*x**2 + b4*x**3)/(1 + b5*x + b6*x**2 + b7*x**3)", "x",
     lambda x, b1, b2, b3, b4, b5, b6, b7: (b1 + b2 * x + b3 * x**2 + b4 * x**3)
     / (1 + b5 * x + b6 * x**2 + b7 * x**3), [1.3, 1.5, 0.6, 0.07, 0.96, 0.4, 0.05], X1),
    ("b1*(1 - exp(-b2*x))", "x", lambda x, b1, b2: b1 * (1 - np.exp(-b2 * x)), [240.0, 5e-4], X1),
    ("b1/(1 + exp(b2 - b3*x))", "x", lambda x, b1, b2, b3: b1 / (1 + np.exp(b2 - b3 * x)),
     [72.0, 2.6, 0.07], X1),
    ("exp(-b1*x)/(b2 + b3*x)", "x", lambda x, b1, b2, b3: np.exp(-b1 * x) / (b2 + b3 * x),
     [0.19, 0.006, 0.01], X1),
    ("a*log10(x) + b*log1p(x) + c*expm1(x/10)", "x",
     lambda x, a, b, c: a * np.log10(x) + b * np.log1p(x) + c * np.expm1(x / 10),
     [1.0, 2.0, 3.0], X1),
    ("a*sin(b*x) + c*cos(b*x) + d*tan(x/10 + d)", "x",
     lambda x, a, b, c, d: a * np.sin(b * x) + c * np.cos(b * x) + d * np.tan(x / 10 + d),
     [1.0, 2.0, 0.5, 0.3], X1),
    ("arctan(a*x) + tanh(b*x) + atan(a)", "x",
     lambda x, a, b: np.arctan(a * x) + np.tanh(b * x) + np.arctan(a), [0.7, 0.4], X1),
    ("a*sqrt(x) + abs(b - x) + sqrt(a*x)", "x",
     lambda x, a, b: a * np.sqrt(x) + np.abs(b - x) + np.sqrt(a * x), [1.5, 2.25], X1),
    ("minimum(a*x, b) + maximum(x, c) + min(a, c)", "x",
     lambda x, a, b, c: np.minimum(a * x, b) + np.maximum(x, c) + min(a, c), [1.0, 2.0, 3.0], X1),
    ("a*(x + y)**b + c*x*y + d*log(x/y)", "x y",
     lambda x, y, a, b, c, d: a * (x + y) ** b + c * x * y + d * np.log(x / y),
     [0.5, 0.3, 1e-20, 2.0], X2),
    ("2**a*x + (a*x)**b + (a*x)**2.5 + (a + x)**-2 + square(b) + pi*a", "x",
     lambda x, a, b: 2**a * x + (a * x) ** b + (a * x) ** 2.5 + (a + x) ** -2.0 + b**2 + np.pi * a,
     [1.2, 0.8], X1),
    ("a**70 + pow(b, x)", "x", lambda x, a, b: a**70 + b**x, [-1.01, 1.5], X1),
]
LAW_IDS = [law[0] for law in LAWS]


@pytest.mark.parametrize("text, inputs, func, p, xdata", LAWS, ids=LAW_IDS)
def test_values_match_numpy(text, inputs, func, p, xdata):
    program = compile_law(text, inputs.split())
    value, grad = program.evaluate(p, xdata)
    rows = xdata if xdata.ndim == 2 else [xdata]
    np.testing.assert_allclose(value, func(*rows, *p), rtol=1e-12)
    assert grad.shape == (xdata.shape[-1], len(p))


@pytest.mark.parametrize("text, inputs, func, p, xdata", LAWS, ids=LAW_IDS)
def test_gradients_match_finite_differences(text, inputs, func, p, xdata):
    program = compile_law(text, inputs.split())
    grad = program.evaluate(p, xdata)[1]
    fd = finite_difference(program, p, xdata)
    for j in range(len(p)):  # parameters of very different scales: compare per column
        atol = 1e-8 * np.abs(fd[:, j]).max()
        np.testing.assert_allclose(grad[:, j], fd[:, j], rtol=1e-6, atol=atol)


def test_operation_edge_semantics():
    def at(text, p):
        return compile_law(text, []).evaluate(p, np.zeros((0, 1)))

    assert at("abs(a)", [0.0])[1].tolist() == [[0.0]]
    assert at("minimum(a, b)", [1.0, 1.0])[1].tolist() == [[1.0, 0.0]]
    assert at("maximum(a, b)", [1.0, 1.0])[1].tolist() == [[1.0, 0.0]]
    assert at("maximum(a, b)", [1.0, 2.0])[1].tolist() == [[0.0, 1.0]]
    value, grad = at("softplus(a)", [1000.0])
    assert value[0] == 1000.0 and grad[0, 0] == 1.0
    value, grad = at("softplus(a) + sigmoid(a)", [-1000.0])
    assert value[0] == 0.0 and grad[0, 0] == 0.0
    value, grad = at("a**70", [-1.1])  # POW with a constant exponent: no log(negative)
    assert value[0] == pytest.approx(1.1**70) and grad[0, 0] == pytest.approx(-70 * 1.1**69)
    value, grad = at("(a + 1)**-2", [-1.0])
    assert value[0] == np.inf
    # A parameter exponent goes through exp(b*log(a)): a negative base is NaN, as in numpy.
    assert np.isnan(at("a**b", [-2.0, 2.0])[0][0])


def leaf(name):
    return st.just((name, lambda v: v[name]))


CONSTANTS = st.floats(0.1, 1.5).map(lambda v: round(v, 3)).map(lambda v: (repr(v), lambda _: v))
UNARY = [
    ("exp(tanh({}))", lambda f: np.exp(np.tanh(f))),
    ("log(1 + ({})**2)", lambda f: np.log(1 + f**2)),
    ("sqrt(1 + ({})**2)", lambda f: np.sqrt(1 + f**2)),
    ("sin({})", np.sin), ("cos({})", np.cos), ("tan(tanh({}))", lambda f: np.tan(np.tanh(f))),
    ("arctan({})", np.arctan), ("tanh({})", np.tanh),
    ("sigmoid({})", lambda f: 1 / (1 + np.exp(-f))),
    ("softplus({})", lambda f: np.logaddexp(0, f)),
    ("log10(2 + sin({}))", lambda f: np.log10(2 + np.sin(f))),
    ("log1p(({})**2)", lambda f: np.log1p(f**2)),
    ("expm1(tanh({}))", lambda f: np.expm1(np.tanh(f))),
    ("lgamma(1 + ({})**2)", lambda f: np.vectorize(math.lgamma, otypes=[float])(1 + f**2)),
    ("-({})", np.negative), ("tanh({})**3", lambda f: np.tanh(f) ** 3),
    ("(1 + ({})**2)**-1", lambda f: 1 / (1 + f**2)), ("square({})", np.square),
]
BINARY = [
    ("({}) + ({})", np.add), ("({}) - ({})", np.subtract), ("({}) * ({})", np.multiply),
    ("({}) / (1 + ({})**2)", lambda f, g: f / (1 + g**2)),
    ("(1 + ({})**2)**tanh({})", lambda f, g: (1 + f**2) ** np.tanh(g)),
    ("pow(1 + ({})**2, sigmoid({}))", lambda f, g: (1 + f**2) ** (1 / (1 + np.exp(-g)))),
]


def _combine(children):
    def unary(rule, child):
        (template, op), (text, f) = rule, child
        return template.format(text), lambda v: op(f(v))

    def binary(rule, left, right):
        (template, op), (t1, f), (t2, g) = rule, left, right
        return template.format(t1, t2), lambda v: op(f(v), g(v))

    return st.one_of(
        st.builds(unary, st.sampled_from(UNARY), children),
        st.builds(binary, st.sampled_from(BINARY), children, children),
    )


RANDOM_LAWS = st.recursive(
    st.one_of(*map(leaf, ["x", "y", "a", "b", "c"]), CONSTANTS), _combine, max_leaves=10)
PARAMS = st.lists(st.floats(-1.5, 1.5), min_size=3, max_size=3)
XY = {"x": np.linspace(0.5, 2.0, 7), "y": np.linspace(2.0, 0.7, 7)}


@settings(max_examples=150, deadline=None, derandomize=True)
@given(RANDOM_LAWS, PARAMS)
def test_random_laws_values_and_gradients(law, p):
    text, func = law
    program = compile_law(text, ["x", "y"], params=["a", "b", "c"])
    value, grad = program.evaluate(p, XY)
    expected = np.broadcast_to(func({**XY, **dict(zip("abc", p))}), value.shape)
    np.testing.assert_allclose(value, expected, rtol=1e-9, atol=1e-12)
    fd = finite_difference(program, p, XY, h=1e-5)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7 * (1 + np.abs(value).max()))


# ---------------------------------------------------------------- tracing


def two_inputs(x, a, b, c):
    return a * np.minimum(x[0], b) + abs(x[1] - c) ** 2 + x[0] ** b / x[1]


TRACEABLE = [
    (lambda x, a, b: a * np.exp(-b * x), [2.0, 0.5]),
    (lambda x, a, b, c: a * x**-b + c, [2.0, 0.5, 1.0]),
    (lambda x, a, b: np.e**a * np.pi + np.float64(2.0) * x + 1 / (a + x) - (2 - b), [0.3, 0.4]),
    (lambda x, a, b: np.sqrt(a * x) + np.square(b) + np.reciprocal(a + x) + np.fabs(-b),
     [1.5, -2.0]),
    (lambda x, a, b: np.fmin(x, a) + np.fmax(x, b) + np.maximum(a, 1.0), [1.0, 2.0]),
    (lambda x, a, b: np.float_power(x, a) + np.power(b, 2) + np.log10(x) * np.log(x) + +a,
     [1.5, 0.5]),
    (lambda x, a, b: np.tanh(a * x) + np.arctan(b) + np.sin(x) * np.cos(a) + np.tan(b), [0.5, 0.2]),
    (lambda x, a, b: np.log1p(a * x) + np.expm1(b) - -np.positive(a) + np.negative(b),
     [0.5, 0.2]),
    (lambda x, a, b: np.divide(a, x) + np.true_divide(b, 2) + np.subtract(a, np.add(b, 1)),
     [0.5, 0.2]),
    (lambda x, a: sum([a * x, a, np.array(2.0)]), [3.0]),
    (lambda x, a, b: np.where(x > 1, a, b), [1.0, 2.0]),
    (lambda x, a, b: np.clip(x, a, b), [1.0, 2.0]),
    (lambda x, a: 3.0, [1.0]),
]


@pytest.mark.parametrize("func, p", TRACEABLE)
def test_trace_matches_calling_the_function(func, p):
    program = trace(func, len(p))
    value = program.evaluate(p, X1)[0]
    np.testing.assert_allclose(value, np.broadcast_to(func(X1, *p), X1.shape), rtol=1e-12)
    assert trace_checked(func, X1, p) is not None


def test_trace_names_and_two_inputs():
    program = trace(lambda x, a, b: a * np.exp(-b * x))
    assert program.input_names == ["x"] and program.param_names == ["a", "b"]
    program = trace(two_inputs, x_ndim=2, n_inputs=3)
    assert program.input_names == ["x0", "x1", "x2"] and program.param_names == ["a", "b", "c"]
    data = np.vstack([X1, X1[::-1], X1])
    p = [1.5, 2.0, 0.3]
    np.testing.assert_allclose(program.evaluate(p, data)[0], two_inputs(data, *p), rtol=1e-12)
    assert trace(two_inputs, x_ndim=2).input_names == ["x0", "x1"]
    checked = trace_checked(two_inputs, data[:2], p)
    assert checked is not None and checked.input_names == ["x0", "x1"]


def test_trace_star_args_and_name_clashes():
    def poly(x, *p):
        return p[0] + p[1] * x + p[2] * x**2

    assert trace(poly, 3).param_names == ["p0", "p1", "p2"]
    with pytest.raises(TraceError, match="must be given"):
        trace(poly)
    assert trace(lambda t, x: x * t).input_names == ["x_"]

    def logistic(x, x0, k):
        return 1 / (1 + np.exp(-k * (x[0] - x0))) + x[1]

    program = trace_checked(logistic, np.vstack([X1, X1]), [1.0, 2.0])
    assert program.input_names == ["x_0", "x_1"] and program.param_names == ["x0", "k"]


def test_trace_checked_single_row_2d_and_large_data():
    x = X1[np.newaxis]
    program = trace_checked(lambda x, a: a * x, x, [2.0])
    assert program is not None and program.input_names == ["x0"]
    big = np.linspace(1, 10, 100_000)
    assert trace_checked(lambda x, a, b: a * np.log(x) + b, big, [1.0, 2.0]) is not None


def test_trace_of_law_with_hoisting():
    program = trace(lambda x, E, A, alpha: E + A / x**alpha)
    # A / x**alpha runs as A * exp(alpha * c) with the column c = -log(x).
    assert program.columns[1:] == [Unary("-", Call("log", (Sym("x"),)))]
    ops = [Op(op) for op, _ in program.code]
    assert Op.DIV not in ops and Op.NEG not in ops and Op.LOG not in ops


def branchy(x, a, b):
    if b > 0:
        return a * x
    return a


def math_exp(x, a, b):
    return a * math.exp(b)


UNTRACEABLE = [
    (branchy, "condition|comparison"),
    (math_exp, "Python number"),
    (lambda x, a, b: np.where(a, x, b), "of where.. depends on a parameter"),
    (lambda x, a, b: np.sum(a * x) + b, "numpy.sum"),
    (lambda x, a, b: np.cumsum(x) * a + b, "numpy.cumsum"),
    (lambda x, a, b: a * x[0] + b, "indexing"),
    (lambda x, a, b: a * np.ones(3) + b, "array of shape"),
    (lambda x, a, b: float(a) * x + b, "Python number"),
    (lambda x, a, b: a * x.shape[0] + b, "AttributeError"),
    (lambda x, a, b: [a * v for v in x], "iteration"),
    (lambda x, a, b: a * x + b * len(x), "len"),
    (lambda x, a, b: np.exp(a, out=np.empty(3)) * x, "not supported"),
    (lambda x, a, b: a * x + 1j * b, "complex"),
]


@pytest.mark.parametrize("func, fragment", UNTRACEABLE)
def test_untraceable_functions(func, fragment):
    with pytest.raises(TraceError, match=fragment):
        trace(func, 2)
    assert trace_checked(func, X1, [1.0, 2.0]) is None


def test_untraceable_two_input_uses():
    data = np.vstack([X1, X1])
    with pytest.raises(TraceError, match=r"x\[0\]"):
        trace(lambda x, a: a * x, x_ndim=2, n_inputs=2)
    with pytest.raises(TraceError, match="out of range"):
        trace(lambda x, a: a * x[2], x_ndim=2, n_inputs=2)
    with pytest.raises(TraceError, match="integer"):
        trace(lambda x, a: a * x[:, 0], x_ndim=2, n_inputs=2)
    assert trace_checked(lambda x, a: a * x[-1], data, [1.0]) is not None
    assert trace_checked(lambda x, a: a * x, data, [1.0]) is None


def test_trace_checked_rejects_disagreeing_functions():
    calls = []

    def stateful(x, a):
        calls.append(1)
        return a * x + len(calls)

    assert trace(stateful).param_names == ["a"]
    assert trace_checked(stateful, X1, [1.0]) is None
    assert trace_checked(lambda x, a: a * x, {"x": X1}, [1.0]) is None
    assert trace_checked(lambda x, a: a * x, X1, [1.0, 2.0]) is None
    assert trace_checked(lambda x, a: a * np.ones(3), X1, [1.0]) is None


def test_input_matrix_reuses_hoisted_columns_only_for_the_same_inputs():
    # Small inputs keep their hoisted columns (log x here) for the next call; an input
    # changed in place, or another one, is computed afresh.
    prog = compile_law("a*x**(-b) + c", inputs=["x"])
    assert prog.n_columns == 2
    x = np.linspace(1.0, 10.0, 40)
    first = prog.input_matrix(x).copy()
    assert prog._hoisted_memo[1] is None  # an input seen once is not copied
    np.testing.assert_array_equal(prog.input_matrix(x), first)
    assert prog._hoisted_memo[1] is not None  # seen twice in a row: kept
    np.testing.assert_array_equal(prog.input_matrix(x), first)  # from the memo
    assert prog.input_matrix(x.copy()).tobytes() == first.tobytes()  # the same bytes, another array
    x[3] = 5.5  # the same array, changed
    again = prog.input_matrix(x)
    assert again[1, 3] == np.log(5.5) and again[0, 3] == 5.5
    other = prog.input_matrix(np.full(40, 2.0))
    np.testing.assert_array_equal(other[1], np.log(np.full(40, 2.0)))


@pytest.mark.parametrize("law", [
    "a*x**(-b) + c",                       # log(x), written straight into its row
    "E + A/N**alpha + B/D**beta",          # -log(N), -log(D): a negation's last step
    "a*exp(-x/3) + b*sqrt(x + 1) + c*x**2.5",
    "a*where(greater(x, 2), log(x), x) + b",  # a call that is no ufunc: assigned
    "a*minimum(x, 3) + b*log1p(x)",
])
@pytest.mark.parametrize("points", [1, 40, 5000, 250_000])  # 250k: filled on threads
def test_hoisted_rows_equal_the_columns_values(law, points):
    # Each hoisted row is its column's value (the reference evaluator's, a temporary), bit for bit,
    # whether its last operation writes into the row or the value is assigned.
    from lawfit.formula import _evaluate_expr

    inputs = ["N", "D"] if "N" in law else ["x"]
    prog = compile_law(law, inputs=inputs)
    assert prog.n_columns > len(inputs)
    rng = np.random.default_rng(points)
    x = 10 ** rng.uniform(-1, 4, (len(inputs), points))
    x[0, 0] = 0.0  # log(0), 0**-b: no warning from the hoisted rows
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = prog.input_matrix(x)
    env = dict(zip(inputs, x))
    with np.errstate(all="ignore"):
        for k, column in enumerate(prog.columns[len(inputs):], start=len(inputs)):
            want = np.broadcast_to(_evaluate_expr(column, env), (points,))
            assert got[k].tobytes() == np.ascontiguousarray(want).tobytes(), column.to_formula()


def test_a_used_program_pickles_and_computes_the_same_rows():
    # The hoisted rows' writer is generated code cached on the program: left out of its pickle
    # (dask ships programs to workers) and generated again where the program is unpickled.
    import copy
    import pickle

    prog = compile_law("E + A/N**alpha + B/D**beta", inputs=["N", "D"])
    x = 10 ** np.random.default_rng(1).uniform(7, 12, (2, 40))
    first = prog.input_matrix(x).copy()
    for other in (pickle.loads(pickle.dumps(prog)), copy.deepcopy(prog)):
        assert other.input_matrix(x).tobytes() == first.tobytes()
