"""Every catalog entry: recovered from data it generated, cited, derived quantities checked.

Each entry needs a case in CASES (true parameters inside the law's typical
range, an input sampler, a noise model); ``test_every_entry_has_a_case`` fails
for an entry added without one.

Tolerance.  A parameter passes when (a) its error is within 4 of the fit's own
standard errors -- the covariance is honest and the best start found the
least-squares optimum (with 2-12 parameters per law, |z| > 4 by chance has
probability below 1e-3 per law, and the seeds are fixed) -- and (b) its error is
within ``rtol`` of the true value, which states how precisely the chosen data
(points, ranges, noise) determine it: 10% for most laws, 15-20% for the laws
with many strongly correlated parameters (Muennighoff, three-factor, BNSL,
Farseer, CLIP saturation), 5% for the one-parameter lines.
"""
import re

import numpy as np
import pytest

from lawfit import Status
from lawfit.catalog import (constant_schedule, cosine_schedule, laws, lr_areas,
                            repetition_columns, wsd_schedule)

BUILTIN = sorted(laws)
SLOW_CASES = {"su_NS"}  # its law program unrolls a Newton solve: interpreted, 10+ s


def logu(rng, lo, hi, n):
    """n values log-uniform in [lo, hi]."""
    return 10 ** rng.uniform(np.log10(lo), np.log10(hi), n)


def _lr_inputs(rng):
    """S1, S2 every 200 steps of three 20k-step schedules (cosine, WSD, constant), lambda = 0.999."""
    S1s, S2s = [], []
    for lr in (cosine_schedule(20000, 3e-4, warmup=500, final=3e-5),
               wsd_schedule(20000, 3e-4, warmup=500, decay=4000),
               constant_schedule(20000, 3e-4)):
        S1, S2 = lr_areas(lr, 0.999)
        keep = np.arange(1000, 20000, 200)
        S1s.append(S1[keep])
        S2s.append(S2[keep])
    return {"S1": np.concatenate(S1s), "S2": np.concatenate(S2s)}


def _pools(rng):
    """Goyal et al.'s inputs: three pools (1M, 4M, 16M samples), up to 20 epochs of each."""
    S = rng.choice([1e6, 4e6, 1.6e7], 150)
    n = S * 10 ** rng.uniform(-1.5, np.log10(20), 150)
    return repetition_columns(n, S)


def _kinetics(rng):
    """Configurations of model size, KV size, GQA ratio, prompt and generation lengths, samples, batch."""
    n = 60
    return {"N": logu(rng, 5e8, 3e10, n), "kv": rng.choice([2 * 28 * 4 * 128, 2 * 36 * 8 * 128, 2 * 48 * 8 * 128], n),
            "r": rng.choice([4.0, 7.0, 8.0], n), "L_in": logu(rng, 100, 2000, n), "L_out": logu(rng, 100, 3e4, n),
            "k": rng.choice([1.0, 4.0, 16.0, 32.0], n), "batch": rng.choice([1.0, 16.0, 256.0], n)}


def _steps_batches(rng):
    n = 240
    return {"N": logu(rng, 1e6, 1e9, n), "S": logu(rng, 1e3, 3e5, n), "B": 2.0 ** rng.integers(15, 22, n)}


def _repeats(rng, n, p_zero, hi):
    """Repetition counts: a share of single-epoch points (0), the rest uniform in [0, hi]."""
    return np.where(rng.uniform(size=n) < p_zero, 0.0, rng.uniform(0, hi, n))


