"""Catalog entries: pretraining-loss laws of language models.

Kaplan et al. 2020, Hoffmann et al. 2022 (plain and log-sum-exp forms),
Henighan et al. 2020 (per-domain laws and N_opt(C)), Muennighoff et al. 2023,
Gadre et al. 2024 (over-training), Tissue et al. 2024 (LR annealing), Li et al.
2025 (Farseer; step law), Chen et al. 2025 (ParScale).  Equation numbers refer
to the arXiv versions cited; each citation's ``checked`` names what the entry
was checked against.
"""
from __future__ import annotations

import numpy as np

from .catalog import laws
from .law import Citation, Law
from .recipe import Recipe

INF = np.inf

KAPLAN = ("Kaplan, McCandlish, Henighan, Brown, Chess, Child, Gray, Radford, Wu, Amodei", 2020,
          "Scaling Laws for Neural Language Models", "2001.08361")
HOFFMANN = ("Hoffmann, Borgeaud, Mensch, Buchatskaya, Cai, Rutherford, et al.", 2022,
            "Training Compute-Optimal Large Language Models", "2203.15556")

_N = {"N": "model parameters, non-embedding (count)"}
_D = {"D": "training tokens (count)"}


def _add(law: Law) -> None:
    laws.add(law.name, law)


_KAPLAN_TEXT = "the paper's text (arXiv:2001.08361 v1, §1.2 eqs. 1.1-1.8, §4, §5.1-5.2 eqs. 5.1-5.6, Tables 2-3)"
#: Kaplan et al. state no fitting procedure for the basic power laws; their figures fit straight lines
#: on log-log axes, which least squares on log residuals is.
_KAPLAN_RECIPE = Recipe("l2", None, "log", method="not stated; fits drawn as lines on log-log axes",
                        source="Kaplan et al. 2020 Figs. 1 and 4 (procedure not stated)")


