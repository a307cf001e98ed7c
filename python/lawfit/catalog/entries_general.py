"""Catalog entries: general-purpose forms.

Hestness et al. 2017 (saturating power law, model-size growth), Caballero et
al. 2023 (broken neural scaling laws, 0-3 breaks), Sorscher et al. 2022
(exponential scaling with pruned data), a three-factor additive power law,
CLIP/MaMMUT compute laws (Cherti et al. 2023; Nezhurina et al. 2025), and
linear laws (Allen-Zhu & Li 2024; Fort 2023).
"""
from __future__ import annotations

import itertools

import numpy as np

from .catalog import laws
from .entries_lm import HOFFMANN
from .law import Citation, Law
from .recipe import Recipe

INF = np.inf


def _add(law: Law) -> None:
    laws.add(law.name, law)


HESTNESS = ("Hestness, Narang, Ardalani, Diamos, Jun, Kianinejad, Patwary, Yang, Zhou", 2017,
            "Deep Learning Scaling is Predictable, Empirically", "1712.00409")

_HESTNESS_CHECKED = ("author list and title against the arXiv listing (Joel Hestness, Sharan Narang, Newsha "
                     "Ardalani, Gregory Diamos, Heewoo Jun, Hassan Kianinejad, Md. Mostofa Ali Patwary, Yang Yang, "
                     "Yanqi Zhou); the claims (power-law generalisation error across four domains, model size "
                     "growing sub-linearly with the data, small-data / power-law / irreducible-error regions) "
                     "against the abstract and the authors' Baidu Research summary. The paper body was not "
                     "reachable: the section number and the exponent ranges quoted in the notes are not "
                     "re-verified")

# ---------------------------------------------------------------- Hestness et al. 2017
_add(Law(
    "a*x**-b + c", {"x": "training-set size (samples), or model size / compute"}, name="hestness",
    output="generalisation error or loss",
    params={"a": "coefficient", "b": "exponent (the paper's -beta_g)", "c": "irreducible error"},
    bounds={"a": (0, INF), "b": (0, 5), "c": (0, INF)},
    starts={"a": [1.0, 10.0, 100.0, 1000.0], "b": [0.1, 0.3, 0.6, 1.0], "c": [0.0, 0.5, 1.0, 2.0]},
    shared=("b",),
    citation=Citation(*HESTNESS, "§2, learning-curve law",
                      checked=_HESTNESS_CHECKED),
    recipe=Recipe("l2", None, "linear", method="the paper's fitting procedure was not reachable; least "
                                               "squares on the power-law region", source="lawfit default"),
    notes="The saturating power law eps(m) = alpha m^beta_g + gamma of the learning curve, with "
          "beta_g < 0 and an irreducible error gamma; here b = -beta_g > 0. The same form fits loss "
          "against model size or compute; the paper reports beta_g between about -0.07 and -0.35 across "
          "domains. The small-data region is not modelled.",
))
_add(Law(
    "k*m**beta_p", {"m": "training-set size (samples)"}, name="hestness_model_size",
    output="parameters needed to fit the data best",
    params={"k": "coefficient", "beta_p": "growth exponent"},
    bounds={"k": (0, INF), "beta_p": (0, 3)},
    starts={"k": [1e-2, 1.0, 1e2, 1e4], "beta_p": [0.3, 0.6, 1.0]},
    residual="log",
    citation=Citation(*HESTNESS, "§2, model-size law",
                      checked=_HESTNESS_CHECKED),
    recipe=Recipe("l2", None, "log", method="power law on log-log axes", source="lawfit default"),
    notes="s(m) = alpha m^beta_p: the best model size grows sub-linearly with the data (beta_p between "
          "about 0.5 and 0.8 in the paper). Sizes span decades, hence log residuals.",
))


# ---------------------------------------------------------------- Caballero et al. 2023
def bnsl_formula(n: int) -> str:
    # (1 + (x/d)**(1/f))**(-c*f) == exp(-c*f*softplus((log(x) - log(d))/f)): same function,
    # computed without overflow for x >> d.
    terms = ["-c0*log(x)"]
    terms += [f"c{i}*f{i}*softplus((log(x) - log(d{i}))/f{i})" for i in range(1, n + 1)]
    return "a + b*exp(" + " - ".join(terms) + ")"


