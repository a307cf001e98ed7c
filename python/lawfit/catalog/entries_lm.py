"""Catalog entries: pretraining-loss laws of language models.

Kaplan et al. 2020, Hoffmann et al. 2022 (plain and log-sum-exp forms),
Henighan et al. 2020, Muennighoff et al. 2023, Gadre et al. 2024 (over-training),
Tissue et al. 2024 (LR annealing), Li et al. 2025 (Farseer; step law), Chen et
al. 2025 (ParScale).  Equation numbers refer to the arXiv versions cited.
"""
from __future__ import annotations

import numpy as np

from .catalog import laws
from .law import Citation, Law

INF = np.inf

KAPLAN = ("Kaplan, McCandlish, Henighan, Brown, Chess, Child, Gray, Radford, Wu, Amodei", 2020,
          "Scaling Laws for Neural Language Models", "2001.08361")
HOFFMANN = ("Hoffmann, Borgeaud, Mensch, Buchatskaya, Cai, Rutherford, et al.", 2022,
            "Training Compute-Optimal Large Language Models", "2203.15556")

_N = {"N": "model parameters, non-embedding (count)"}
_D = {"D": "training tokens (count)"}


def _add(law: Law) -> None:
    laws.add(law.name, law)


# ---------------------------------------------------------------- Kaplan et al. 2020
_add(Law(
    "(N_c/N)**alpha_N", _N, name="kaplan_N", output="test loss (nats/token), data and steps unlimited",
    params={"N_c": "scale (non-embedding parameters)", "alpha_N": "exponent"},
    bounds={"N_c": (0, INF), "alpha_N": (0, 2)},
    starts={"N_c": [1e10, 1e13, 1e16], "alpha_N": [0.03, 0.1, 0.3]},
    citation=Citation(*KAPLAN, "eq. 1.1"), reference={"N_c": 8.8e13, "alpha_N": 0.076},
    notes="Time-series foundation models show the same power-law behaviour in parameters, data and "
          "compute (Edwards et al. 2024, arXiv:2405.13867; Yao et al. 2024, arXiv:2410.12360); we found no "
          "distinct functional form there, so kaplan_N/D/C and henighan (with an offset) serve them.",
))
_add(Law(
    "(D_c/D)**alpha_D", _D, name="kaplan_D", output="test loss (nats/token), large models, early stopping",
    params={"D_c": "scale (tokens)", "alpha_D": "exponent"},
    bounds={"D_c": (0, INF), "alpha_D": (0, 2)},
    starts={"D_c": [1e10, 1e13, 1e16], "alpha_D": [0.03, 0.1, 0.3]},
    citation=Citation(*KAPLAN, "eq. 1.2"), reference={"D_c": 5.4e13, "alpha_D": 0.095},
))
_add(Law(
    "(C_c/C)**alpha_C", {"C": "minimum compute C_min (PF-days; 1 PF-day = 8.64e19 FLOP)"},
    name="kaplan_C", output="test loss (nats/token) at compute-efficient training",
    params={"C_c": "scale (PF-days)", "alpha_C": "exponent"},
    bounds={"C_c": (0, INF), "alpha_C": (0, 2)},
    starts={"C_c": [1e4, 1e8, 1e12], "alpha_C": [0.02, 0.05, 0.2]},
    citation=Citation(*KAPLAN, "eq. 1.3"), reference={"C_c": 3.1e8, "alpha_C": 0.050},
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
    citation=Citation(*KAPLAN, "eq. 1.5 (= eq. 4.1)"),
    reference={"N_c": 6.4e13, "alpha_N": 0.076, "D_c": 1.8e13, "alpha_D": 0.103},
    notes="overfit_exponent = alpha_N/alpha_D: data must grow as D ~ N**(alpha_N/alpha_D) to keep "
          "the overfitting penalty fixed (Kaplan et al. eq. 1.7 and §4; about 0.74).",
))
_add(Law(
    "(N_c/N)**alpha_N + (S_c/S)**alpha_S", {**_N, "S": "optimisation steps S_min (count)"},
    name="kaplan_NS", output="test loss (nats/token) after S_min steps",
    params={"N_c": "scale (parameters)", "alpha_N": "model-size exponent",
            "S_c": "scale (steps)", "alpha_S": "steps exponent"},
    bounds={"N_c": (0, INF), "alpha_N": (0, 2), "S_c": (0, INF), "alpha_S": (0, 3)},
    starts={"N_c": [1e11, 1e14, 1e17], "alpha_N": [0.05, 0.15], "S_c": [1e2, 1e3, 1e4],
            "alpha_S": [0.3, 0.8]},
    citation=Citation(*KAPLAN, "eq. 1.6 (= eq. 5.6)"),
    reference={"N_c": 6.5e13, "alpha_N": 0.077, "S_c": 2.1e3, "alpha_S": 0.76},
    notes="S_min is the number of steps at the critical batch size; Kaplan et al. eq. 5.4 converts "
          "steps taken at batch B into S_min = S/(1 + B_crit(L)/B).",
))
_add(Law(
    "B_star/L**(1/alpha_B)", {"L": "loss reached (nats/token)"}, name="kaplan_bcrit",
    output="critical batch size B_crit (tokens)",
    params={"B_star": "scale (tokens)", "alpha_B": "exponent"},
    bounds={"B_star": (0, INF), "alpha_B": (0.01, 5)},
    starts={"B_star": [1e6, 1e8, 1e10], "alpha_B": [0.1, 0.2, 0.5]},
    residual="log", citation=Citation(*KAPLAN, "eq. 1.4"),
    reference={"B_star": 2e8, "alpha_B": 0.21},
    notes="Batch sizes span decades, so the entry fits log residuals.",
))