# ---------------------------------------------------------------- Kaplan et al. 2020
_add(Law(
    "(N_c/N)**alpha_N", _N, name="kaplan_N", output="test loss (nats/token), data and steps unlimited",
    params={"N_c": "scale (non-embedding parameters)", "alpha_N": "exponent"},
    bounds={"N_c": (0, INF), "alpha_N": (0, 2)},
    starts={"N_c": [1e10, 1e13, 1e16], "alpha_N": [0.03, 0.1, 0.3]},
    citation=Citation(*KAPLAN, "eq. 1.1", checked=_KAPLAN_TEXT), reference={"N_c": 8.8e13, "alpha_N": 0.076},
    recipe=_KAPLAN_RECIPE,
    notes="Time-series foundation models show the same power-law behaviour in parameters, data and "
          "compute (Edwards et al. 2024, arXiv:2405.13867; Yao et al. 2024, arXiv:2410.12360); we found no "
          "distinct functional form there, so kaplan_N/D/C and henighan (with an offset) serve them.",
))
_add(Law(
    "(D_c/D)**alpha_D", _D, name="kaplan_D", output="test loss (nats/token), large models, early stopping",
    params={"D_c": "scale (tokens)", "alpha_D": "exponent"},
    bounds={"D_c": (0, INF), "alpha_D": (0, 2)},
    starts={"D_c": [1e10, 1e13, 1e16], "alpha_D": [0.03, 0.1, 0.3]},
    citation=Citation(*KAPLAN, "eq. 1.2", checked=_KAPLAN_TEXT), reference={"D_c": 5.4e13, "alpha_D": 0.095},
    recipe=_KAPLAN_RECIPE,
))
_add(Law(
    "(C_c/C)**alpha_C", {"C": "minimum compute C_min (PF-days; 1 PF-day = 8.64e19 FLOP)"},
    name="kaplan_C", output="test loss (nats/token) at compute-efficient training",
    params={"C_c": "scale (PF-days)", "alpha_C": "exponent"},
    bounds={"C_c": (0, INF), "alpha_C": (0, 2)},
    starts={"C_c": [1e4, 1e8, 1e12], "alpha_C": [0.02, 0.05, 0.2]},
    citation=Citation(*KAPLAN, "eq. 1.3", checked=_KAPLAN_TEXT), reference={"C_c": 3.1e8, "alpha_C": 0.050},
    recipe=_KAPLAN_RECIPE,
))
_add(Law(
    "((N_c/N)**(alpha_N/alpha_D) + D_c/D)**alpha_D", {**_N, **_D}, name="kaplan_ND",
    output="test loss (nats/token) with early stopping",
    params={"N_c": "scale (parameters)", "alpha_N": "model-size exponent",
            "D_c": "scale (tokens)", "alpha_D": "data exponent"},
    bounds={"N_c": (0, INF), "alpha_N": (0, 2), "D_c": (0, INF), "alpha_D": (0, 2)},
    starts={"N_c": [1e11, 1e14], "alpha_N": [0.05, 0.1, 0.2], "D_c": [1e11, 1e14],
            "alpha_D": [0.05, 0.1, 0.2]},
    derived={"overfit_exponent": "alpha_N/alpha_D"},
    citation=Citation(*KAPLAN, "eq. 1.5 (= eq. 4.1); Table 2", checked=_KAPLAN_TEXT),
    reference={"N_c": 6.4e13, "alpha_N": 0.076, "D_c": 1.8e13, "alpha_D": 0.103},
    recipe=_KAPLAN_RECIPE,
    notes="overfit_exponent = alpha_N/alpha_D: data must grow as D ~ N**(alpha_N/alpha_D) to keep "
          "the overfitting penalty fixed (Kaplan et al. eq. 4.4, §4.2: D >~ 5e3 N^0.74; the same "
          "ratio is quoted after eq. 1.4). Eq. 1.7 is the compute allocation, not this relation.",
))
_add(Law(
    "(N_c/N)**alpha_N + (S_c/S)**alpha_S", {**_N, "S": "optimisation steps S_min (count)"},
    name="kaplan_NS", output="test loss (nats/token) after S_min steps",
    params={"N_c": "scale (parameters)", "alpha_N": "model-size exponent",
            "S_c": "scale (steps)", "alpha_S": "steps exponent"},
    bounds={"N_c": (0, INF), "alpha_N": (0, 2), "S_c": (0, INF), "alpha_S": (0, 3)},
    starts={"N_c": [1e11, 1e14, 1e17], "alpha_N": [0.05, 0.15], "S_c": [1e2, 1e3, 1e4],
            "alpha_S": [0.3, 0.8]},
    citation=Citation(*KAPLAN, "eq. 1.6 (= eq. 5.6); Table 3", checked=_KAPLAN_TEXT),
    reference={"N_c": 6.5e13, "alpha_N": 0.077, "S_c": 2.1e3, "alpha_S": 0.76},
    recipe=_KAPLAN_RECIPE,
    notes="S_min is the number of steps at batches far above the critical batch size; Kaplan et al. "
          "eq. 5.4 converts steps taken at batch B into S_min = S/(1 + B_crit(L)/B). The entry su_NS "
          "takes S and B and solves for L with B_crit(L) inside the law.",
))
_add(Law(
    "B_star/L**(1/alpha_B)", {"L": "loss reached (nats/token)"}, name="kaplan_bcrit",
    output="critical batch size B_crit (tokens)",
    params={"B_star": "scale (tokens)", "alpha_B": "exponent"},
    bounds={"B_star": (0, INF), "alpha_B": (0.01, 5)},
    starts={"B_star": [1e6, 1e8, 1e10], "alpha_B": [0.1, 0.2, 0.5]},
    residual="log", citation=Citation(*KAPLAN, "eq. 1.4 (= eq. 5.3)", checked=_KAPLAN_TEXT),
    reference={"B_star": 2e8, "alpha_B": 0.21},
    recipe=_KAPLAN_RECIPE,
    notes="Batch sizes span decades, so the entry fits log residuals. B_crit is defined by eq. 5.2 "
          "as E_min/S_min from the steps/examples trade-off of eq. 5.1.",
))

# ---------------------------------------------------------------- Hoffmann et al. 2022
_CHINCHILLA_DERIVED = {
    "G": "(alpha*A/(beta*B))**(1/(alpha + beta))",
    "N_opt": "G*(C/6)**a",
    "D_opt": "(C/6)**b/G",
    "L_opt": "E + A/N_opt**alpha + B/D_opt**beta",
    "tokens_per_param": "D_opt/N_opt",
}
_HOFFMANN_TEXT = ("the paper's text (arXiv:2203.15556 v1: §3.3 eqs. 2-3, Huber delta = 1e-3 and L-BFGS; eq. 4 and "
                  "'we project ... 40B parameters' at the Gopher budget; Table 2) and Epoch's replication notebook "
                  "(github.com/epoch-research/analyzing-chinchilla, data_analysis.ipynb: the unrounded fit and "
                  "the 4,500-point grid of App. D.2)")
#: Hoffmann et al. App. D.2, as run by Besiroglu et al.: a, b in {0, 5, ..., 25}, e in {-1, -0.5, ..., 1},
#: alpha, beta in {0, 0.5, ..., 2} (4,500 starts).
_LSE_GRID = {"e": [-1.0, -0.5, 0.0, 0.5, 1.0], "a": [0.0, 5.0, 10.0, 15.0, 20.0, 25.0],
             "alpha": [0.0, 0.5, 1.0, 1.5, 2.0], "b": [0.0, 5.0, 10.0, 15.0, 20.0, 25.0],
             "beta": [0.0, 0.5, 1.0, 1.5, 2.0]}