# name: (true parameters, input sampler, noise "rel"ative or "abs"olute, noise level, rtol)
CASES = {
    "kaplan_N": (dict(N_c=8.8e13, alpha_N=0.076), lambda r: {"N": logu(r, 1e6, 1e10, 40)}, "rel", 2e-3, 0.1),
    "kaplan_D": (dict(D_c=5.4e13, alpha_D=0.095), lambda r: {"D": logu(r, 1e7, 1e11, 40)}, "rel", 2e-3, 0.1),
    "kaplan_C": (dict(C_c=3.1e8, alpha_C=0.050), lambda r: {"C": logu(r, 1e-6, 1e1, 40)}, "rel", 1e-3, 0.1),
    "kaplan_ND": (dict(N_c=6.4e13, alpha_N=0.076, D_c=1.8e13, alpha_D=0.103),
                  lambda r: {"N": logu(r, 1e6, 1e9, 80), "D": logu(r, 1e7, 1e11, 80)}, "rel", 1e-3, 0.1),
    "kaplan_NS": (dict(N_c=6.5e13, alpha_N=0.077, S_c=2.1e3, alpha_S=0.76),
                  lambda r: {"N": logu(r, 1e6, 1e9, 80), "S": logu(r, 1e3, 1e5, 80)}, "rel", 1e-3, 0.1),
    "kaplan_bcrit": (dict(B_star=2e8, alpha_B=0.21), lambda r: {"L": r.uniform(2, 5, 40)}, "rel", 0.02, 0.1),
    "chinchilla": (dict(E=1.8, A=450.0, alpha=0.34, B=2000.0, beta=0.37),
                   lambda r: {"N": logu(r, 1e7, 1e10, 120), "D": logu(r, 1e9, 1e12, 120)}, "rel", 2e-3, 0.1),
    "chinchilla_lse": (dict(e=np.log(1.8), a=np.log(450.0), alpha=0.34, b=np.log(2000.0), beta=0.37),
                       lambda r: {"N": logu(r, 1e7, 1e10, 120), "D": logu(r, 1e9, 1e12, 120)},
                       "rel", 2e-3, 0.1),
    "henighan": (dict(L_inf=3.0, x0=1e6, alpha=0.35), lambda r: {"x": logu(r, 1e5, 1e10, 40)}, "rel", 1e-3, 0.1),
    "muennighoff": (dict(E=1.9, A=500.0, alpha=0.35, B=1500.0, beta=0.35, R_N_star=5.3, R_D_star=15.4),
                    lambda r: {"U_N": logu(r, 1e7, 1e9, 200), "R_N": _repeats(r, 200, 0.4, 20),
                               "U_D": logu(r, 1e9, 1e11, 200), "R_D": _repeats(r, 200, 0.3, 60)},
                    "rel", 1e-3, 0.15),
    "muennighoff_raw": (dict(E=1.9, A=500.0, alpha=0.35, B=1500.0, beta=0.35, R_N_star=5.3, R_D_star=15.4),
                        lambda r: {"N": logu(r, 1e7, 1e10, 200), "U_D": (u := logu(r, 1e9, 1e11, 200)),
                                   "D": u * (1 + _repeats(r, 200, 0.3, 60))}, "rel", 1e-3, 0.15),
    "gadre_overtraining": (dict(E=1.7, a=400.0, b=1000.0, eta=0.15),
                           lambda r: {"C": logu(r, 1e17, 1e21, 80), "M": logu(r, 5, 640, 80)}, "rel", 2e-3, 0.1),
    "tissue_lr_annealing": (dict(L0=2.5, A=0.8, alpha=0.5, C=0.3), _lr_inputs, "rel", 1e-3, 0.1),
    "farseer": (dict(a1=5.0, b1=-2.3, alpha=-0.1, a2=-30.0, b2=7.0, beta=-0.2, a3=20.0, b3=0.5, gamma=-0.2),
                lambda r: {"N": logu(r, 1e8, 1e10, 200), "D": logu(r, 1e9, 1e12, 200)}, "rel", 1e-4, 0.2),
    "steplaw_lr": (dict(c=1.79, alpha=-0.713, beta=0.307),
                   lambda r: {"N": logu(r, 1e8, 1e10, 60), "D": logu(r, 1e10, 1e12, 60)}, "rel", 0.03, 0.1),
    "steplaw_bs": (dict(c=0.58, beta=0.571), lambda r: {"D": logu(r, 1e9, 1e12, 40)}, "rel", 0.03, 0.1),
    "parscale": (dict(E=1.0, A=1.5e8, k=0.4, alpha=0.2),
                 lambda r: {"N": logu(r, 5e8, 4.4e9, 80), "P": r.choice([1.0, 2.0, 4.0, 8.0], 80)},
                 "rel", 5e-4, 0.1),
    "ghorbani_bivariate": (dict(alpha=0.8, p_e=0.25, p_d=0.45, L_inf=1.2, Ne_ref=1e8, Nd_ref=1e8),
                           lambda r: {"Ne": logu(r, 2e7, 1e9, 80), "Nd": logu(r, 2e7, 1e9, 80)}, "rel", 1e-3, 0.1),
    "fernandes_multilingual": (dict(beta=200.0, alpha=0.35, L_inf=1.0),
                               lambda r: {"N": logu(r, 1e7, 1e10, 40)}, "rel", 1e-3, 0.1),
    "isik_bleu": (dict(A=5.0, alpha=0.3, beta=1.75), lambda r: {"Dp": logu(r, 1e8, 1e11, 40)}, "abs", 0.05, 0.1),
    "isik_ce": (dict(E=1.2, A=80.0, alpha=0.25), lambda r: {"Dp": logu(r, 1e8, 1e11, 40)}, "rel", 1e-3, 0.1),
    "gadre_error": (dict(epsilon=0.85, k=6.0, gamma=1.0), lambda r: {"L": r.uniform(2.5, 5, 40)}, "abs", 2e-3, 0.1),
    "passuntil": (dict(c=5.5e6, alpha=0.71), lambda r: {"N": logu(r, 5e7, 3e9, 30)}, "rel", 0.02, 0.1),
    "sigmoid_accuracy": (dict(a=0.6, k=-5.0, x0=3.0, b=0.25), lambda r: {"x": r.uniform(2, 4, 60)},
                         "abs", 3e-3, 0.1),
    "hestness": (dict(a=50.0, b=0.35, c=0.8), lambda r: {"x": logu(r, 1e3, 1e7, 40)}, "rel", 2e-3, 0.1),
    "hestness_model_size": (dict(k=3.0, beta_p=0.7), lambda r: {"m": logu(r, 1e4, 1e8, 30)}, "rel", 0.03, 0.1),
    "bnsl_0": (dict(a=0.5, b=20.0, c0=0.4), lambda r: {"x": logu(r, 10, 1e6, 40)}, "rel", 1e-3, 0.1),
    "bnsl_1": (dict(a=0.2, b=5.0, c0=0.1, c1=0.6, d1=1e3, f1=0.3),
               lambda r: {"x": logu(r, 1, 1e6, 80)}, "rel", 1e-3, 0.15),
    "bnsl_2": (dict(a=0.1, b=5.0, c0=0.1, c1=0.6, d1=1e2, f1=0.3, c2=-0.4, d2=1e5, f2=0.3),
               lambda r: {"x": logu(r, 1, 1e7, 120)}, "rel", 1e-3, 0.2),
    "bnsl_3": (dict(a=0.1, b=5.0, c0=0.1, c1=0.5, d1=1e2, f1=0.3, c2=-0.3, d2=1e4, f2=0.3, c3=0.4, d3=1e6,
                    f3=0.3), lambda r: {"x": logu(r, 1, 1e8, 160)}, "rel", 1e-4, 0.2),
    "sorscher_pruning": (dict(a=0.4, b=1.2, c=0.02), lambda r: {"x": r.uniform(0.2, 5, 40)}, "abs", 2e-3, 0.1),
    "three_factor": (dict(E=1.5, A=400.0, alpha=0.34, B=1500.0, beta=0.3, C=20.0, gamma=0.8),
                     lambda r: {"N": logu(r, 1e7, 1e10, 150), "D": logu(r, 1e9, 1e12, 150),
                                "R": logu(r, 32, 512, 150)}, "rel", 1e-3, 0.15),
    "clip_mammut": (dict(a=400.0, b=1e9, c=-0.3, d=0.15), lambda r: {"C": logu(r, 1e8, 1e12, 60)},
                    "abs", 1e-3, 0.15),
    "cherti_clip": (dict(beta=5.0, alpha=-0.15), lambda r: {"C": logu(r, 1e8, 1e12, 40)}, "rel", 0.02, 0.1),
    "knowledge_capacity": (dict(kappa=2.0), lambda r: {"N": logu(r, 1e6, 1e9, 30)}, "rel", 0.01, 0.05),
    "attack_tokens": (dict(kappa=20.0), lambda r: {"a": np.arange(1.0, 101.0)}, "abs", 5.0, 0.05),
    # ---- second wave
    "henighan_nopt": (dict(C0=1e-13, beta=0.7), lambda r: {"C": logu(r, 1e-6, 1e3, 40)}, "rel", 0.03, 0.1),
    "goyal_repetition": (dict(a=1e-5, b=-0.25, tau=4.0, d=0.15), _pools, "abs", 2e-3, 0.1),
    "hernandez_repeated": (dict(a=0.5, b=1.0, c0=0.05, c1=-0.6, d1=10.0, f1=0.3, c2=1.2, d2=100.0, f2=0.3),
                           lambda r: {"x": logu(r, 1, 1e4, 120)}, "rel", 1e-3, 0.2),
    "inverse_scaling": (dict(a=0.2, b=1.0, c0=0.3, c1=-0.6, d1=100.0, f1=0.5),
                        lambda r: {"x": logu(r, 1, 1e4, 80)}, "abs", 2e-3, 0.15),
    "coverage": (dict(c=2.0, alpha=0.4), lambda r: {"k": np.unique(np.round(np.geomspace(1, 1000, 40)))},
                 "abs", 3e-3, 0.1),
    "coverage_beta": (dict(a=0.4, b=3.0), lambda r: {"k": np.unique(np.round(np.geomspace(1, 1000, 40)))},
                      "abs", 2e-3, 0.1),
    "verifier_ceiling": (dict(p=0.15, f=0.05), lambda r: {"k": np.unique(np.round(np.geomspace(1, 200, 40)))},
                         "abs", 2e-3, 0.1),
    "kinetics_cost": (dict(I=562.5), _kinetics, "rel", 0.01, 0.05),
    "su_NS": (dict(N_c=6.5e13, alpha_N=0.077, S_c=2.1e3, alpha_S=0.76, B_star=2e8, alpha_B=0.21),
              _steps_batches, "rel", 1e-3, 0.1),
    "lr_batch_sgd": (dict(c=1e-4, kappa=1.0), lambda r: {"B": logu(r, 32, 8192, 40)}, "rel", 0.05, 0.1),
    "lr_batch_adam": (dict(c=3e-5, kappa=0.5), lambda r: {"B": logu(r, 32, 8192, 40)}, "rel", 0.05, 0.1),
    "lr_width": (dict(c=0.5, kappa=1.0), lambda r: {"width": logu(r, 128, 8192, 40)}, "rel", 0.05, 0.1),
    "wd_width": (dict(c=1e-4, kappa=1.0), lambda r: {"width": logu(r, 128, 8192, 40)}, "rel", 0.05, 0.1),
    "bahri_variance_limited": (dict(L_inf=0.2, A=50.0, alpha=1.0), lambda r: {"x": logu(r, 1e2, 1e5, 40)},
                               "rel", 1e-3, 0.1),
    "bahri_resolution_limited": (dict(L_inf=0.1, A=20.0, alpha=0.5), lambda r: {"x": logu(r, 1e2, 1e6, 40)},
                                 "rel", 1e-3, 0.1),
    "superposition_width": (dict(L_inf=1.5, A=8.0, alpha=1.0), lambda r: {"m": logu(r, 32, 4096, 40)},
                            "rel", 1e-3, 0.1),
}


