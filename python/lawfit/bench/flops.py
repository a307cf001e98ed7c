"""Floating-point operation counts of the compiled core, for achieved FLOP/s.

This is an *estimate*, used by the GPU benchmark to report achieved FLOP/s
(and the share of the device's float64 peak) next to fits per second.  It is
computed statically from a compiled law :class:`~lawfit.formula.Program`: the
per-slot parameter masks of the interpreter are simulated over the postfix
code exactly as ``cpp/lawfit/program.hpp`` builds them (``PARAM j`` gives
``{j}``, a binary operation the union, a unary one keeps its operand's mask),
and every arithmetic operation written in ``program.hpp`` (value and
forward-mode gradient rows) and ``evaluator.hpp`` (residual, cost, g and the
upper triangle of A) is counted once per data point.

Conventions
-----------
* One flop per double-precision ``+``, ``-``, ``*`` and ``/``; a division and
  a square root count as one flop each, as is conventional, although both
  take many cycles.  The core is built with multiply-add contraction off
  (``-ffp-contract=off`` on the CPU, ``--fmad=false`` under nvcc), so every
  ``*`` and ``+`` in the source is a separate instruction and a separate flop.
* Negation, ``fabs``, comparisons, selects (``?:``, min/max, clamps), copies,
  loads/stores, integer and bit operations are not counted.  A multiplication
  by a *run-time* sign (``a + sign * b`` in ADD/SUB) is executed, so it is.
* ``lawfit``'s own ``math::exp`` and ``math::log`` (``cpp/lawfit/math.hpp``)
  are counted operation by operation: :data:`EXP_FLOPS` and
  :data:`LOG_FLOPS` (derivations below).  C library functions
  (``std::pow``, ``std::log``, ``std::log1p``, ``std::expm1``, ``std::sin``,
  ``std::cos``, ``std::tan``, ``std::atan``, ``std::tanh``) count a fixed
  :data:`LIBM_FLOPS` each, ``std::pow`` :data:`POW_FLOPS`: typical sizes of a
  reduced-argument polynomial plus reconstruction, not measured.
* Data-dependent branches count the costlier side that a GPU warp with any
  lane on it executes: the Huber loss is counted in its ``z > 1`` branch.

Not counted
-----------
* The Levenberg-Marquardt linear algebra (damping, Cholesky solve, step
  update, convergence tests): O(P^3) per iteration, not per point, and
  negligible for laws of a few parameters over tens of points or more.
* The per-evaluation lane sums of ``finish_sums`` (O(B P^2) per problem and
  evaluation, not per point), bootstrap multiplicities (integer RNG), the
  input columns hoisted by the compiler (computed once in numpy, before the
  solve) and the padding lanes of a short last CPU block.

The count is per data point *per model evaluation* (value + gradient +
accumulation of cost, g and A); multiply by points per problem and by the
total number of evaluations (over all problems) for the work of a run, as
:func:`achieved_flops` does.

Peaks
-----
:data:`FP64_PEAK` lists vector (non-tensor-core) float64 peaks, which is what
this code can use.  Vendors count a fused multiply-add as two flops; with
contraction off each FMA-capable pair issues as two instructions, so the
ceiling this code can reach is about half the listed peak.
"""
from __future__ import annotations

import re

from ..opcodes import BINARY_OPS, LEAF_OPS, Op

__all__ = [
    "EXP_FLOPS",
    "FP64_PEAK",
    "LIBM_FLOPS",
    "LOG_FLOPS",
    "LOSS_RHO_FLOPS",
    "POW_FLOPS",
    "achieved_flops",
    "flops_per_point",
    "fp64_peak",
]