#: The same starts in the natural parameters (E = e^e, A = e^a, B = e^b): the objective is the same function.
_NATURAL_GRID = {"E": np.exp(_LSE_GRID["e"]).tolist(), "A": np.exp(_LSE_GRID["a"]).tolist(),
                 "alpha": _LSE_GRID["alpha"], "B": np.exp(_LSE_GRID["b"]).tolist(), "beta": _LSE_GRID["beta"]}
_HOFFMANN_ROUNDED = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}
_HOFFMANN_UNROUNDED = {"E": float(np.exp(0.5267228)), "A": float(np.exp(6.0073404)), "alpha": 0.33917084,
                       "B": float(np.exp(6.0179186)), "beta": 0.2849083}
_BESIROGLU = {"E": 1.81686, "A": 482.00572, "alpha": 0.34781, "B": 2085.43420, "beta": 0.36585}
_CHINCHILLA_REFERENCES = {
    "Hoffmann et al. unrounded (a = 6.0073404, b = 6.0179186, e = 0.5267228 in the paper's source, quoted "
    "in Epoch's replication notebook; N_opt = 40B at C = 5.76e23 as the paper states, where the rounded "
    "values give 32B)": _HOFFMANN_UNROUNDED,
    "Besiroglu et al. 2024 refit on the 240 digitised runs (their notebook's estimates)": _BESIROGLU,
}
_APPROACH3 = dict(parameterisation="log-sum-exp: log L = LSE(a - alpha log N, b - beta log D, e), A = e^a, "
                                   "B = e^b, E = e^e",
                  method="L-BFGS from every grid point, best kept",
                  source="Hoffmann et al. 2022 §3.3 eq. 3 and App. D.2; Besiroglu et al. 2024")
_add(Law(
    "E + A/N**alpha + B/D**beta", {"N": "model parameters (count)", **_D}, name="chinchilla",
    output="final pretraining loss (nats/token)",
    params={"E": "irreducible loss", "A": "model-size coefficient", "alpha": "model-size exponent",
            "B": "data coefficient", "beta": "data exponent"},
    bounds={"E": (0, 20), "A": (0, INF), "alpha": (0, 3), "B": (0, INF), "beta": (0, 3)},
    starts={"E": [1.0, 2.0, 3.0], "A": [1e2, 1e3, 1e4], "alpha": [0.2, 0.4, 0.8],
            "B": [1e2, 1e3, 1e4], "beta": [0.2, 0.4, 0.8]},
    derived={"a": "beta/(alpha + beta)", "b": "alpha/(alpha + beta)", **_CHINCHILLA_DERIVED},
    citation=Citation(*HOFFMANN, "eq. 2; frontier eq. 4", checked=_HOFFMANN_TEXT),
    reference=_HOFFMANN_ROUNDED, references=_CHINCHILLA_REFERENCES,
    recipe=Recipe("huber", 1e-3, "log", starts=_NATURAL_GRID, **_APPROACH3),
    notes="Natural form, fitted by least squares unless told otherwise. The published recipe (Approach 3: "
          "Huber with delta = 1e-3 on log residuals from the 4,500-point grid of App. D.2) is applied by "
          "recipe='published' or by loss='huber' without a delta; lawfit fits it in E, A, B directly "
          "(the same objective as the paper's log-sum-exp form, which is the entry chinchilla_lse). "
          "Derived (input C = 6ND, FLOP): the compute-optimal frontier of eq. 4, N_opt = G (C/6)^a, "
          "D_opt = G^-1 (C/6)^b with G = (alpha A/(beta B))^(1/(alpha+beta)), a = beta/(alpha+beta), "
          "b = alpha/(alpha+beta). reference holds the rounded values the paper prints; references the "
          "unrounded fit (which gives the paper's 40B at the Gopher budget) and Besiroglu et al.'s refit.",
))
_add(Law(
    "exp(e) + exp(a - alpha*log(N)) + exp(b - beta*log(D))", {"N": "model parameters (count)", **_D},
    name="chinchilla_lse", output="final pretraining loss (nats/token)",
    params={"e": "log E", "a": "log A", "alpha": "model-size exponent", "b": "log B",
            "beta": "data exponent"},
    bounds={"alpha": (0, 10), "beta": (0, 10)},
    starts=_LSE_GRID,
    natural={"E": "exp(e)", "A": "exp(a)", "alpha": "alpha", "B": "exp(b)", "beta": "beta"},
    derived={"E": "exp(e)", "A": "exp(a)", "B": "exp(b)",
             "exponent_a": "beta/(alpha + beta)", "exponent_b": "alpha/(alpha + beta)",
             "G": _CHINCHILLA_DERIVED["G"], "N_opt": "G*(C/6)**exponent_a",
             "D_opt": "(C/6)**exponent_b/G", "L_opt": _CHINCHILLA_DERIVED["L_opt"],
             "tokens_per_param": "D_opt/N_opt"},
    loss="huber", loss_delta=1e-3, residual="log",
    citation=Citation(*HOFFMANN, "eqs. 3-4, Appendix D.2", checked=_HOFFMANN_TEXT),
    reference=_HOFFMANN_ROUNDED, references=_CHINCHILLA_REFERENCES,
    recipe=Recipe("huber", 1e-3, "log", starts=_LSE_GRID, **_APPROACH3),
    notes="Approach 3 as published (its default is the recipe): log L = LSE(a - alpha log N, b - beta log D, "
          "e) with A = exp(a), B = exp(b), E = exp(e), minimising a Huber loss (delta = 1e-3) of the log "
          "residuals from the 4,500-point grid of Appendix D.2. The formula is the sum of the three "
          "exponentials; with residual='log' it is compared with log L, which is the LSE. to_natural() "
          "and FitResult.params report E, A, B next to e, a, b. The derived exponents are named "
          "exponent_a/exponent_b here because a and b are parameters; A and B in the derived formulas "
          "stand for exp(a) and exp(b).",
))
# ---------------------------------------------------------------- Henighan et al. 2020
HENIGHAN = ("Henighan, Kaplan, Katz, Chen, Hesse, Jackson, Jun, Brown, Dhariwal, Gray, et al.", 2020,
            "Scaling Laws for Autoregressive Generative Modeling", "2010.14701")
