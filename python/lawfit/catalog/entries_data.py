"""Catalog entries: data quality and repetition, and curves that do not fall monotonically.

Goyal et al. 2024 (data filtering under repetition), Hernandez et al. 2022 (repeated data:
double descent, a documented template), McKenzie et al. 2023 (inverse and U-shaped scaling:
start grids that find rising, falling and U-shaped curves).
"""
from __future__ import annotations

import itertools

import numpy as np

from .catalog import laws
from .entries_general import bnsl_formula
from .law import Citation, Law
from .recipe import Recipe
from .repetition import MAX_EPOCHS, repetition_formula

INF = np.inf


def _add(law: Law) -> None:
    laws.add(law.name, law)


# ---------------------------------------------------------------- Goyal et al. 2024
_REP_INPUTS = {"n1": "samples seen in the first epoch: min(n, S) (lawfit.catalog.repetition_columns)"}
_REP_INPUTS.update({f"l{k}": f"log growth of the samples seen during repetition {k}: "
                              f"log(min(n, {k + 1}S)/({k}S)), 0 before it starts"
                    for k in range(1, MAX_EPOCHS)})
_add(Law(
    repetition_formula(MAX_EPOCHS), _REP_INPUTS, name="goyal_repetition",
    output="error (e.g. 1 - zero-shot accuracy) after n samples from a pool of S",
    params={"a": "sample scale (1/samples)", "b": "utility exponent of fresh data (negative)",
            "tau": "half-life of the utility (repetitions)", "d": "irreducible error"},
    bounds={"a": (0, INF), "b": (-3, 0), "tau": (1e-2, 1e3), "d": (0, INF)},
    starts={"a": [1e-9, 1e-7, 1e-5], "b": [-0.05, -0.2, -0.5], "tau": [1.0, 5.0, 25.0], "d": [0.0, 0.1]},
    derived={"decay_per_repetition": "2**(-1/tau)"},
    display=f"y = ((a n_1)^b + d) * prod_(k >= 1) (n_(k+1)/n_k)^(b 2^(-k/tau)), n_k = min(n, k S), "
            f"up to {MAX_EPOCHS} epochs; inputs from lawfit.catalog.repetition_columns(n, S)",
    citation=Citation("Goyal, Maini, Lipton, Raghunathan, Kolter", 2024,
                      "Scaling Laws for Data Filtering -- Data Curation cannot be Compute Agnostic",
                      "2404.07177", "§3, utility under repetition (b_k = b 2^(-k/tau)) and pool mixtures",
                      venue="CVPR 2024",
                      checked="the authors' released code (github.com/locuslab/scaling_laws_data_filtering: "
                              "objective.py func_effective_utility and its aggregation, "
                              "estimate_best_pool.py); the paper's equation numbers were not verified"),
    recipe=Recipe("l2", None, "linear", method="grid search over the parameters (the authors report "
                                               "scipy optimisers unstable); d given",
                  source="locuslab/scaling_laws_data_filtering README, grid_search.py"),
    notes="One law per data pool. Build the inputs with lawfit.catalog.repetition_columns(samples_seen, "
          "pool_size) (like lr_areas for the LR-annealing law); the first epoch is y = (a n)^b + d and "
          "every later repetition k multiplies y by (n_(k+1)/n_k)^(b 2^(-k/tau)), as the authors' code "
          "does (d included). lawfit.catalog.pool_mixture predicts a mixture of pools from each pool's "
          f"fitted b and tau, without training on the mixture. The entry covers {MAX_EPOCHS} epochs; "
          "repetition_formula(k) writes it for k.",
))


# ---------------------------------------------------------------- Hernandez et al. 2022
def _double_descent_starts(x, y):
    """rising-then-falling breaks at log-quantiles of x; floor and scale from y"""
    (v,) = x.values()
    y = np.asarray(y, float)
    lx = np.log(v[v > 0])
    q = np.exp(np.quantile(lx, [0.15, 0.35, 0.5, 0.65, 0.85]))
    y0 = float(y[np.argmin(v)])
    rows = []
    for a, (i, j), (c1, c2) in itertools.product([0.0, 0.5 * float(np.min(y))],
                                                 [(0, 2), (1, 3), (2, 4), (0, 4)],
                                                 [(-0.5, 1.0), (-1.0, 1.0), (-1.0, 2.0)]):
        rows.append({"a": a, "b": max(y0 - a, 1e-12), "c0": 0.0, "c1": c1, "d1": q[i], "f1": 0.3,
                     "c2": c2, "d2": q[j], "f2": 0.3})
    return rows