#: ``math::exp``: t = x*log2e + magic (2), kd = t - magic (1), hi = x - kd*ln2hi
#: (2), lo = kd*ln2lo (1), r = hi - lo (1), r^2, r^4, r^8 (3), q by Estrin's
#: scheme (5 pairs c + c'*r: 10; r/6: 1; 5 pair combinations: 10; + 1/2: 1),
#: p = 1 + (hi - (lo - r^2*q)) (4), (p*s1)*s2 (2).  The clamp, the rounding
#: to an integer and the exponent-field arithmetic are not floating point.
EXP_FLOPS = 38
#: ``math::log``: subnormal scaling x*2^54 (1, computed branch-free),
#: exponent as a double (1) minus the bias (1), m = 0.5*m and e = e + 1 for
#: m > sqrt 2 (2), f = m - 1 (1), s = f/(2 + f) (2), z = s*s (1), R by
#: Estrin's scheme (z^2, z^4, z^8: 3; 5 pairs: 10; 5 combinations: 10; times
#: z: 1), hfsq = 0.5*f*f (2), result
#: e*ln2hi - ((hfsq - (s*(hfsq + R) + e*ln2lo)) - f) (8).
LOG_FLOPS = 43
#: A C library elementary function (std::log, log1p, expm1, sin, cos, tan,
#: atan, tanh): argument reduction, a polynomial of degree ~10 and the
#: reconstruction.  A stated constant, not a measurement.
LIBM_FLOPS = 30
#: std::pow: an extra-precise log and exp of about twice a plain function's work.
POW_FLOPS = 40

# Value flops of the unary operations (the gradient rows add 1 each).
_UNARY_VALUE = {
    Op.NEG: 0,                                   # -a; d = -1
    Op.EXP: EXP_FLOPS,                           # d = a (copy)
    Op.LOG: 1 + LOG_FLOPS,                       # d = 1/a
    Op.LOG10: 2 + LOG_FLOPS + 1,                 # d = 1/(a*ln10); log(a)*log10(e)
    Op.LOG1P: 2 + LIBM_FLOPS,                    # d = 1/(1 + a); std::log1p
    Op.EXPM1: EXP_FLOPS + LIBM_FLOPS,            # d = math::exp(a); std::expm1
    Op.SQRT: 1 + 1,                              # std::sqrt; d = 0.5/a
    Op.ABS: 0,                                   # sign select and fabs
    Op.SIN: 2 * LIBM_FLOPS,                      # d = cos(a); sin(a)
    Op.COS: 2 * LIBM_FLOPS,                      # d = -sin(a); cos(a)
    Op.TAN: LIBM_FLOPS + 2,                      # tan; d = 1 + a*a
    Op.ARCTAN: 3 + LIBM_FLOPS,                   # d = 1/(1 + a*a); atan
    Op.TANH: LIBM_FLOPS + 2,                     # tanh; d = 1 - a*a
    Op.SIGMOID: (EXP_FLOPS + 2) + 2,             # exp(-|a|), (1 or e)/(1 + e); d = a*(1 - a)
    Op.SOFTPLUS: (EXP_FLOPS + 2) + (EXP_FLOPS + LIBM_FLOPS + 1),  # d = sigmoid; max(x,0) + log1p(exp(-|x|))
    # math::lgamma_digamma: 10 shift steps (4 each), 1/z and r^2, two 8-term series (15 each),
    # log z and log(prod), then 7 + 4 to assemble log Gamma and digamma.
    Op.LGAMMA: 40 + 2 + 30 + 2 * LOG_FLOPS + 11,
}

#: Flops of ``loss_rho`` (cpp/lawfit/loss.hpp) per point, robust losses.
LOSS_RHO_FLOPS = {
    "huber": 6,                 # z > 1: sqrt, 2s - 1, 1/s, -0.5/(z*s)
    "soft_l1": 7,               # t = 1 + z, sqrt, 2(s - 1), 1/s, -0.5/(t*s)
    "cauchy": 4 + LIBM_FLOPS,   # t = 1 + z, log1p, 1/t, -1/(t*t)
    "arctan": 6 + LIBM_FLOPS,   # t = 1 + z*z, atan, 1/t, -2z/(t*t)
}
# Per point, outside the per-parameter loops (evaluator.hpp accumulate_block):
# l2: r = f - y (1), wt *= mult (1), wr = wt*r (1), cost += wr*r (2).
_L2_POINT = 5
# robust: r = f - y (1), z = w*r*r/d2 (3), h = r1 + 2*r2*z (3), irls_floor*r1
# (1), cost += m*d2*r0 (3), wr = m*r1*w*r (3), wt = m*h*w (2); plus rho.
_ROBUST_POINT = 16
_LOSS_ALIASES = {"linear": "l2"}