_HENIGHAN_TEXT = "the paper's text (arXiv:2010.14701 v2, §1: eq. 1.1, eq. 1.4 and beta ~ 0.7, Fig. 2)"
_add(Law(
    "L_inf + (x0/x)**alpha", {"x": "model parameters N, or compute C (PF-days)"}, name="henighan",
    output="loss (nats per token/image/...) in one domain",
    params={"L_inf": "irreducible loss (entropy of the data)", "x0": "scale (units of x)",
            "alpha": "exponent"},
    bounds={"L_inf": (0, INF), "x0": (0, INF), "alpha": (0, 3)},
    starts={"L_inf": [0.0, 1.0, 3.0], "x0": [1e1, 1e4, 1e7, 1e10], "alpha": [0.05, 0.15, 0.4]},
    citation=Citation(*HENIGHAN, "eq. 1.1", checked=_HENIGHAN_TEXT),
    recipe=Recipe("l2", None, "linear", method="not stated in the paper",
                  source="Henighan et al. 2020 (procedure not stated)"),
    notes="One law per domain (images at several resolutions, video, text-to-image, image-to-text, math); "
          "x is the model size N or the compute C. L_inf estimates the data's entropy, (x0/x)**alpha the "
          "reducible loss (the KL divergence to the true distribution, eq. 1.2). The compute-optimal model "
          "size is its own entry, henighan_nopt.",
))
_add(Law(
    "(C/C0)**beta", {"C": "training compute (PF-days)"}, name="henighan_nopt",
    output="compute-optimal model size N_opt (parameters, non-embedding)",
    params={"C0": "scale (PF-days at which N_opt = 1)", "beta": "exponent"},
    bounds={"C0": (0, INF), "beta": (0, 3)},
    starts={"C0": [1e-12, 1e-9, 1e-6], "beta": [0.5, 0.7, 0.9]},
    residual="log",
    citation=Citation(*HENIGHAN, "eq. 1.4; Fig. 2", checked=_HENIGHAN_TEXT),
    reference={"beta": 0.7},
    recipe=Recipe("l2", None, "log", method="power law on log-log axes",
                  source="Henighan et al. 2020 Fig. 2 (procedure not stated)"),
    derived={"tokens_exponent": "1 - beta"},
    notes="N_opt(C) is a pure power law with beta ~ 0.7 in every domain (eq. 1.4); training tokens then "
          "grow as C^(1 - beta) (tokens_exponent), i.e. D ~ N^0.4 in the paper's words. The paper reports "
          "the exponent, not C0; the scale parameterisation (C/C0)^beta is ours.",
))

# ---------------------------------------------------------------- Muennighoff et al. 2023
_EFF_N = "U_N + U_N*R_N_star*(1 - exp(-R_N/R_N_star))"
_EFF_D = "U_D + U_D*R_D_star*(1 - exp(-R_D/R_D_star))"
#: The C4 single-epoch fit of App. A (a, b, e in log form; alpha = beta), the base of the second stage.
_MUENNIGHOFF_BASE = {"E": float(np.exp(0.6254804)), "A": float(np.exp(6.255414)), "alpha": 0.3526596,
                     "B": float(np.exp(7.3049974)), "beta": 0.3526596}