# ---------------------------------------------------------------- Hoffmann et al. 2022
_CHINCHILLA_DERIVED = {
    "G": "(alpha*A/(beta*B))**(1/(alpha + beta))",
    "N_opt": "G*(C/6)**a",
    "D_opt": "(C/6)**b/G",
    "L_opt": "E + A/N_opt**alpha + B/D_opt**beta",
    "tokens_per_param": "D_opt/N_opt",
}
_add(Law(
    "E + A/N**alpha + B/D**beta", {"N": "model parameters (count)", **_D}, name="chinchilla",
    output="final pretraining loss (nats/token)",
    params={"E": "irreducible loss", "A": "model-size coefficient", "alpha": "model-size exponent",
            "B": "data coefficient", "beta": "data exponent"},
    bounds={"E": (0, 20), "A": (0, INF), "alpha": (0, 3), "B": (0, INF), "beta": (0, 3)},
    starts={"E": [1.0, 2.0, 3.0], "A": [1e2, 1e3, 1e4], "alpha": [0.2, 0.4, 0.8],
            "B": [1e2, 1e3, 1e4], "beta": [0.2, 0.4, 0.8]},
    derived={"a": "beta/(alpha + beta)", "b": "alpha/(alpha + beta)", **_CHINCHILLA_DERIVED},
    citation=Citation(*HOFFMANN, "eq. 2; frontier eq. 4"),
    reference={"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28},
    notes="Natural form fitted by least squares. Derived (input C = 6ND, FLOP): the compute-optimal "
          "frontier of eq. 4, N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b with G = (alpha A/(beta B))^(1/(alpha+beta)), "
          "a = beta/(alpha+beta), b = alpha/(alpha+beta). Approach 3 as published (Huber, delta = 1e-3, on log "
          "residuals in the log-sum-exp parameterisation) is the entry chinchilla_lse.",
))
_LSE_GRID = {"e": [-1.0, -0.5, 0.0, 0.5, 1.0], "a": [0.0, 5.0, 10.0, 15.0, 20.0, 25.0],
             "alpha": [0.0, 0.5, 1.0, 1.5, 2.0], "b": [0.0, 5.0, 10.0, 15.0, 20.0, 25.0],
             "beta": [0.0, 0.5, 1.0, 1.5, 2.0]}
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
    citation=Citation(*HOFFMANN, "eqs. 3-4, Appendix D.2"),
    reference={"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28},
    notes="Approach 3 as published: log L = LSE(a - alpha log N, b - beta log D, e) with A = exp(a), "
          "B = exp(b), E = exp(e), minimising a Huber loss (delta = 1e-3) of the log residuals from the "
          "4,500-point grid of Appendix D.2 (the default starts). The formula is the sum of the three "
          "exponentials; with residual='log' it is compared with log L, which is the LSE. to_natural() "
          "reports E, A, alpha, B, beta. The derived exponents are named exponent_a/exponent_b here "
          "because a and b are parameters; A and B in the derived formulas stand for exp(a) and exp(b).",
))
# ---------------------------------------------------------------- Henighan et al. 2020
_add(Law(
    "L_inf + (x0/x)**alpha", {"x": "model parameters N, or compute C (PF-days)"}, name="henighan",
    output="loss (nats per token/image/...) in one domain",
    params={"L_inf": "irreducible loss (entropy of the data)", "x0": "scale (units of x)",
            "alpha": "exponent"},
    bounds={"L_inf": (0, INF), "x0": (0, INF), "alpha": (0, 3)},
    starts={"L_inf": [0.0, 1.0, 3.0], "x0": [1e1, 1e4, 1e7, 1e10], "alpha": [0.05, 0.15, 0.4]},
    citation=Citation("Henighan, Kaplan, Katz, Chen, Hesse, Jackson, Jun, Brown, Dhariwal, Gray, et al.",
                      2020, "Scaling Laws for Autoregressive Generative Modeling", "2010.14701", "eq. 1.1"),
    notes="One law per domain (images at several resolutions, video, text-to-image, image-to-text, math); "
          "x is the model size N or the compute C. L_inf estimates the data's entropy, (x0/x)**alpha the "
          "reducible loss (the KL divergence to the true distribution).",
))