_BNSL2_PARAMS = {"a": "limit of y for large x", "b": "scale", "c0": "initial slope (log-log)",
                 "c1": "slope change at the rise (negative: y turns up)", "d1": "location of the rise",
                 "f1": "sharpness of the rise", "c2": "slope change at the fall (positive: y turns down)",
                 "d2": "location of the fall", "f2": "sharpness of the fall"}
_add(Law(
    bnsl_formula(2), {"x": "repetitions of the repeated subset (epochs), or the repeated tokens"},
    name="hernandez_repeated", output="test loss (nats/token) or its degradation",
    params=_BNSL2_PARAMS,
    bounds={"b": (0, INF), "d1": (0, INF), "f1": (1e-3, 100), "d2": (0, INF), "f2": (1e-3, 100)},
    starts=_double_descent_starts,
    citation=Citation("Hernandez, Brown, Conerly, DasSarma, Drain, El-Showk, Elhage, Hatfield-Dodds, Henighan, "
                      "Hume, et al.", 2022, "Scaling Laws and Interpretability of Learning from Repeated Data",
                      "2205.10487", "§3 (double descent in the repeated fraction; no closed form); template: "
                                    "Caballero et al. 2023 eq. 1 with two breaks",
                      checked="the paper reports the double-descent bump empirically (abstract, §3 figures); we "
                              "found no fitted closed form, so the entry is a documented template"),
    recipe=Recipe("l2", None, "linear", method="no published recipe (template)", source="lawfit template"),
    notes="A template, not the paper's law: Hernandez et al. show that repeating a small fraction of the "
          "data many times hurts most at an intermediate number of repetitions (double descent), without "
          "a closed form. BNSL with two breaks (bnsl_2's formula) draws a rise then a fall: the default "
          "starts put a rising break (c1 < 0) before a falling one (c2 > 0) at log-quantiles of x. Fit one "
          "law per model size; the peak's location moves with N.",
))


# ---------------------------------------------------------------- McKenzie et al. 2023
def _shape_starts(x, y):
    """rising, falling, U and inverted-U: both signs of the scale and of the slopes, break at quantiles"""
    (v,) = x.values()
    y = np.asarray(y, float)
    lx = np.log(v[v > 0])
    q = np.exp(np.quantile(lx, [0.3, 0.5, 0.7]))
    span = max(float(np.max(y) - np.min(y)), 1e-12)
    x0 = float(np.exp(np.median(lx)))  # the scaled term is about the span in the middle of the data
    rows = []
    for sign, a, c0, c1, d1, f1 in itertools.product([1.0, -1.0], ["lo", "hi"], [-0.3, 0.3], [-1.0, 0.0, 1.0], q,
                                                     [0.3, 1.0]):
        base = float(np.min(y)) - 0.5 * span if sign > 0 else float(np.max(y)) + 0.5 * span
        rows.append({"a": base if a == "lo" else base + sign * 0.5 * span, "b": sign * span * x0 ** c0,
                     "c0": c0, "c1": c1 - c0 if c1 else 0.0, "d1": d1, "f1": f1})
    return rows


_add(Law(
    bnsl_formula(1), {"x": "model size, compute or training data"}, name="inverse_scaling",
    output="task metric (accuracy or loss) that may rise, fall or turn",
    params={"a": "offset", "b": "scale (negative: an inverted U or a falling accuracy)",
            "c0": "initial log-log slope of the scaled term", "c1": "slope change at the turn",
            "d1": "location of the turn", "f1": "sharpness of the turn"},
    bounds={"d1": (0, INF), "f1": (1e-3, 100)},
    starts=_shape_starts,
    citation=Citation("McKenzie, Lyzhov, Pieler, Parrish, Mueller, Prabhu, McLean, Kirtland, Ross, Liu, et al.",
                      2023, "Inverse Scaling: When Bigger Isn't Better", "2306.09479",
                      "§5 (inverse, U- and inverted-U-shaped trends; no fitted law); template: Caballero et "
                      "al. 2023 eq. 1 with one break", venue="TMLR",
                      checked="the paper classifies trends (inverse, U-shaped, inverted-U) from plots without "
                              "a fitted law; the template is BNSL's eq. 1 with one break and a free sign"),
    recipe=Recipe("l2", None, "linear", method="no published recipe (template)", source="lawfit template"),
    notes="y = a + b x^(-c0) (1 + (x/d1)^(1/f1))^(-c1 f1): before the turn the scaled term has log-log "
          "slope -c0, after it -(c0 + c1). b > 0 with c0 > 0 > c0 + c1 is a U (falling, then rising); "
          "b < 0 gives the mirror images (inverted U, rising accuracy). The default starts cover all four "
          "shapes (both signs of b and of the slopes, the turn at quantiles of log x), so the best start "
          "picks the shape. Wei et al. 2022 (arXiv:2211.02011) report inverse scaling turning U-shaped "
          "at larger scale.",
))
