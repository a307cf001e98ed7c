"""Catalog entries: translation and downstream-task laws.

Ghorbani et al. 2021 and Fernandes et al. 2023 (neural machine translation),
Isik et al. 2024 (downstream BLEU and cross-entropy vs pretraining data), Gadre
et al. 2024 (loss to top-1 error), Hu et al. 2024 (PassUntil), Bhagia et al.
2024 (sigmoidal accuracy vs loss).
"""
from __future__ import annotations

import numpy as np

from .catalog import laws
from .entries_lm import GADRE
from .law import Citation, Law
from .recipe import Recipe

INF = np.inf


def _add(law: Law) -> None:
    laws.add(law.name, law)


# ---------------------------------------------------------------- NMT
_add(Law(
    "L_inf + alpha*(Ne_ref/Ne)**p_e*(Nd_ref/Nd)**p_d",
    {"Ne": "encoder parameters, non-embedding (count)", "Nd": "decoder parameters, non-embedding (count)"},
    name="ghorbani_bivariate", output="per-token cross-entropy on the test set",
    params={"alpha": "coefficient", "p_e": "encoder exponent", "p_d": "decoder exponent",
            "L_inf": "irreducible loss", "Ne_ref": "encoder normaliser (fixed)",
            "Nd_ref": "decoder normaliser (fixed)"},
    bounds={"alpha": (0, INF), "p_e": (0, 3), "p_d": (0, 3), "L_inf": (0, 20)},
    starts={"alpha": [0.3, 1.0, 3.0], "p_e": [0.1, 0.3, 0.6], "p_d": [0.1, 0.3, 0.6],
            "L_inf": [0.5, 1.5, 3.0]},
    fixed={"Ne_ref": 1e8, "Nd_ref": 1e8},
    citation=Citation("Ghorbani, Firat, Freitag, Bapna, Krikun, Garcia, Chelba, Cherry", 2021,
                      "Scaling Laws for Neural Machine Translation", "2109.07740", "eq. 2",
                      checked="author list against the arXiv/ar5iv title page (Behrooz Ghorbani, Orhan Firat, "
                              "Markus Freitag, Ankur Bapna, Maxim Krikun, Xavier Garcia, Ciprian Chelba, Colin "
                              "Cherry; ICLR 2022); eq. 2 as the bivariate encoder/decoder law against the "
                              "Figure 2 caption ('Eq. (2) is jointly fitted to the empirical loss values from "
                              "encoder scaling and decoder scaling experiments'); the normalisers' values were "
                              "not reachable (see notes)"),
    recipe=Recipe("l2", None, "linear", method="not re-checked", source="lawfit default"),
    notes="Ne_ref and Nd_ref are normalisation constants, not free parameters (with alpha they are not "
          "identifiable); they are fixed at 1e8 -- set them to your baseline model's encoder and decoder "
          "sizes with fixed={...} as the paper does. The exponents differ for encoder and decoder, "
          "which is why the total parameter count alone does not predict the loss.",
))
_add(Law(
    "beta*N**-alpha + L_inf", {"N": "model parameters (count)"}, name="fernandes_multilingual",
    output="cross-entropy of one language pair",
    params={"beta": "multiplicative factor (depends on the pair's mixture weight)",
            "alpha": "exponent (shared)", "L_inf": "irreducible loss"},
    bounds={"beta": (0, INF), "alpha": (0, 3), "L_inf": (0, 20)},
    starts={"beta": [1e1, 1e2, 1e3, 1e4], "alpha": [0.1, 0.3, 0.6], "L_inf": [0.5, 1.0, 2.0]},
    shared=("alpha",),
    citation=Citation("Fernandes, Ghorbani, Garcia, Freitag, Firat", 2023,
                      "Scaling Laws for Multilingual Neural Machine Translation", "2302.09650",
                      "eq. 1; shared exponent §3",
                      aliases=("Understanding Multi-Task Scaling in Machine Translation",),
                      checked="author list against the paper's title page (Patrick Fernandes, Behrooz "
                              "Ghorbani, Xavier Garcia, Markus Freitag, Orhan Firat); the findings the entry "
                              "encodes (mixture weights change only the multiplicative factor, the exponent is "
                              "shared, effective parameters per pair) against the abstract; the ICLR 2023 "
                              "OpenReview submission's title is kept as an alias. Equation and section numbers "
                              "are the first wave's (the paper body was not reachable)"),
    recipe=Recipe("l2", None, "linear", method="joint fit with alpha shared (lawfit.fit_shared)",
                  source="Fernandes et al. 2023 §3"),
    notes="One law per language pair (group); changing a pair's weight in the training mixture changes "
          "only beta, so a joint fit (lawfit.catalog.fit_shared) shares alpha across groups by default. "
          "For groups that are mixture weightings of the same pair the paper's finding also keeps L_inf "
          "fixed, i.e. shared=('alpha', 'L_inf'). The effective-parameter form beta_p (f_p(w) N)^-alpha "
          "is the same law with beta = beta_p f_p(w)^-alpha.",
))