def _bits(mask: int) -> int:
    """Parameters in a mask (int.bit_count needs Python 3.10; lawfit supports 3.9)."""
    return bin(mask).count("1")


def _powi_value(n_signed: int) -> int:
    n = abs(n_signed)
    mults = max(n - 1, 0) + (1 if n > 0 else 0)  # a^(n-1) by repeated products, then a^n
    if n_signed >= 0:
        return mults + 1  # d = n * a^(n-1)
    return mults + 1 + 2  # v = 1/a^n; d = -n*v/a


def _eval_flops(code) -> tuple[int, int]:
    """Flops of one point of ``run_block`` and the result's parameter mask."""
    masks: list[int] = []
    flops = 0
    for pc, (op_code, arg) in enumerate(code):
        op = Op(int(op_code))
        if op in LEAF_OPS:
            masks.append(1 << int(arg) if op is Op.PARAM else 0)
            continue
        if op in BINARY_OPS:
            if len(masks) < 2:
                raise ValueError(f"malformed program: stack underflow at instruction {pc}")
            mb = masks.pop()
            ma = masks.pop()
            both = _bits(ma & mb)
            only_a = _bits(ma & ~mb)
            only_b = _bits(mb & ~ma)
            if op in (Op.ADD, Op.SUB):
                # a + sign*b; rows of b: g += sign*h (2) or g = sign*h (1); a's rows untouched.
                flops += 2 + 2 * both + only_b
            else:
                if op is Op.MUL:
                    flops += 1                          # a*b (da, db are copies)
                elif op is Op.DIV:
                    flops += 3                          # rb = 1/b, q = a*rb, db = -q*rb
                elif op is Op.POW:
                    flops += 2 * POW_FLOPS + 2          # pow(a, b); da = b*pow(a, b - 1)
                    if mb:
                        flops += LIBM_FLOPS + 1         # db = v*std::log(a)
                # MIN, MAX: a comparison and selects only.
                # out_j = da*ga_j + db*gb_j (3) or one product (1).
                flops += 3 * both + only_a + only_b
            masks.append(ma | mb)
            continue
        if not masks:
            raise ValueError(f"malformed program: stack underflow at instruction {pc}")
        if op is Op.POWI:
            flops += _powi_value(int(arg))
        elif op in _UNARY_VALUE:
            flops += _UNARY_VALUE[op]
        else:
            raise ValueError(f"unknown opcode {op!r} at instruction {pc}")
        flops += _bits(masks[-1])  # scale_grads: each row times d
    if len(masks) != 1:
        raise ValueError(f"malformed program: {len(masks)} values left on the stack, expected 1")
    return flops, masks[0]