def generate(name, seed=0):
    """Inputs, noisy observations and the true parameters of case ``name``."""
    true, sampler, kind, level, _ = CASES[name]
    rng = np.random.default_rng(seed)
    x = sampler(rng)
    y = laws[name].predict(true, x)
    noise = level * rng.standard_normal(y.shape)
    return x, (y * (1 + noise) if kind == "rel" else y + noise), true


def _sort_breaks(params: dict, stderr: dict) -> tuple[dict, dict]:
    """BNSL breaks are interchangeable: relabel them (values and stderr) by increasing location d_i."""
    n = sum(1 for k in params if re.fullmatch(r"d\d+", k))
    order = sorted(range(1, n + 1), key=lambda i: params[f"d{i}"])
    p_out, s_out = dict(params), dict(stderr)
    for new, old in enumerate(order, start=1):
        for letter in "cdf":
            p_out[f"{letter}{new}"] = params[f"{letter}{old}"]
            s_out[f"{letter}{new}"] = stderr[f"{letter}{old}"]
    return p_out, s_out


def test_every_entry_has_a_case():
    assert set(BUILTIN) == set(CASES), "add a recovery case for every catalog entry"


@pytest.mark.parametrize("name", BUILTIN)
def test_every_entry_passes_the_full_definition_check(name):
    # The catalog's entries compile on first use (lawfit.catalog.law.deferred_compile); this runs the
    # checks a user's Law gets at construction: the formula, derived and natural quantities compile.
    law = laws[name]
    law._validate(compile_now=True)
    assert law.program.n_params == len(law.params)
    assert set(law._derived_programs) == set(law.derived)
    assert set(law._natural_programs) == set(law.natural)