def _bnsl_starts(n: int):
    def starts(x, y):
        """break points at log-spaced quantiles of x, floor and scale from y"""
        (v,) = x.values()
        y = np.asarray(y, float)
        lx = np.log(v[v > 0])
        # Candidate break positions: interior log-quantiles; one combination per ordered subset.
        q = np.exp(np.quantile(lx, np.linspace(0.15, 0.85, max(2 * n, 2))))
        placements = list(itertools.combinations(q, n)) if n else [()]
        if len(placements) > 4:
            placements = placements[:: max(1, len(placements) // 4)]
        y_min, y_max = float(np.min(y)), float(np.max(y))
        grid = {"a": [0.0, 0.5 * y_min], "c0": [0.3]}
        rows = []
        for combo in itertools.product(grid["a"], grid["c0"], placements,
                                       itertools.product([-0.5, 0.5], repeat=n)):
            a, c0, ds, cs = combo
            row = {"a": a, "c0": c0, "b": max(y_max - a, 1e-12) * float(np.min(v)) ** c0}
            for i in range(n):
                row.update({f"c{i + 1}": cs[i], f"d{i + 1}": ds[i], f"f{i + 1}": 0.3})
            rows.append(row)
        return rows
    return starts


_BNSL_NOTE = ("Caballero et al. eq. 1: y = a + b x^-c0 prod_i (1 + (x/d_i)^(1/f_i))^(-c_i f_i). Each break "
              "i changes the log-log slope by c_i around x = d_i, with sharpness f_i (small f: sharp). "
              "The product is computed as exp(-c_i f_i softplus(log(x/d_i)/f_i)), the same function "
              "without overflow. Default starts depend on the data (breaks at quantiles of log x). "
              "Breaks are interchangeable: a fit may return them in any order (sort by d_i to compare).")
for _n in range(4):
    _params = {"a": "limit of y for large x (where the last slope flattens)", "b": "scale",
               "c0": "initial slope (log-log)"}
    _bounds = {"b": (0, INF)}
    for _i in range(1, _n + 1):
        _params.update({f"c{_i}": f"slope change at break {_i}", f"d{_i}": f"location of break {_i}",
                        f"f{_i}": f"sharpness of break {_i}"})
        _bounds.update({f"d{_i}": (0, INF), f"f{_i}": (1e-3, 100)})
    _add(Law(
        bnsl_formula(_n), {"x": "the scaled quantity (compute, data, parameters, steps)"},
        name=f"bnsl_{_n}", output="error, loss or any metric",
        params=_params, bounds=_bounds, starts=_bnsl_starts(_n),
        citation=Citation("Caballero, Gupta, Rish, Krueger", 2023, "Broken Neural Scaling Laws",
                          "2210.14891", f"eq. 1 with n = {_n} break{'s' if _n != 1 else ''}",
                          checked="authors and venue against the bibtex in the authors' repository "
                                  "(github.com/ethancaballero/broken_neural_scaling_laws, README: ICLR 2023); "
                                  "the functional form against its fitting script "
                                  "(fit_bnsl_and_extrapolate__4_digit_addition__dataset_size_x-axis.py: "
                                  "a + b x^-c0 (1 + (x/d1)^(1/f1))^(-c1 f1)); the equation number is the "
                                  "first wave's (the paper body was not reachable)"),
        recipe=Recipe("l2", None, "linear",
                      method="the authors' script: a brute-force grid (scipy.optimize.brute) on the mean "
                             "squared error of log(y + 1), then curve_fit on log(y + 1) from the best grid "
                             "point; lawfit fits linear residuals from its own data-dependent grid",
                      source="ethancaballero/broken_neural_scaling_laws fitting script"),
        notes=_BNSL_NOTE + (" With no break this is the saturating power law (hestness)." if _n == 0 else ""),
    ))


# ---------------------------------------------------------------- Sorscher et al. 2022
def _exp_starts(x, y):
    """decay rates at 0.3-3 over the mean of x, floor at 0 or min(y)"""
    (v,) = x.values()
    y = np.asarray(y, float)
    scale = float(np.mean(np.abs(v))) or 1.0
    return {"a": [float(np.max(y) - np.min(y)) * f for f in (1.0, 3.0)],
            "b": [r / scale for r in (0.3, 1.0, 3.0)], "c": [0.0, float(np.min(y))]}


_add(Law(
    "a*exp(-b*x) + c", {"x": "pruned training-set size (examples, or examples per parameter)"},
    name="sorscher_pruning", output="test error",
    params={"a": "scale", "b": "decay rate (per unit of x)", "c": "floor"},
    bounds={"a": (0, INF), "b": (0, INF)},
    starts=_exp_starts,
    citation=Citation("Sorscher, Geirhos, Shekhar, Ganguli, Morcos", 2022,
                      "Beyond neural scaling laws: beating power law scaling via data pruning", "2206.14486",
                      "§2-3 and Fig. 1",
                      checked="authors and title against the NeurIPS 2022 proceedings page (Ben Sorscher, Robert "
                              "Geirhos, Shashank Shekhar, Surya Ganguli, Ari Morcos); the claim (with a good "
                              "pruning metric the error can fall faster than a power law, even exponentially, "
                              "in the pruned data size; seen on CIFAR-10, SVHN and ImageNet) against the "
                              "abstract. The paper states no fitting equation (see notes); section numbers not "
                              "re-verified"),
    recipe=Recipe("l2", None, "linear", method="the paper states no fitting equation",
                  source="lawfit default"),
    notes="Sorscher et al. show, in a teacher-student perceptron theory and on CIFAR-10/ImageNet, that "
          "pruning with a good metric can make the error fall exponentially, not as a power law, in the "
          "pruned data size. The paper derives the exponential from its replica theory rather than "
          "stating one fitting equation; a e^(-b x) + c is the parameterisation lawfit uses to fit it.",
))

# ---------------------------------------------------------------- three factors
_add(Law(
    "E + A/N**alpha + B/D**beta + C/R**gamma",
    {"N": "model parameters (count)", "D": "training data (tokens or samples)",
     "R": "third factor, e.g. input resolution (pixels) or another resource"},
    name="three_factor", output="loss or error",
    params={"E": "irreducible loss", "A": "model coefficient", "alpha": "model exponent",
            "B": "data coefficient", "beta": "data exponent", "C": "third-factor coefficient",
            "gamma": "third-factor exponent"},
    bounds={"E": (0, 20), "A": (0, INF), "alpha": (0, 3), "B": (0, INF), "beta": (0, 3),
            "C": (0, INF), "gamma": (0, 5)},
    starts={"E": [1.0, 2.0], "A": [1e2, 1e3], "alpha": [0.2, 0.5], "B": [1e2, 1e3], "beta": [0.2, 0.5],
            "C": [1.0, 10.0, 100.0], "gamma": [0.3, 1.0]},
    citation=Citation(*HOFFMANN, "eq. 2 plus a third term",
                      checked="the two-term form against Hoffmann et al.'s text (eq. 2); the third term is "
                              "ours (see notes)"),
    recipe=Recipe("l2", None, "linear", method="no paper recipe for the three-term form",
                  source="lawfit default"),
    notes="Additive power laws, one term per resource, as in model x data x resolution studies. We know of "
          "no single canonical paper for the three-term form, so the entry cites the two-term law it "
          "extends; cite the study of your third factor alongside it.",
))

# ---------------------------------------------------------------- CLIP / MaMMUT
def _saturation_starts(x, y):
    """offsets at 0 and low quantiles of C; amplitude chosen to meet the data at its median"""
    (v,) = x.values()
    y = np.asarray(y, float)
    rows = []
    for b, c, d in itertools.product([0.0, float(np.quantile(v, 0.1))], [-0.1, -0.3, -0.6],
                                     [0.0, 0.5 * float(np.min(y))]):
        a = max(float(np.median(y)) - d, 1e-12) / (float(np.median(v)) + b) ** c
        rows.append({"a": a, "b": b, "c": c, "d": d})
    return rows


_add(Law(
    "a*(C + b)**c + d", {"C": "training compute (e.g. GFLOP)"}, name="clip_mammut",
    output="error (1 - accuracy, 1 - mIoU) or loss",
    params={"a": "scale", "b": "compute offset", "c": "exponent (negative)", "d": "irreducible error"},
    bounds={"a": (0, INF), "b": (0, INF), "c": (-5, 0), "d": (0, INF)},
    starts=_saturation_starts,
    citation=Citation("Nezhurina, Porian, Puccetti, Kerssies, Beaumont, Cherti, Jitsev", 2025,
                      "Scaling Laws for Robust Comparison of Open Foundation Language-Vision Models and "
                      "Datasets", "2506.04598", "§3, err(C) = a (C + b)^c + d",
                      checked="the authors' code (github.com/LAION-AI/scaling-laws-for-comparison: "
                              "scaling_laws/functions.py power_law_saturation_both; the fitting module's "
                              "curve_fit bounds a >= 0, b >= 0, c <= 0, d >= 0; Pareto front per compute "
                              "bin)"),
    recipe=Recipe("l2", None, "linear", bounds={"d": (0.0, INF)},
                  method="scipy curve_fit (bounded) on the Pareto front over hyper-parameters, from a "
                         "grid of starts; bootstrap over the front's points",
                  source="LAION-AI/scaling-laws-for-comparison fitting module"),
    notes="The saturating form with a compute offset b, as in Zhai et al. 2022 (Scaling Vision "
          "Transformers, arXiv:2106.04560, E = a (C + d)^-b + c); the released code calls it "
          "power_law_saturation_both and bounds d >= 0 as here. Fit each (model family, dataset) on the "
          "Pareto front over hyper-parameters (lawfit.methods.fit_pareto re-selects the front in every "
          "bootstrap resample).",
))
_add(Law(
    "beta*C**alpha", {"C": "training compute (GFLOP) or samples seen"}, name="cherti_clip",
    output="zero-shot / retrieval error",
    params={"beta": "coefficient", "alpha": "exponent (negative)"},
    bounds={"beta": (0, INF), "alpha": (-5, 5)},
    starts={"beta": [1e-2, 1.0, 1e2, 1e4], "alpha": [-0.5, -0.1]},
    residual="log",
    citation=Citation("Cherti, Beaumont, Wightman, Wortsman, Ilharco, Gordon, Schuhmann, Schmidt, Jitsev",
                      2023, "Reproducible scaling laws for contrastive language-image learning",
                      "2212.07143", "§3, E = beta C^alpha",
                      checked="authors against the authors' repository (github.com/LAION-AI/"
                              "scaling-laws-openclip, README; CVPR 2023); the fit against its figures.ipynb "
                              "(binned_line_fit: x split into 5 equal bins, the lowest error of each bin at the "
                              "bin centre, least-squares line in log10-log10, prediction 10^b x^a); the section "
                              "number is the first wave's"),
    recipe=Recipe("l2", None, "log", method="least-squares line in log-log space through the lowest error "
                                            "of each of 5 compute bins (a binned Pareto frontier)",
                  source="LAION-AI/scaling-laws-openclip figures.ipynb, binned_line_fit"),
    notes="Pure power law fitted on the Pareto frontier (log-log linear), hence log residuals.",
))

# ---------------------------------------------------------------- linear laws
_add(Law(
    "kappa*N", {"N": "model parameters (count)"}, name="knowledge_capacity",
    output="bits of knowledge stored",
    params={"kappa": "bits per parameter"}, bounds={"kappa": (0, INF)}, starts={"kappa": [1.0]},
    residual="log",
    citation=Citation("Allen-Zhu, Li", 2024, "Physics of Language Models: Part 3.3, Knowledge Capacity "
                      "Scaling Laws", "2404.05405", "§5, Results 1-3, 2 bits per parameter",
                      checked="section and result numbering as corrected in issue 16's review of the "
                              "paper"),
    reference={"kappa": 2.0},
    recipe=Recipe("l2", None, "log", method="the paper reads the slope off its figures",
                  source="Allen-Zhu & Li 2024 §5"),
    notes="A line through the origin; the paper states it as results (§5, Results 1-3: about 2 bits per "
          "parameter with sufficient exposures), not a numbered equation. Model sizes span decades and "
          "the scatter is relative, hence log residuals.",
))
_add(Law(
    "kappa*a", {"a": "attack tokens (activations the attacker controls)"}, name="attack_tokens",
    output="maximum number of target tokens t_max the attacker controls",
    params={"kappa": "attack multiplier"}, bounds={"kappa": (0, INF)}, starts={"kappa": [1.0]},
    citation=Citation("Fort", 2023, "Scaling Laws for Adversarial Attacks on Language Model Activations",
                      "2312.02780", "§4, t_max = kappa a",
                      checked="the paper could not be reached from this environment (no copy of its text or "
                              "code was found); form, symbols and section are the first wave's and are not "
                              "re-verified"),
    recipe=Recipe("l2", None, "linear", method="linear fit", source="lawfit default"),
    notes="A line through the origin: the attack multiplier kappa is the number of output tokens one "
          "attacked activation (token) controls.",
))