_add(Law(
    f"E + A/({_EFF_N})**alpha + B/({_EFF_D})**beta",
    {"U_N": "base parameters: min(N, the compute-optimal N for U_D unique tokens)",
     "R_N": "excess parameters as repetitions: N/U_N - 1",
     "U_D": "unique training tokens", "R_D": "repetitions of the data: epochs - 1"},
    name="muennighoff", output="final loss (nats/token) with repeated data",
    params={"E": "irreducible loss", "A": "parameter coefficient", "alpha": "parameter exponent",
            "B": "data coefficient", "beta": "data exponent",
            "R_N_star": "decay constant of excess parameters", "R_D_star": "decay constant of repeated data"},
    bounds={"E": (0, 20), "A": (0, INF), "alpha": (0, 3), "B": (0, INF), "beta": (0, 3),
            "R_N_star": (1e-3, 1e4), "R_D_star": (1e-3, 1e4)},
    starts={"E": [1.5, 2.5], "A": [1e2, 1e3], "alpha": [0.2, 0.5], "B": [1e2, 1e3, 1e4],
            "beta": [0.2, 0.5], "R_N_star": [2.0, 10.0], "R_D_star": [5.0, 30.0]},
    derived={"N_eff": _EFF_N, "D_eff": _EFF_D},
    citation=Citation("Muennighoff, Rush, Barak, Le Scao, Piktus, Tazi, Pyysalo, Wolf, Raffel", 2023,
                      "Scaling Data-Constrained Language Models", "2305.16264",
                      "§3.1 (D', N' and the final L(U_N, U_D, R_N, R_D)); App. A (fit)",
                      checked="the paper's LaTeX source of §3.1 and App. A (the final equation, U_N = "
                              "min(N_opt(U_D), N), the second-stage Huber objective with its start grid, "
                              "R*_N = 5.309743, R*_D = 15.387756); the C4 base fit as used by ColPret "
                              "(IBM/ColPret) and the authors' datablations code"),
    reference={"R_N_star": 5.309743, "R_D_star": 15.387756},
    references={"App. A: the C4 single-epoch base fit (a = 6.255414, b = 7.3049974, e = 0.6254804, "
                "alpha = beta = 0.3526596) with the fitted decay constants":
                {**_MUENNIGHOFF_BASE, "R_N_star": 5.309743, "R_D_star": 15.387756}},
    recipe=Recipe("huber", 1e-3, "log", starts={"R_N_star": [0.0, 4.0, 8.0, 12.0, 16.0, 20.0],
                                                "R_D_star": [0.0, 4.0, 8.0, 12.0, 16.0, 20.0]},
                  fixed=_MUENNIGHOFF_BASE,
                  parameterisation="log-sum-exp as Hoffmann et al., with N' and D' in place of N and D",
                  method="L-BFGS; second stage only (E, A, B, alpha, beta fixed at the C4 fit)",
                  source="Muennighoff et al. 2023 App. A"),
    notes="Inputs follow the paper's definitions: U_D unique tokens, R_D = D/U_D - 1 repetitions; "
          "U_N = min(N, N_opt(U_D)) with N_opt from the compute-optimal allocation for U_D tokens, "
          "R_N = N/U_N - 1. The paper fits E, A, B, alpha, beta on single-epoch runs first (a Chinchilla "
          "fit on C4) and then R_N_star, R_D_star with those held fixed: recipe='published' runs that "
          "second stage with the paper's C4 base; lawfit.methods.chain runs both stages on your data "
          "(see lawfit.methods.muennighoff_two_stage). Starts of 0 are moved to the lower bound 1e-3.",
))