def test_importing_the_catalog_compiles_no_formula():
    # A fresh process: the first lawfit.fit imports the catalog; its ~50 formulas compile on first use.
    import subprocess
    import sys

    code = ("import lawfit.formula as f; n = [0]; real = f.compile_law\n"
            "def counting(*a, **k):\n    n[0] += 1\n    return real(*a, **k)\n"
            "f.compile_law = counting\n"  # before lawfit.catalog is imported: law.py binds this one
            "from lawfit.catalog import laws\n"
            "before = n[0]; _ = laws['chinchilla'].program\n"
            "print(before, n[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "1"]


def test_a_user_law_is_still_checked_at_construction():
    from lawfit.catalog import Law

    with pytest.raises(ValueError):
        Law("a*x**b + c", inputs=["x"], params=["a", "b"])  # c is neither a parameter nor an input


def test_deferred_compile_stays_in_its_context():
    # Inside the block a bad formula passes construction (it fails on first use); another thread, and
    # the code after the block (nested blocks included), still check at construction.
    import threading

    from lawfit.catalog import Law
    from lawfit.catalog.law import deferred_compile

    def bad():
        return Law("a*x**b + c", inputs=["x"], params=["a", "b"])

    raised = []

    def other_thread():
        try:
            bad()
        except ValueError:
            raised.append(True)

    with deferred_compile():
        with deferred_compile():
            late = bad()
        also_late = bad()
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
    assert raised == [True]
    for law in (late, also_late):
        with pytest.raises(ValueError):
            law.program
    with pytest.raises(ValueError):
        bad()


def test_catalog_is_large_and_covers_the_issue():
    for name in ["hestness", "kaplan_N", "kaplan_D", "kaplan_ND", "kaplan_NS", "kaplan_bcrit", "chinchilla",
                 "chinchilla_lse", "henighan", "ghorbani_bivariate", "fernandes_multilingual", "isik_bleu",
                 "isik_ce", "gadre_overtraining", "gadre_error", "tissue_lr_annealing", "farseer", "parscale",
                 "bnsl_0", "bnsl_1", "bnsl_2", "bnsl_3", "muennighoff", "sorscher_pruning", "passuntil",
                 "sigmoid_accuracy", "three_factor", "knowledge_capacity", "attack_tokens", "clip_mammut"]:
        assert name in laws


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CASES else n for n in BUILTIN])
def test_recovers_known_parameters(name):
    x, y, true = generate(name)
    law = laws[name]
    fit = law.fit(x, y, loss="l2")  # least squares, so the 4-stderr check has curve_fit's covariance
    assert fit.converged, str(fit)
    assert fit.n_at_best >= 1
    params, stderr = fit.params, fit.stderr
    if name.startswith("bnsl_"):
        params, stderr = _sort_breaks(params, stderr)
    rtol = CASES[name][4]
    for p, v in true.items():
        if p in law.fixed:
            assert params[p] == v
            continue
        err = abs(params[p] - v)
        assert err <= rtol * abs(v), f"{p}: {params[p]:.6g} vs {v:.6g} (rtol {rtol})"
        assert err <= 4 * stderr[p] + 1e-12 * abs(v), f"{p}: error {err:.3g} > 4 stderr {stderr[p]:.3g}"