# ---------------------------------------------------------------- Muennighoff et al. 2023
_EFF_N = "U_N + U_N*R_N_star*(1 - exp(-R_N/R_N_star))"
_EFF_D = "U_D + U_D*R_D_star*(1 - exp(-R_D/R_D_star))"
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
                      "§3.1, effective N' and D' in the Chinchilla form"),
    reference={"R_N_star": 5.309, "R_D_star": 15.387},
    notes="Inputs follow the paper's definitions: U_D unique tokens, R_D = D/U_D - 1 repetitions; "
          "U_N = min(N, N_opt(U_D)) with N_opt from the compute-optimal allocation for U_D tokens, "
          "R_N = N/U_N - 1. The paper fits E, A, B, alpha, beta on single-epoch runs first and then "
          "R_N_star, R_D_star (fix the former with fixed={...} to reproduce that).",
))

# ---------------------------------------------------------------- Gadre et al. 2024
GADRE = ("Gadre, Smyrnis, Shankar, Gururangan, Wortsman, Shao, Mercat, Fang, Li, Keh, et al.", 2024,
         "Language models scale reliably with over-training and on downstream tasks", "2403.08540")
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
    citation=Citation(*GADRE, "eq. 4"),
    notes="Derived from the Chinchilla form with alpha = beta and C = 6ND; for fixed M the reducible "
          "loss is a power law in C with the same exponent eta for every M. M_opt = (b/a)^(1/(2 eta)) "
          "minimises the loss at fixed C and L_opt(C) = E + 2 sqrt(ab) C^-eta is the loss there (our "
          "closed forms of eq. 4). The released code writes the same law as "
          "E + a N^b' + c 6^(b'/2) (M N)^b'.",
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
                      "2408.11029", "eq. 1; S1, S2 in §3"),
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
                      "2506.10972", "§3, final form of L(N, D)"),
    notes="L = E + U(N) + V(D) + H(N,D) with the data terms modelled as B(N) D^-A(N) and both A(N) and "
          "B(N) (and E + U(N)) as exponentials of power laws in N, giving 9 parameters. The authors fit it "
          "in stages (differential piecewise fitting); a direct joint fit needs starts near the answer, "
          "so the default grid is only a starting point. The paper's constants assume its own scaling of "
          "N and D; we did not find an equation number we could verify, hence the section reference.",
))
_add(Law(
    "c*N**alpha*D**beta", {"N": "model parameters, non-embedding (count)", **_D}, name="steplaw_lr",
    output="optimal peak learning rate",
    params={"c": "coefficient", "alpha": "model-size exponent", "beta": "data exponent"},
    bounds={"c": (0, INF), "alpha": (-3, 3), "beta": (-3, 3)},
    starts={"c": [1e-2, 1.0, 1e2], "alpha": [-1.0, -0.5], "beta": [0.0, 0.5]},
    residual="log",
    citation=Citation("Li, Zheng, Hu, Wang, Xuyang, Ding, Zhou, Zhang, Jiang", 2025,
                      "Predictable Scale: Part I, Optimal Hyperparameter Scaling Law in Large Language "
                      "Model Pretraining", "2503.04715", "§3, Step Law for the learning rate"),
    reference={"c": 1.79, "alpha": -0.713, "beta": 0.307},
))
_add(Law(
    "c*D**beta", _D, name="steplaw_bs", output="optimal batch size (tokens)",
    params={"c": "coefficient", "beta": "data exponent"},
    bounds={"c": (0, INF), "beta": (-3, 3)},
    starts={"c": [1e-2, 1.0, 1e2], "beta": [0.3, 0.6]},
    residual="log",
    citation=Citation("Li, Zheng, Hu, Wang, Xuyang, Ding, Zhou, Zhang, Jiang", 2025,
                      "Predictable Scale: Part I, Optimal Hyperparameter Scaling Law in Large Language "
                      "Model Pretraining", "2503.04715", "§3, Step Law for the batch size"),
    reference={"c": 0.58, "beta": 0.571},
))

# ---------------------------------------------------------------- Chen et al. 2025 (ParScale)
_add(Law(
    "E + (A/(N*(k*log(P) + 1)))**alpha", {**_N, "P": "number of parallel streams"}, name="parscale",
    output="loss (nats/token)",
    params={"E": "irreducible loss", "A": "scale (parameters)", "k": "gain per log stream",
            "alpha": "exponent"},
    bounds={"E": (0, 20), "A": (0, INF), "k": (0, INF), "alpha": (0, 3)},
    starts={"E": [0.5, 1.0, 2.0], "A": [1e6, 1e8, 1e10], "k": [0.1, 0.5, 1.0], "alpha": [0.1, 0.3]},
    derived={"N_equivalent": "N*(k*log(P) + 1)"},
    citation=Citation("Chen, Hui, Cui, Yang, Liu, Sun, Lin, Liu", 2025,
                      "Parallel Scaling Law for Language Models", "2505.10475",
                      "§3, parallel scaling law"),
    notes="P parallel streams act like multiplying the parameters by k log P + 1 (N_equivalent). "
          "log is the natural logarithm here; another base only rescales k.",
))
