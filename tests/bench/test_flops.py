"""The per-point flop estimate of the compiled core (lawfit.bench.flops).

Expected counts are derived by hand from the rules in flops.py's docstring
(which follow cpp/lawfit/program.hpp and evaluator.hpp), shown next to each
assertion; transcendental costs enter through the module's named constants.
"""
from types import SimpleNamespace

import numpy as np
import pytest
from lawfit import compile_law
from lawfit.opcodes import BINARY_OPS, LEAF_OPS, Op
from lawfit.bench.flops import (
    EXP_FLOPS,
    FP64_PEAK,
    LIBM_FLOPS,
    LOG_FLOPS,
    LOSS_RHO_FLOPS,
    POW_FLOPS,
    achieved_flops,
    flops_per_point,
    fp64_peak,
)

POWER_LAW = "a*x**(-b)"
CHINCHILLA = "E + A/N**alpha + B/D**beta"
# Broken neural scaling law with two breaks (Caballero et al. 2023): 9 parameters.
BNSL2 = "a + b*x**(-c0) * (1 + (x/d1)**(1/f1))**(-c1*f1) * (1 + (x/d2)**(1/f2))**(-c2*f2)"


def accumulation_l2(m):
    """evaluator.hpp, loss l2, m parameters in the result's mask.

    Per point: r = f - y (1), wt *= mult (1), wr = wt*r (1), cost += wr*r (2) = 5;
    per j: g_j += wr*J_j (2), wg = wt*J_j (1); per pair k >= j: A_jk += wg*J_k (2).
    """
    return 5 + 3 * m + 2 * (m * (m + 1) // 2)


def raw(rows, n_params=1):
    """A hand-built program (flops_per_point reads only .code)."""
    return SimpleNamespace(code=np.array(rows, dtype=np.int32).reshape(-1, 2), n_params=n_params)


def mask_size(program):
    """Parameters in the result's mask, read off the log-residual term (1/f, log f, one product per row)."""
    return flops_per_point(program, log_residual=True) - flops_per_point(program) - 1 - LOG_FLOPS


def test_accumulation_helper():
    assert [accumulation_l2(m) for m in (0, 1, 2, 5)] == [5, 10, 17, 50]


def test_a_times_x_by_hand():
    p = compile_law("a*x", inputs=["x"])
    assert [Op(c) for c in p.code[:, 0]] == [Op.PARAM, Op.INPUT, Op.MUL]
    # PARAM a, INPUT x: 0.  MUL: value a*b 1; row a only in the left operand: da*g 1.
    # Accumulation, one parameter: 5 + 3 + 2 = 10.  Total 2 + 10 = 12.
    assert flops_per_point(p) == 1 + 1 + 10 == 12


@pytest.mark.parametrize("formula, params, evaluation", [
    # ADD: a + sign*b (2); row b only in the right operand: g = sign*h (1).
    ("a + b", 2, 2 + 1),
    # MUL (b*x): 1 + row b 1 = 2; SUB: 2 + row b from the right 1 = 3.
    ("a - b*x", 2, 2 + 3),
    # MUL (a*a): 1 + row a in both, da*g + db*h (3) = 4; MUL by x: 1 + 1 = 2.
    ("a*a*x", 1, 4 + 2),
    # MUL (a*x): 2; EXP: EXP_FLOPS + 1 row; MUL a * exp(..): 1 + row a in both 3.
    ("a*exp(a*x)", 1, 2 + (EXP_FLOPS + 1) + 4),
    # ADD (x + b): 2 + 1; DIV a/(x+b): rb, q, -q*rb (3) + row a 1 + row b 1.
    ("a/(x+b)", 2, 3 + 5),
    # MUL 2; POWI 3: a^2 by 2 products, a^3 1, d = 3*a^2 1; row 1.
    ("(a*x)**3", 1, 2 + (2 + 1 + 1 + 1)),
    # MUL 2; POWI -2: a*a 2, v = 1/a^2 1, d = -2*v/a 2; row 1.
    ("(a*x)**-2", 1, 2 + (2 + 1 + 2 + 1)),
    # MIN: selects only; row a 1.
    ("min(a, x)", 1, 1),
])
def test_rules_by_hand(formula, params, evaluation):
    p = compile_law(formula, inputs=["x"])
    assert p.n_params == params
    assert flops_per_point(p) == evaluation + accumulation_l2(params)


def test_every_unary_op_is_counted():
    # PARAM 0, OP: the op's value cost + 1 row; none may be unknown.
    unary = [op for op in Op if op not in LEAF_OPS and op not in BINARY_OPS and op is not Op.N_OPS]
    assert len(unary) == 17
    for op in unary:
        n = flops_per_point(raw([[Op.PARAM, 0], [op, 2 if op is Op.POWI else 0]]))
        assert n >= accumulation_l2(1) + 1, op
    # Spot checks: NEG is a sign flip (0) + row 1; LOG: d = 1/a 1 + math::log + row 1.
    assert flops_per_point(raw([[Op.PARAM, 0], [Op.NEG, 0]])) == 1 + accumulation_l2(1)
    assert flops_per_point(raw([[Op.PARAM, 0], [Op.LOG, 0]])) == 1 + LOG_FLOPS + 1 + accumulation_l2(1)
    # SIN: d = cos(a) and sin(a), two library calls, + row 1.
    assert flops_per_point(raw([[Op.PARAM, 0], [Op.SIN, 0]])) == 2 * LIBM_FLOPS + 1 + accumulation_l2(1)


def test_pow_log_term_only_when_the_exponent_has_a_gradient():
    # a ** x: pow (POW_FLOPS), da = b*pow(a, b - 1) (POW_FLOPS + 2); row a 1.
    base = flops_per_point(raw([[Op.PARAM, 0], [Op.INPUT, 0], [Op.POW, 0]]))
    assert base == 2 * POW_FLOPS + 2 + 1 + accumulation_l2(1)
    # x ** a additionally computes db = v*std::log(a): LIBM_FLOPS + 1.
    exponent = flops_per_point(raw([[Op.INPUT, 0], [Op.PARAM, 0], [Op.POW, 0]]))
    assert exponent == base + LIBM_FLOPS + 1


def test_parameter_free_subtree_is_hoisted_and_cheap():
    plain = compile_law("a*x", inputs=["x"])
    p = compile_law("a*x + log(x)", inputs=["x"])
    # log(x) became an input column: the program gains INPUT and ADD, no LOG.
    assert p.n_columns == 2 and Op.LOG not in [Op(c) for c in p.code[:, 0]]
    # ADD: value 2, no gradient row on the right: +2 over a*x.
    assert flops_per_point(p) == flops_per_point(plain) + 2


def test_only_parameters_the_result_depends_on_count():
    p = compile_law("a*x", inputs=["x"], params=["a", "b"])
    assert p.n_params == 2
    assert mask_size(p) == 1
    assert flops_per_point(p) == flops_per_point(compile_law("a*x", inputs=["x"]))


def test_power_law_chinchilla_and_nine_parameters():
    power = compile_law(POWER_LAW, inputs=["x"])
    chin = compile_law(CHINCHILLA, inputs=["N", "D"])
    bnsl = compile_law(BNSL2, inputs=["x"])
    assert (power.n_params, chin.n_params, bnsl.n_params) == (2, 5, 9)
    assert (mask_size(power), mask_size(chin), mask_size(bnsl)) == (2, 5, 9)
    # a*x**(-b) compiles to PARAM a, PARAM b, NEG, INPUT log(x), MUL, EXP, MUL:
    # NEG 0 + row b 1; MUL by log(x) 1 + 1; EXP + row b; MUL a*exp: 1 + row a 1 + row b 1.
    assert flops_per_point(power) == 1 + 2 + (EXP_FLOPS + 1) + 3 + accumulation_l2(2)
    # Chinchilla, per term A*exp(alpha * -log N): MUL 1 + 1, EXP + 1 row, MUL 1 + 2 rows,
    # ADD to the running sum 2 + 2 rows from the right; two terms; then 5 parameters.
    term = 2 + (EXP_FLOPS + 1) + 3 + 4
    assert flops_per_point(chin) == 2 * term + accumulation_l2(5)
    assert flops_per_point(power) < flops_per_point(chin) < flops_per_point(bnsl)


@pytest.mark.parametrize("loss", sorted(LOSS_RHO_FLOPS))
def test_robust_losses_count_more(loss):
    for formula, inputs in ((POWER_LAW, ["x"]), (CHINCHILLA, ["N", "D"])):
        p = compile_law(formula, inputs=inputs)
        # Per point, robust: r 1, z = w*r*r/d2 3, h = r1 + 2*r2*z 3, irls_floor*r1 1,
        # cost += m*d2*r0 3, wr = m*r1*w*r 3, wt = m*h*w 2 = 16, plus rho; l2's 5 replaced.
        # The per-parameter terms are the same.
        assert flops_per_point(p, loss) == flops_per_point(p) - 5 + 16 + LOSS_RHO_FLOPS[loss]
        assert flops_per_point(p, loss) > flops_per_point(p)


def test_loss_names():
    p = compile_law(POWER_LAW, inputs=["x"])
    assert flops_per_point(p, "linear") == flops_per_point(p, "l2")
    with pytest.raises(ValueError, match="unknown loss"):
        flops_per_point(p, "l1")


def test_log_residual_adds_its_terms():
    chin = compile_law(CHINCHILLA, inputs=["N", "D"])
    # inv_f = 1/f 1, f = math::log(f), then each of the 5 gradient rows times inv_f.
    assert flops_per_point(chin, log_residual=True) == flops_per_point(chin) + 1 + LOG_FLOPS + 5


def test_malformed_programs_are_refused():
    with pytest.raises(ValueError, match="underflow"):
        flops_per_point(raw([[Op.PARAM, 0], [Op.ADD, 0]]))
    with pytest.raises(ValueError, match="underflow"):
        flops_per_point(raw([[Op.EXP, 0]]))
    with pytest.raises(ValueError, match="left on the stack"):
        flops_per_point(raw([[Op.PARAM, 0], [Op.PARAM, 0]]))


@pytest.mark.parametrize("name, key", [
    ("NVIDIA H100 80GB HBM3", "h100"),       # the SXM5 card
    ("NVIDIA H100", "h100"),
    ("NVIDIA H100 PCIe", "h100 pcie"),
    ("nvidia h100 pcie", "h100 pcie"),
    ("NVIDIA H100 NVL", "h100 nvl"),
    ("NVIDIA H200", "h200"),
    ("NVIDIA H200 NVL", "h200 nvl"),
    ("NVIDIA GH200 480GB", "gh200"),
    ("NVIDIA A100-SXM4-80GB", "a100"),
    ("NVIDIA A100-PCIE-40GB", "a100"),
])
def test_fp64_peak_resolves_names(name, key):
    assert fp64_peak(name) == FP64_PEAK[key]


def test_fp64_peak_values_and_unknown_devices():
    assert fp64_peak("NVIDIA H100 80GB HBM3") == pytest.approx(33.5e12)
    assert fp64_peak("NVIDIA H100 PCIe") == pytest.approx(25.6e12)
    assert fp64_peak("NVIDIA H200") == pytest.approx(33.5e12)
    assert fp64_peak("NVIDIA A100-SXM4-80GB") == pytest.approx(9.7e12)
    assert fp64_peak("NVIDIA H100 PCIe") < fp64_peak("NVIDIA H100 80GB HBM3")
    for unknown in ("Tesla V100-SXM2-16GB", "AMD Instinct MI250X", "", "cpu", "NVIDIA H1000"):
        assert fp64_peak(unknown) is None


def test_achieved_flops_arithmetic():
    p = compile_law("a*x", inputs=["x"])  # 12 flops per point (test_a_times_x_by_hand)
    # 12 flops x 40 points x 1000 evaluations / 2 s = 240,000 FLOP/s.
    assert achieved_flops(p, 1000, 40, 2.0) == pytest.approx(240_000.0)
    chin = compile_law(CHINCHILLA, inputs=["N", "D"])
    got = achieved_flops(chin, 3.5e7, 40, 0.25, loss="huber")
    assert got == pytest.approx(flops_per_point(chin, "huber") * 40 * 3.5e7 / 0.25)
    with pytest.raises(ValueError, match="positive"):
        achieved_flops(p, 1000, 40, 0.0)