@pytest.mark.parametrize("name", BUILTIN)
def test_entry_is_documented_and_cited(name):
    law = laws[name]
    c = law.citation
    assert c is not None and c.authors and c.title and 1990 < c.year < 2100
    assert re.fullmatch(r"\d{4}\.\d{4,5}", c.arxiv)
    assert re.search(r"(eq|§|Result|App|Table)", c.equation), c.equation
    assert law.output
    assert all(law.inputs.values()), "every input needs its meaning and units"
    assert all(law.param_help.values()), "every parameter needs a meaning"
    text = str(law)
    assert (law.display or law.formula) in text.replace("\n            ", " ") and c.arxiv in text and name in text
    assert c.checked, "every entry names what its citation was checked against"
    assert law.recipe is not None, "every catalog entry carries its published recipe"


@pytest.mark.parametrize("name", BUILTIN)
def test_default_starts_are_a_modest_grid_inside_the_bounds(name):
    x, y, _ = generate(name)
    law = laws[name]
    starts = law.start_grid(x, y)
    lower, upper = law._bound_arrays()
    assert 1 <= len(starts) <= 5000
    assert np.all((starts >= lower) & (starts <= upper))
    assert law.loss in ("l2", "huber", "soft_l1", "cauchy", "arctan") and law.residual in ("linear", "log")