def flops_per_point(program, loss: str = "l2", *, log_residual: bool = False) -> int:
    """Estimated float64 operations per data point per model evaluation.

    Counts the interpreter's value and forward-mode gradient rows
    (``program.hpp``) and the accumulation of the residual, cost, g and the
    upper triangle of A (``evaluator.hpp``) for the parameters the result
    depends on (all parameters free).  See the module docstring for what is
    and is not counted.

    Parameters
    ----------
    program : Program
        A compiled law (``lawfit.compile_law``); only ``program.code`` is read.
    loss : str
        ``"l2"`` (or ``"linear"``), ``"huber"``, ``"soft_l1"``, ``"cauchy"``
        or ``"arctan"``.
    log_residual : bool
        Residuals ``log f - log y`` (``residual="log"``): adds 1/f, ``math::log``
        and one product per gradient row.

    Raises
    ------
    ValueError
        For an unknown loss or a malformed program.
    """
    loss = _LOSS_ALIASES.get(loss, loss)
    if loss != "l2" and loss not in LOSS_RHO_FLOPS:
        raise ValueError(f"unknown loss {loss!r}; expected l2, {', '.join(LOSS_RHO_FLOPS)}")
    flops, mask = _eval_flops(program.code.tolist() if hasattr(program.code, "tolist") else program.code)
    m = _bits(mask)
    if log_residual:
        flops += 1 + LOG_FLOPS + m  # inv_f = 1/f, f = log f, rows times inv_f
    flops += _L2_POINT if loss == "l2" else _ROBUST_POINT + LOSS_RHO_FLOPS[loss]
    # Per free j: g_j += wr*J_j (2), wg = wt*J_j (1); per k >= j: A_jk += wg*J_k (2).
    flops += 3 * m + 2 * (m * (m + 1) // 2)
    return flops


#: Vector (non-tensor-core) float64 peaks in FLOP/s, by lower-case words of
#: the CUDA device name (``cudaGetDeviceProperties().name``).  The longest
#: matching key wins, so "h100 pcie" beats "h100".  An FMA counts two flops.
FP64_PEAK = {
    # NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022), H100 specifications table:
    # H100 SXM5 FP64 33.5 TFLOPS (132 SMs x 64 FP64 FMA/clk x 2 x 1.98 GHz);
    # the H100 datasheet rounds it to 34.  "NVIDIA H100 80GB HBM3" is the SXM5.
    "h100": 33.5e12,
    # Same whitepaper and table: H100 PCIe FP64 25.6 TFLOPS (114 SMs at 1.755 GHz);
    # the H100 PCIe product brief says 26.
    "h100 pcie": 25.6e12,
    # NVIDIA H100 datasheet, H100 NVL column: FP64 30 TFLOPS (per GPU, lower clocks).
    "h100 nvl": 30e12,
    # NVIDIA H200 datasheet: H200 SXM FP64 34 TFLOPS (the same GH100 configuration as the H100 SXM5).
    "h200": 33.5e12,
    # NVIDIA H200 datasheet, H200 NVL column: FP64 30 TFLOPS.
    "h200 nvl": 30e12,
    # NVIDIA GH200 Grace Hopper Superchip datasheet: FP64 34 TFLOPS (H100 GPU
    # of the SXM configuration); listed so "gh200" is not read as an H200.
    "gh200": 33.5e12,
    # NVIDIA A100 datasheet: FP64 9.7 TFLOPS (108 SMs x 32 FP64 FMA/clk x 2 x 1.41 GHz),
    # for the SXM4 and PCIe cards alike.
    "a100": 9.7e12,
}


def fp64_peak(device_name: str) -> float | None:
    """The vector float64 peak (FLOP/s) of a device by its name, or None if unknown.

    Matches the keys of :data:`FP64_PEAK` case-insensitively as whole words
    of the name (hyphens and underscores read as spaces, so "gh200" is not an
    "h200"), the longest match winning: ``"NVIDIA H100 PCIe"`` gives the PCIe peak, ``"NVIDIA H100 80GB
    HBM3"`` the SXM5 one, ``"NVIDIA A100-SXM4-80GB"`` the A100's.
    """
    name = " ".join(str(device_name).lower().replace("-", " ").replace("_", " ").split())
    hits = [key for key in FP64_PEAK if re.search(rf"\b{re.escape(key)}\b", name)]
    if not hits:
        return None
    return FP64_PEAK[max(hits, key=len)]


def achieved_flops(program, total_evaluations: float, points_per_problem: float, seconds: float,
                   loss: str = "l2", *, log_residual: bool = False) -> float:
    """Achieved FLOP/s: flops_per_point x points_per_problem x total_evaluations / seconds.

    ``total_evaluations`` is the number of model evaluations over all problems
    of the run (e.g. the sum of ``nfev``), ``points_per_problem`` the points
    each evaluation runs over, ``seconds`` the wall time.
    """
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds!r}")
    per_point = flops_per_point(program, loss, log_residual=log_residual)
    return float(per_point) * float(points_per_problem) * float(total_evaluations) / float(seconds)