# ---------------------------------------------------------------- Isik et al. 2024
ISIK = ("Isik, Ponomareva, Hazimeh, Paparas, Vassilvitskii, Koyejo", 2024,
        "Scaling Laws for Downstream Task Performance in Machine Translation", "2402.04177")
#: arXiv v1 appeared as "Scaling Laws for Downstream Task Performance of Large Language Models".
_ISIK_KW = dict(aliases=("Scaling Laws for Downstream Task Performance of Large Language Models",),
                checked="titles of arXiv v1 and the ICLR 2025 version; author list (Berivan Isik, Natalia "
                        "Ponomareva, Hussein Hazimeh, Dimitris Paparas, Sergei Vassilvitskii, Sanmi Koyejo) and "
                        "both forms, f(Dp) = (log(A Dp^alpha))^beta and L(Dp) = E + A/Dp^alpha, against the "
                        "paper's Figure 9 caption; equation numbers not re-verified")
_add(Law(
    "(log(A*Dp**alpha))**beta", {"Dp": "pretraining tokens (count)"}, name="isik_bleu",
    output="translation quality after finetuning (BLEU or COMET)",
    params={"A": "scale", "alpha": "data exponent inside the log", "beta": "outer exponent"},
    bounds={"A": (0, INF), "alpha": (0, 5), "beta": (0, 10)},
    starts={"A": [1e-2, 1.0, 1e2], "alpha": [0.1, 0.3, 0.6], "beta": [1.0, 2.0, 3.0]},
    citation=Citation(*ISIK, "eq. 1", **_ISIK_KW),
    recipe=Recipe("l2", None, "linear", method="not re-checked", source="lawfit default"),
    notes="Holds when pretraining and downstream data are well aligned; with misalignment BLEU can be "
          "non-monotonic in Dp while the cross-entropy (isik_ce) still follows its power law. The law "
          "needs A*Dp**alpha > 1 over the data.",
))
_add(Law(
    "E + A/Dp**alpha", {"Dp": "pretraining tokens (count)"}, name="isik_ce",
    output="downstream cross-entropy after finetuning",
    params={"E": "irreducible loss", "A": "coefficient", "alpha": "exponent"},
    bounds={"E": (0, 20), "A": (0, INF), "alpha": (0, 3)},
    starts={"E": [0.0, 0.5, 1.5], "A": [1e1, 1e2, 1e3, 1e4], "alpha": [0.1, 0.3, 0.6]},
    citation=Citation(*ISIK, "eq. 2", **_ISIK_KW),
    recipe=Recipe("l2", None, "linear", method="not re-checked", source="lawfit default"),
))

# ---------------------------------------------------------------- Gadre et al. 2024
_add(Law(
    "epsilon - k*exp(-gamma*L)", {"L": "validation loss (nats/token, e.g. C4 eval)"}, name="gadre_error",
    output="average top-1 error over downstream tasks",
    params={"epsilon": "error of a model that learned nothing", "k": "scale", "gamma": "rate"},
    bounds={"epsilon": (0, 1.5), "k": (0, INF), "gamma": (0, 20)},
    starts={"epsilon": [0.7, 0.9, 1.0], "k": [1.0, 10.0, 100.0], "gamma": [0.5, 1.0, 2.0]},
    citation=Citation(*GADRE, "eq. 5", checked="the authors' code (github.com/mlfoundations/scaling, "
                                               "scaling/laws.py: decay_ours, e - a exp(x)^-b, fitted by "
                                               "curve_fit from its default start)"),
    recipe=Recipe("l2", None, "linear", starts={"epsilon": [1.0], "k": [1.0], "gamma": [1.0]},
                  method="scipy curve_fit from p0 = 1", source="mlfoundations/scaling curve_fit_decay_ours"),
    notes="Maps loss to error, so chained with gadre_overtraining it predicts downstream error from "
          "compute and the token multiplier (lawfit.methods.chain fits both with one bootstrap).",
))