# ----------------------------------------------------------------- derived quantities


CHINCHILLA = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}


def test_chinchilla_frontier_matches_closed_forms():
    law = laws["chinchilla"]
    C = np.geomspace(1e18, 1e26, 9)
    d = law.derive(CHINCHILLA, C=C)
    alpha, beta = CHINCHILLA["alpha"], CHINCHILLA["beta"]
    assert d["a"] == pytest.approx(beta / (alpha + beta)) and d["b"] == pytest.approx(alpha / (alpha + beta))
    # N_opt ∝ C^a and D_opt ∝ C^b (Hoffmann et al. eq. 4), on the budget line 6 N D = C
    assert np.polyfit(np.log(C), np.log(d["N_opt"]), 1)[0] == pytest.approx(d["a"], rel=1e-12)
    assert np.polyfit(np.log(C), np.log(d["D_opt"]), 1)[0] == pytest.approx(d["b"], rel=1e-12)
    np.testing.assert_allclose(6 * d["N_opt"] * d["D_opt"], C, rtol=1e-12)
    np.testing.assert_allclose(d["tokens_per_param"], d["D_opt"] / d["N_opt"], rtol=1e-12)
    # and N_opt minimises the loss along that line (brute force over N)
    for c, n_opt, l_opt in zip(C, d["N_opt"], d["L_opt"]):
        N = n_opt * np.exp(np.linspace(-0.5, 0.5, 2001))
        L = law.predict(CHINCHILLA, N=N, D=c / (6 * N))
        assert N[np.argmin(L)] == pytest.approx(n_opt, rel=1e-3)
        assert L.min() == pytest.approx(l_opt, rel=1e-9)


def test_lse_form_has_the_same_derived_quantities():
    lse = {"e": np.log(1.69), "a": np.log(406.4), "alpha": 0.34, "b": np.log(410.7), "beta": 0.28}
    C = np.geomspace(1e20, 1e24, 5)
    plain = laws["chinchilla"].derive(CHINCHILLA, C=C)
    log_form = laws["chinchilla_lse"].derive(lse, C=C)
    for k in ("N_opt", "D_opt", "L_opt", "G", "tokens_per_param"):
        np.testing.assert_allclose(log_form[k], plain[k], rtol=1e-10)
    assert log_form["exponent_a"] == pytest.approx(plain["a"])
    nat = laws["chinchilla_lse"].to_natural(lse)
    assert nat == pytest.approx(CHINCHILLA)
    assert laws["chinchilla_lse"].predict(lse, N=[1e9], D=[2e10]) == pytest.approx(
        laws["chinchilla"].predict(CHINCHILLA, N=[1e9], D=[2e10]))


def test_lse_fit_in_log_space_equals_the_natural_fit_in_log_space():
    x, y, _ = generate("chinchilla")
    nat = laws["chinchilla"].fit(x, y, residual="log")
    lse = laws["chinchilla_lse"].fit(x, y, loss="l2")
    values, errors = lse.natural()
    for k, v in nat.params.items():
        assert values[k] == pytest.approx(v, rel=1e-5)
        # covariance mapped through the exact Jacobian of the reparameterisation
        assert errors[k] == pytest.approx(nat.stderr[k], rel=1e-3)


def test_lse_entry_carries_the_published_fitting_recipe():
    law = laws["chinchilla_lse"]
    assert (law.loss, law.loss_delta, law.residual) == ("huber", 1e-3, "log")
    assert len(law.start_grid()) == 4500  # Hoffmann et al. Appendix D.2 grid
    x, y, true = generate("chinchilla_lse")
    fit = law.fit(x, y)  # the recipe: Huber (delta = 1e-3) on log residuals, 4,500 starts
    assert (fit.loss, fit.delta, fit.residual) == ("huber", 1e-3, "log") and fit.converged
    assert "huber (delta=0.001) on log residuals" in str(fit)
    # Huber is consistent for symmetric noise: the same tolerance as least squares
    for p, v in true.items():
        assert fit.params[p] == pytest.approx(v, rel=CASES["chinchilla_lse"][4])
    assert np.isnan(fit.pcov).all()  # no curve_fit covariance for a robust loss