_G = "(alpha*A/(beta*B))**(1/(alpha + beta))"
_UN = f"minimum(N, {_G}*(U_D*{_G})**(beta/alpha))"
_RAW_N = f"({_UN} + {_UN}*R_N_star*(1 - exp(-(N/{_UN} - 1)/R_N_star)))"
_RAW_D = "(U_D + U_D*R_D_star*(1 - exp(-(D/U_D - 1)/R_D_star)))"
_add(Law(
    f"E + A/{_RAW_N}**alpha + B/{_RAW_D}**beta",
    {"N": "model parameters (count)", "D": "training tokens seen (count, repeats included)",
     "U_D": "unique training tokens (count)"},
    name="muennighoff_raw", output="final loss (nats/token) with repeated data",
    params={"E": "irreducible loss", "A": "parameter coefficient", "alpha": "parameter exponent",
            "B": "data coefficient", "beta": "data exponent",
            "R_N_star": "decay constant of excess parameters", "R_D_star": "decay constant of repeated data"},
    bounds={"E": (0, 20), "A": (0, INF), "alpha": (0, 3), "B": (0, INF), "beta": (0, 3),
            "R_N_star": (1e-3, 1e4), "R_D_star": (1e-3, 1e4)},
    starts={"E": [1.5, 2.5], "A": [1e2, 1e3], "alpha": [0.2, 0.5], "B": [1e2, 1e3, 1e4],
            "beta": [0.2, 0.5], "R_N_star": [2.0, 10.0], "R_D_star": [5.0, 30.0]},
    derived={"U_N": _UN, "N_eff": _RAW_N, "D_eff": _RAW_D},
    display="muennighoff with its inputs computed inside: U_N = min(N, G (U_D G)^(beta/alpha)), "
            "G = (alpha A/(beta B))^(1/(alpha+beta)), R_N = N/U_N - 1, R_D = D/U_D - 1",
    citation=Citation("Muennighoff, Rush, Barak, Le Scao, Piktus, Tazi, Pyysalo, Wolf, Raffel", 2023,
                      "Scaling Data-Constrained Language Models", "2305.16264",
                      "§3.1 (final L(U_N, U_D, R_N, R_D)) and App. A (U_N = min(N_opt(U_D), N))",
                      checked="as muennighoff; U_N as the paper's App. A writes it (D_opt = U_D mapped to "
                              "N_opt through the Chinchilla frontier of the same fit)"),
    reference={"R_N_star": 5.309743, "R_D_star": 15.387756},
    references={"App. A: the C4 base fit with the fitted decay constants":
                {**_MUENNIGHOFF_BASE, "R_N_star": 5.309743, "R_D_star": 15.387756}},
    recipe=Recipe("huber", 1e-3, "log", starts={"R_N_star": [0.0, 4.0, 8.0, 12.0, 16.0, 20.0],
                                                "R_D_star": [0.0, 4.0, 8.0, 12.0, 16.0, 20.0]},
                  fixed=_MUENNIGHOFF_BASE, parameterisation="as muennighoff",
                  method="L-BFGS; second stage only (the base fixed)", source="Muennighoff et al. 2023 App. A"),
    notes="The same law as muennighoff from raw (N, D, U_D): U_N depends on the base parameters (through "
          "the compute-optimal N for U_D unique tokens), so it is computed inside the law rather than "
          "taken as an input. lawfit.methods.muennighoff_two_stage fits the paper's two stages (a "
          "Chinchilla fit on single-epoch runs, then R_N_star and R_D_star with that base fixed) and "
          "bootstraps both together.",
))

# ---------------------------------------------------------------- Gadre et al. 2024
GADRE = ("Gadre, Smyrnis, Shankar, Gururangan, Wortsman, Shao, Mercat, Fang, Li, Keh, et al.", 2024,
         "Language models scale reliably with over-training and on downstream tasks", "2403.08540")
_GADRE_CODE = ("the authors' code (github.com/mlfoundations/scaling, scaling/laws.py: powlaw_ours and its "
               "curve_fit grid; decay_ours) and the form in the shared data's SOURCE.md")
_add(Law(
    "E + (a*M**eta + b*M**-eta)*C**-eta",
    {"C": "training compute 6ND (FLOP)", "M": "token multiplier D/N (tokens per parameter)"},
    name="gadre_overtraining", output="validation loss (nats/token)",
    params={"E": "irreducible loss", "a": "coefficient of M**eta", "b": "coefficient of M**-eta",
            "eta": "compute exponent"},
    bounds={"E": (0, 20), "a": (0, INF), "b": (0, INF), "eta": (0, 2)},
    starts={"E": [1.0, 2.0, 3.0], "a": [1e1, 1e2, 1e3, 1e4], "b": [1e1, 1e2, 1e3, 1e4],
            "eta": [0.05, 0.15, 0.3]},
    derived={"M_opt": "(b/a)**(1/(2*eta))", "L_opt": "E + 2*sqrt(a*b)*C**-eta"},
    citation=Citation(*GADRE, "eq. 4", checked=_GADRE_CODE),
    recipe=Recipe("l2", None, "linear",
                  starts={"E": [0.0, 1.0, 2.0, 10.0], "a": [1.2e2, 3.6e2, 1.2e3, 3.6e3],
                          "b": [1e2, 3e2, 1e3, 3e3], "eta": [0.05, 0.15]},
                  parameterisation="L = E + alpha N^b' + beta 6^(b'/2) (M N)^b' with b' = -2 eta, "
                                   "a = alpha 6^eta, b = beta",
                  method="scipy curve_fit from a 4 x 4 x 2 x 4 grid, best residual kept",
                  source="github.com/mlfoundations/scaling, curve_fit_powlaw_ours"),
    notes="Derived from the Chinchilla form with alpha = beta and C = 6ND; for fixed M the reducible "
          "loss is a power law in C with the same exponent eta for every M. M_opt = (b/a)^(1/(2 eta)) "
          "minimises the loss at fixed C and L_opt(C) = E + 2 sqrt(ab) C^-eta is the loss there (our "
          "closed forms of eq. 4). The released code writes the same law as "
          "E + alpha N^b' + beta 6^(b'/2) (M N)^b' (b' = -2 eta); the recipe's grid is its grid mapped "
          "to a, b, eta (a = alpha 6^eta with eta ~ 0.1).",
))