# ---------------------------------------------------------------- Hu et al. 2024
_add(Law(
    "exp(-c*N**-alpha)", {"N": "model parameters (count)"}, name="passuntil",
    output="PassUntil task pass rate (probability, 0-1)",
    params={"c": "scale", "alpha": "exponent"},
    bounds={"c": (0, INF), "alpha": (0, 5)},
    starts={"c": [1e2, 1e4, 1e6, 1e8], "alpha": [0.2, 0.5, 1.0]},
    residual="log",
    citation=Citation("Hu, Liu, Han, Zhang, He, Zhao, Lin, Ding, Ou, Zeng, Liu, Sun", 2024,
                      "Predicting Emergent Abilities with Infinite Resolution Evaluation", "2310.03262",
                      "eq. 3", aliases=("Unlock Predictable Scaling from Emergent Abilities",),
                      checked="titles of arXiv v1 and the ICLR 2024 version; author list against the "
                              "arXiv HTML title page (Shengding Hu, Xin Liu, Xu Han, Xinrong Zhang, Chaoqun "
                              "He, Weilin Zhao, Yankai Lin, Ning Ding, Zebin Ou, Guoyang Zeng, Zhiyuan Liu, "
                              "Maosong Sun); eq. 3 as the task scaling law against the paper's Figure 1 caption "
                              "(log(-log PU) linear in log N 'supporting the task scaling law (Eq.(3))')"),
    recipe=Recipe("l2", None, "log", method="linear fit of log(-log PU) on log N",
                  source="Hu et al. 2024 (log(-log PU) linear in log N)"),
    notes="log(-log PU) is linear in log N. The paper writes PU = exp(c N^-alpha) with c < 0; here c > 0 "
          "carries the sign. Pass rates span orders of magnitude, hence log residuals. Tasks showing "
          "'accelerated emergence' bend away from this law (concave in log(-log PU)).",
))

# ---------------------------------------------------------------- Bhagia et al. 2024
def _sigmoid_starts(x, y):
    """centre at quartiles of x, both signs of the slope, amplitude from the range of y"""
    (v,) = x.values()
    y = np.asarray(y, float)
    lo, hi = float(np.min(y)), float(np.max(y))
    span = max(hi - lo, 1e-12)
    scale = float(np.std(v)) or 1.0
    return {"a": [span, 2 * span], "k": [s / scale for s in (-8.0, -2.0, 2.0, 8.0)],
            "x0": np.quantile(v, [0.25, 0.5, 0.75]).tolist(), "b": [lo - 0.5 * span, lo]}


_add(Law(
    "a*sigmoid(k*(x - x0)) + b", {"x": "task loss of the model (or log compute)"}, name="sigmoid_accuracy",
    output="downstream accuracy",
    params={"a": "amplitude (accuracy range)", "k": "slope (negative: accuracy falls with loss)",
            "x0": "midpoint", "b": "floor (e.g. chance accuracy)"},
    bounds={"a": (0, INF)},
    starts=_sigmoid_starts,
    citation=Citation("Bhagia, Liu, Wettig, Heineman, Tafjord, Jha, Soldaini, Smith, Groeneveld, Koh, "
                      "et al.", 2024, "Establishing Task Scaling Laws via Compute-Efficient Model Ladders",
                      "2412.04403", "eq. 2",
                      checked="the authors' code (github.com/allenai/OLMo-ladder @ 67a3f44: "
                              "scaling/fitting_functions.py sigmoid, scripts/step2.py fit_step2)"),
    recipe=Recipe("l2", None, "linear", method="scipy curve_fit with a in [-1, 0], x0 >= 0, k >= 0, "
                                               "b in [0, 1], p0 = (task minimum - 1, 0.9, 3, task maximum), "
                                               "plus an 'ideal' point (loss 0, accuracy = task maximum)",
                  source="OLMo-ladder scripts/step2.py (see lawfit.datasets.olmo_two_step)"),
    notes="The common 4-parameter logistic a/(1 + exp(-k(x - x0))) + b; sigmoid(u) = 1/(1 + exp(-u)). "
          "Bhagia et al. map task loss to accuracy with it (k < 0); with x = log compute it is the "
          "sigmoidal accuracy-vs-compute curve. Default starts depend on the data (quartiles of x).",
))