def test_gadre_optimal_multiplier_minimises_the_loss():
    law = laws["gadre_overtraining"]
    p = {"E": 1.7, "a": 400.0, "b": 1000.0, "eta": 0.15}
    d = law.derive(p, C=[1e21])
    assert d["M_opt"] == pytest.approx((1000 / 400) ** (1 / 0.3))
    M = d["M_opt"] * np.exp(np.linspace(-1, 1, 4001))
    L = law.predict(p, C=np.full(M.size, 1e21), M=M)
    assert M[np.argmin(L)] == pytest.approx(d["M_opt"], rel=1e-3)
    assert d["L_opt"][0] == pytest.approx(L.min(), rel=1e-10)


def test_effective_quantities():
    mu = {"E": 1.9, "A": 500.0, "alpha": 0.35, "B": 1500.0, "beta": 0.35, "R_N_star": 5.3, "R_D_star": 15.4}
    d = laws["muennighoff"].derive(mu, U_N=[1e8, 1e8], R_N=[0.0, 1e6], U_D=[1e9, 1e9], R_D=[0.0, 1e6])
    # no repetition: nothing is lost; infinitely many: the value saturates at U (1 + R*)
    np.testing.assert_allclose(d["D_eff"], [1e9, 1e9 * (1 + 15.4)])
    np.testing.assert_allclose(d["N_eff"], [1e8, 1e8 * (1 + 5.3)])
    par = laws["parscale"].derive({"E": 1, "A": 1e8, "k": 0.4, "alpha": 0.2}, N=[1e9, 1e9], P=[1, 8])
    np.testing.assert_allclose(par["N_equivalent"], [1e9, 1e9 * (1 + 0.4 * np.log(8))])
    assert laws["kaplan_ND"].derive({"N_c": 6.4e13, "alpha_N": 0.076, "D_c": 1.8e13, "alpha_D": 0.103})[
        "overfit_exponent"] == pytest.approx(0.076 / 0.103)


def test_derived_standard_errors_are_the_delta_method():
    x, y, _ = generate("chinchilla")
    fit = laws["chinchilla"].fit(x, y)
    values, errors = fit.derived(C=[1e23])
    # finite-difference gradient of N_opt, then g' pcov g
    p0, h = fit.popt, 1e-6

    def f(p):
        return laws["chinchilla"].derive(p, C=[1e23])["N_opt"][0]

    grad = np.empty(p0.size)
    for i in range(p0.size):
        up, dn = p0.copy(), p0.copy()
        up[i] += h * abs(p0[i])
        dn[i] -= h * abs(p0[i])
        grad[i] = (f(up) - f(dn)) / (2 * h * abs(p0[i]))
    assert errors["N_opt"][0] == pytest.approx(np.sqrt(grad @ fit.pcov @ grad), rel=1e-4)
    assert values["N_opt"][0] > 0


def test_reference_values_reproduce_published_numbers():
    # Hoffmann et al. Table 3 / eq. 4 with their estimates: a ≈ 0.46, b ≈ 0.54
    d = laws["chinchilla"].derive(laws["chinchilla"].reference)
    assert d["a"] == pytest.approx(0.45, abs=0.01) and d["b"] == pytest.approx(0.55, abs=0.01)
    # Kaplan et al.: alpha_N/alpha_D ≈ 0.74 (data needed to avoid overfitting, eq. 1.7 region)
    assert laws["kaplan_ND"].derive(laws["kaplan_ND"].reference)["overfit_exponent"] == pytest.approx(0.74, abs=0.01)


def test_fit_reports_status_and_basin_count():
    x, y, _ = generate("hestness")
    fit = laws["hestness"].fit(x, y)
    assert fit.status in (Status.CONVERGED_FTOL, Status.CONVERGED_XTOL, Status.CONVERGED_FTOL_XTOL,
                          Status.CONVERGED_GTOL)
    assert fit.n_starts == len(laws["hestness"].start_grid())
    assert 1 <= fit.n_at_best <= fit.n_converged <= fit.n_starts
    assert "hestness" in str(fit) and "±" in str(fit)
    np.testing.assert_allclose(fit.predict(x), laws["hestness"].predict(fit.popt, x))