# ---------------------------------------------------------------- Tissue et al. 2024
_add(Law(
    "L0 + A*S1**(-alpha) - C*S2",
    {"S1": "forward area: sum of learning rates so far (lawfit.catalog.lr_areas)",
     "S2": "annealing area: sum of the annealing momentum (lawfit.catalog.lr_areas)"},
    name="tissue_lr_annealing", output="validation loss at a training step (nats/token)",
    params={"L0": "irreducible loss", "A": "forward-area coefficient", "alpha": "forward-area exponent",
            "C": "annealing coefficient"},
    bounds={"L0": (0, 20), "A": (0, INF), "alpha": (0, 5), "C": (0, INF)},
    starts={"L0": [1.0, 2.0, 3.0], "A": [0.1, 1.0, 10.0], "alpha": [0.2, 0.5, 1.0],
            "C": [0.1, 1.0, 10.0]},
    citation=Citation("Tissue, Wang, Wang", 2024, "Scaling Law with Learning Rate Annealing",
                      "2408.11029", "eq. 1; S1, S2 in §3",
                      checked="authors (Howe Tissue, Venus Wang, Lu Wang), the form L(s) = L0 + A S1^-alpha "
                              "- C S2 and the meaning of S1 (area under the LR curve) and S2 (LR annealing "
                              "area) against the arXiv v1/v2 abstracts (v2 also appeared at NeurIPS 2025); "
                              "fitting procedure not re-checked"),
    recipe=Recipe("l2", None, "linear", method="not re-checked in the paper",
                  source="lawfit default (the paper's fitting details were not verified)"),
    notes="Every point of a loss curve is one data point: compute S1 and S2 at each logged step with "
          "lawfit.catalog.lr_areas(schedule, decay) and fit the law across steps and schedules. The "
          "decay factor lambda of S2 is not fitted (the paper uses values near 0.999). lr_areas leaves "
          "the warm-up rise out of S2 and takes eta_0 = eta_1; both are our reading where the paper "
          "does not spell them out.",
))

# ---------------------------------------------------------------- Li et al. 2025 (StepFun)
_add(Law(
    "exp(a3*N**gamma + b3) + exp(a2*N**beta + b2)*D**(-exp(a1*N**alpha + b1))",
    {"N": "model parameters (count)", **_D}, name="farseer", output="loss (bits per character or nats/token)",
    params={"a1": "data-exponent law: coefficient", "b1": "data-exponent law: offset",
            "alpha": "data-exponent law: exponent of N", "a2": "data-coefficient law: coefficient",
            "b2": "data-coefficient law: offset", "beta": "data-coefficient law: exponent of N",
            "a3": "model term: coefficient", "b3": "model term: offset", "gamma": "model term: exponent of N"},
    bounds={"alpha": (-2, 2), "beta": (-2, 2), "gamma": (-2, 2)},
    starts={"a1": [1.0, 3.0], "b1": [-2.0], "alpha": [-0.1], "a2": [-5.0, 5.0], "b2": [3.0, 6.0],
            "beta": [-0.1], "a3": [5.0, 20.0], "b3": [0.0, 0.5], "gamma": [-0.3, -0.1]},
    derived={"data_exponent": "exp(a1*N**alpha + b1)", "data_coefficient": "exp(a2*N**beta + b2)",
             "model_term": "exp(a3*N**gamma + b3)"},
    citation=Citation("Li, Zheng, Wang, Ding, Wang, Wang, Xuyang, Ding, Zhou, Zhang, Jiang", 2025,
                      "Predictable Scale: Part II, Farseer: A Refined Scaling Law in Large Language Models",
                      "2506.10972", "§3, final form of L(N, D)",
                      checked="author list against the arXiv v3 HTML title page; the form against §3 "
                              "as summarised there (equation number not verified)"),
    recipe=Recipe("l2", None, "linear", method="differential piecewise (staged) fitting; see "
                                               "lawfit.methods.chain for a staged fit",
                  source="Li et al. 2025 §3 (staged procedure, not reproduced as one objective)"),
    notes="L = E + U(N) + V(D) + H(N,D) with the data terms modelled as B(N) D^-A(N) and both A(N) and "
          "B(N) (and E + U(N)) as exponentials of power laws in N, giving 9 parameters. The authors fit it "
          "in stages (differential piecewise fitting); a direct joint fit needs starts near the answer, "
          "so the default grid is only a starting point. The paper's constants assume its own scaling of "
          "N and D; we did not find an equation number we could verify, hence the section reference.",
))
#: Step Law v1 (arXiv:2503.04715v1) author list.
STEPLAW = ("Li, Zheng, Hu, Wang, Zhang, Wang, Xuyang, Fan, Zhou, Zhang, Jiang", 2025,
           "Predictable Scale: Part I, Optimal Hyperparameter Scaling Law in Large Language Model Pretraining",
           "2503.04715")
_STEPLAW_CHECKED = ("author list of v1 (Houyi Li, Wenzhen Zheng, Jingcheng Hu, Qiufeng Wang, Hanshan Zhang, "
                    "Zili Wang, Shijie Xuyang, Yuantao Fan, Shuigeng Zhou, Xiangyu Zhang, Daxin Jiang); "
                    "constants against the authors' bootstrap table "
                    "(github.com/step-law/steplaw, data/1004_fitted_lr_bs_scaling_model_parameters.csv: "
                    "log-linear fits)")
_STEPLAW_RECIPE = Recipe("l2", None, "log", method="least squares in log space (log-linear regression)",
                         source="github.com/step-law/steplaw fitted-parameter table")
_add(Law(
    "c*N**alpha*D**beta", {"N": "model parameters, non-embedding (count)", **_D}, name="steplaw_lr",
    output="optimal peak learning rate",
    params={"c": "coefficient", "alpha": "model-size exponent", "beta": "data exponent"},
    bounds={"c": (0, INF), "alpha": (-3, 3), "beta": (-3, 3)},
    starts={"c": [1e-2, 1.0, 1e2], "alpha": [-1.0, -0.5], "beta": [0.0, 0.5]},
    residual="log",
    citation=Citation(*STEPLAW, "§3, Step Law for the learning rate", checked=_STEPLAW_CHECKED),
    reference={"c": 1.79, "alpha": -0.713, "beta": 0.307}, recipe=_STEPLAW_RECIPE,
))
_add(Law(
    "c*D**beta", _D, name="steplaw_bs", output="optimal batch size (tokens)",
    params={"c": "coefficient", "beta": "data exponent"},
    bounds={"c": (0, INF), "beta": (-3, 3)},
    starts={"c": [1e-2, 1.0, 1e2], "beta": [0.3, 0.6]},
    residual="log",
    citation=Citation(*STEPLAW, "§3, Step Law for the batch size", checked=_STEPLAW_CHECKED),
    reference={"c": 0.58, "beta": 0.571}, recipe=_STEPLAW_RECIPE,
))

# ---------------------------------------------------------------- Chen et al. 2025 (ParScale)
_PARSCALE_GRID = {"E": [0.5, 1.0, 2.0], "A": [1e6, 1e8, 1e10], "k": [0.1, 0.5, 1.0], "alpha": [0.1, 0.3]}
_add(Law(
    "E + (A/(N*(k*log(P) + 1)))**alpha", {**_N, "P": "number of parallel streams"}, name="parscale",
    output="loss (nats/token)",
    params={"E": "irreducible loss", "A": "scale (parameters)", "k": "gain per log stream",
            "alpha": "exponent"},
    bounds={"E": (0, 20), "A": (0, INF), "k": (0, INF), "alpha": (0, 3)},
    starts=_PARSCALE_GRID,
    derived={"N_equivalent": "N*(k*log(P) + 1)"},
    loss="huber", loss_delta=1e-3, residual="log",
    citation=Citation("Chen, Hui, Cui, Yang, Liu, Sun, Lin, Liu", 2025,
                      "Parallel Scaling Law for Language Models", "2505.10475",
                      "§3, parallel scaling law",
                      checked="author list against the paper's listing (Mouxiang Chen, Binyuan Hui, Zeyu "
                              "Cui, Jiaxi Yang, Dayiheng Liu, Jianling Sun, Junyang Lin, Zhongxin Liu); "
                              "the fitting recipe (Huber, delta = 1e-3, on log loss) as reported in "
                              "issue 16's review of the authors' fits"),
    recipe=Recipe("huber", 1e-3, "log", starts=_PARSCALE_GRID,
                  method="Huber on log loss, as Hoffmann et al.", source="Chen et al. 2025 §3 (fits)"),
    notes="P parallel streams act like multiplying the parameters by k log P + 1 (N_equivalent). "
          "log is the natural logarithm here; another base only rescales k. The default fit is the "
          "authors' Huber (delta = 1e-3) on log residuals; loss='l2' gives least squares.",
))
