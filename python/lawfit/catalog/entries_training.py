"""Catalog entries: training dynamics and hyper-parameters, and theory of the exponents.

Su et al. 2024 (loss with steps and batch size, B_crit(L) solved inside the law), the
learning-rate rules for batch size (Goyal et al. 2017 for SGD, Malladi et al. 2022 for
Adam) and width (Yang et al. 2022, muP), weight decay with width (Wang & Aitchison 2024),
and the regimes of Bahri et al. 2021 and of superposition (Liu, Liu & Gore 2025).
"""
from __future__ import annotations

import numpy as np

from .batch import SU_PARAMS, su_formula
from .catalog import laws
from .law import Citation, Law
from .recipe import Recipe

INF = np.inf


def _add(law: Law) -> None:
    laws.add(law.name, law)


# ---------------------------------------------------------------- Su et al. 2024
_add(Law(
    su_formula(2), {"N": "model parameters, non-embedding (count)", "S": "optimisation steps taken (count)",
                    "B": "batch size (tokens per step)"},
    params=dict(zip(SU_PARAMS, ("model-size scale (parameters)", "model-size exponent", "steps scale",
                                "steps exponent", "critical-batch scale (tokens)", "critical-batch exponent"))),
    name="su_NS", output="loss (nats/token) after S steps at batch size B",
    bounds={"N_c": (0, INF), "alpha_N": (0, 2), "S_c": (0, INF), "alpha_S": (0, 3), "B_star": (0, INF),
            "alpha_B": (0.01, 2)},
    starts={"N_c": [1e12, 1e15], "alpha_N": [0.05, 0.1], "S_c": [1e2, 1e4], "alpha_S": [0.5, 1.0],
            "B_star": [1e7, 1e9], "alpha_B": [0.15, 0.3]},
    derived={"L_N": "(N_c/N)**alpha_N"},
    reference={"N_c": 6.5e13, "alpha_N": 0.077, "S_c": 2.1e3, "alpha_S": 0.76, "B_star": 2e8, "alpha_B": 0.21},
    display="L = (N_c/N)^alpha_N + (S_c/S_min)^alpha_S with S_min = S/(1 + B_crit(L)/B), "
            "B_crit(L) = B_star/L^(1/alpha_B): solved for L inside the law (two Newton steps, relative "
            "error below 3e-6)",
    citation=Citation("Su, Tian, Shen, Cai", 2024, "Unraveling the Mystery of Scaling Laws: Part I",
                      "2403.06563", "§3, L(N, S_min) with S_min = S/(1 + B_crit(L)/B) (Kaplan et al. eqs. "
                                    "5.3, 5.4, 5.6)",
                      checked="title page and abstract of arXiv v1 (Meituan); the three relations against "
                              "Kaplan et al.'s text (eqs. 5.3, 5.4, 5.6); Su et al.'s own constants not "
                              "transcribed"),
    recipe=Recipe("l2", None, "linear", method="staged: B_crit first, then L(N) at large S, then S_c, alpha_S",
                  source="Su et al. 2024 §3 (step-by-step estimation)"),
    notes="Kaplan et al.'s L(N, S_min) with the steps at batch B converted by eq. 5.4; B_crit depends on "
          "the loss, so L is the root of L = L_N + (S_c (1 + B_star L^(-1/alpha_B)/B)/S)^alpha_S. The "
          "formula language has no loop: the law unrolls two Newton steps in w = log(L - L_N) from the "
          "geometric mean of a lower and an upper bound (lawfit.catalog.batch.su_formula), accurate to "
          "3e-6 relative. lawfit.catalog.loss_at_steps solves it exactly (a loss curve for any batch "
          "size); steps_to_loss and tokens_to_loss invert it in closed form. Reference: Kaplan et al.'s "
          "constants (Tables 3 and eq. 5.3).",
))

# ---------------------------------------------------------------- learning rate and weight decay rules
_POWER_STARTS = {"c": [1e-6, 1e-4, 1e-2, 1.0], "kappa": [0.25, 0.5, 1.0]}
_add(Law(
    "c*B**kappa", {"B": "batch size (examples or tokens)"}, name="lr_batch_sgd",
    output="optimal learning rate (SGD)",
    params={"c": "learning rate at batch size 1", "kappa": "exponent (1: linear scaling rule)"},
    bounds={"c": (0, INF), "kappa": (-3, 3)}, starts=_POWER_STARTS, residual="log",
    reference={"kappa": 1.0},
    citation=Citation("Goyal, Dollar, Girshick, Noordhuis, Wesolowski, Kyrola, Tulloch, Jia, He", 2017,
                      "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", "1706.02677",
                      "§2.1, linear scaling rule",
                      checked="the rule as stated in §2.1 ('multiply the learning rate by k when the "
                              "minibatch size is multiplied by k'); not re-read in this pass"),
    recipe=Recipe("l2", None, "log", method="power law in log space", source="lawfit"),
    notes="eta(B) = c B^kappa; the linear scaling rule is kappa = 1 (with warm-up; it breaks down at very "
          "large batches). Compare with lr_batch_adam (kappa = 1/2).",
))
_add(Law(
    "c*B**kappa", {"B": "batch size (examples or tokens)"}, name="lr_batch_adam",
    output="optimal learning rate (Adam)",
    params={"c": "learning rate at batch size 1", "kappa": "exponent (1/2: square-root scaling rule)"},
    bounds={"c": (0, INF), "kappa": (-3, 3)}, starts=_POWER_STARTS, residual="log",
    reference={"kappa": 0.5},
    citation=Citation("Malladi, Lyu, Panigrahi, Arora", 2022,
                      "On the SDEs and Scaling Rules for Adaptive Gradient Algorithms", "2205.10287",
                      "§4, square-root scaling rule",
                      checked="authors (Sadhika Malladi, Kaifeng Lyu, Abhishek Panigrahi, Sanjeev Arora; "
                              "NeurIPS 2022) and the square-root scaling rule for RMSprop and Adam against the "
                              "proceedings abstract; the rule's details (learning rate times sqrt(k) for batch "
                              "size times k) and the section number not re-verified in the paper body"),
    recipe=Recipe("l2", None, "log", method="power law in log space", source="lawfit"),
    notes="eta(B) = c B^kappa; for adaptive methods the SDE argument gives kappa = 1/2 (the paper's rule "
          "also rescales beta_1, beta_2 and epsilon). Compare with lr_batch_sgd (kappa = 1).",
))
_add(Law(
    "c*width**(-kappa)", {"width": "hidden width (d_model or fan-in)"}, name="lr_width",
    output="optimal learning rate of the hidden weights (Adam)",
    params={"c": "learning rate at width 1", "kappa": "exponent (1 under muP)"},
    bounds={"c": (0, INF), "kappa": (-3, 3)},
    starts={"c": [1e-3, 1e-1, 1e1], "kappa": [0.5, 1.0]}, residual="log",
    reference={"kappa": 1.0},
    citation=Citation("Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen, Gao", 2022,
                      "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter Transfer",
                      "2203.03466", "Table 3 (muP: Adam learning rate of hidden weights ~ 1/fan_in)",
                      checked="authors against the arXiv title page (Greg Yang, Edward J. Hu, Igor "
                              "Babuschkin, Szymon Sidor, Xiaodong Liu, David Farhi, Nick Ryder, Jakub Pachocki, "
                              "Weizhu Chen, Jianfeng Gao); the rule against the authors' code "
                              "(github.com/microsoft/mup, mup/optim.py: MuAdam divides the learning rate of "
                              "matrix-like weights by their width multiplier); the table number not re-verified"),
    recipe=Recipe("l2", None, "log", method="power law in log space", source="lawfit"),
    notes="Under the maximal-update parameterisation the optimal Adam learning rate of matrix-like "
          "(hidden) weights falls as 1/width, so a small model's optimum transfers. Under the standard "
          "parameterisation the fitted kappa measures how far from that the optimum drifts.",
))
_add(Law(
    "c*width**kappa", {"width": "hidden width (d_model)"}, name="wd_width",
    output="optimal AdamW weight decay lambda",
    params={"c": "weight decay at width 1", "kappa": "exponent (1: keep eta*lambda fixed under muP)"},
    bounds={"c": (0, INF), "kappa": (-3, 3)},
    starts={"c": [1e-6, 1e-4, 1e-2], "kappa": [0.5, 1.0]}, residual="log",
    reference={"kappa": 1.0},
    citation=Citation("Wang, Aitchison", 2024,
                      "How to set AdamW's weight decay as you scale model and dataset size", "2405.13698",
                      "§3-4, EMA timescale 1/(eta lambda) held fixed",
                      checked="authors (Xi Wang, Laurence Aitchison; ICML 2025, PMLR 267:62222-62250) and "
                              "the argument against the abstract (AdamW's weights are an EMA of recent updates; "
                              "the optimal EMA timescale in epochs is roughly constant, so the weight decay "
                              "rises with model size under muP's learning-rate scaling and falls with dataset "
                              "size); the timescale 1/(eta lambda) and the section numbers not re-verified in "
                              "the paper body. The muP authors' MuAdam/MuAdamW "
                              "(github.com/microsoft/mup, mup/optim.py) apply the same rule: weight decay times "
                              "the width multiplier, learning rate divided by it"),
    recipe=Recipe("l2", None, "log", method="power law in log space", source="lawfit"),
    notes="AdamW's update is an exponential moving average of past updates with timescale 1/(eta lambda) "
          "iterations; keeping it fixed as the width grows and the muP learning rate falls as 1/width "
          "makes the optimal lambda grow as width (kappa = 1). The timescale should also grow with the "
          "dataset (in iterations).",
))

# ---------------------------------------------------------------- Bahri et al. 2021; superposition
BAHRI = ("Bahri, Dyer, Kaplan, Lee, Sharma", 2021, "Explaining Neural Scaling Laws", "2102.06701")
_BAHRI_CHECKED = ("authors (Yasaman Bahri, Ethan Dyer, Jared Kaplan, Jaehoon Lee, Utkarsh Sharma) and the four "
                  "regimes (variance-limited and resolution-limited, each in dataset and model size; a duality "
                  "between the large-width and large-data resolution-limited exponents) against the arXiv "
                  "abstract; the 4/d relation against Sharma & Kaplan's abstract (JMLR 23, 2022, "
                  "arXiv:2004.10802: alpha ~ 4/d for cross-entropy and MSE losses); section numbers and the "
                  "variance-limited exponent 1 not re-verified in the paper body")
_add(Law(
    "L_inf + A/x**alpha", {"x": "dataset size D (at large width) or width (at large D)"},
    name="bahri_variance_limited", output="test loss",
    params={"L_inf": "loss at x -> infinity", "A": "coefficient", "alpha": "exponent (1 in this regime)"},
    bounds={"L_inf": (-INF, INF), "A": (0, INF), "alpha": (0, 5)},
    starts={"L_inf": [0.0, 0.5, 1.0], "A": [0.1, 1.0, 10.0, 100.0]},
    fixed={"alpha": 1.0}, reference={"alpha": 1.0},
    citation=Citation(*BAHRI, "§2, variance-limited regime: L - L_inf ~ 1/D and ~ 1/width",
                      checked=_BAHRI_CHECKED),
    recipe=Recipe("l2", None, "linear", method="exponent fixed at 1 (free it with fixed={} to test)",
                  source="Bahri et al. 2021 §2"),
    notes="When one resource is plentiful, the loss approaches its limit as 1/x in the other (a "
          "variance effect: expand in 1/D or 1/width). alpha is fixed at 1; fit with fixed={} to measure "
          "it and test the regime.",
))
_add(Law(
    "L_inf + A/x**alpha", {"x": "dataset size D or parameters P (the other resource large)"},
    name="bahri_resolution_limited", output="test loss",
    params={"L_inf": "irreducible loss", "A": "coefficient", "alpha": "exponent (~ 4/d)"},
    bounds={"L_inf": (-INF, INF), "A": (0, INF), "alpha": (0, 5)},
    starts={"L_inf": [0.0, 0.5, 1.0], "A": [1.0, 10.0, 100.0], "alpha": [0.1, 0.3, 1.0]},
    derived={"intrinsic_dimension": "4/alpha"},
    citation=Citation(*BAHRI, "§2, resolution-limited regime: alpha ~ 4/d, alpha_D ~ alpha_P",
                      checked=_BAHRI_CHECKED),
    recipe=Recipe("l2", None, "linear", method="not verified", source="lawfit default"),
    notes="When the model resolves a data manifold of intrinsic dimension d ever more finely, the loss "
          "falls as x^(-alpha) with alpha ~ 4/d, with similar exponents for data and for parameters "
          "(the paper's duality). intrinsic_dimension = 4/alpha inverts the relation.",
))
_add(Law(
    "L_inf + A/m**alpha", {"m": "model width (hidden dimension)"}, name="superposition_width",
    output="loss", params={"L_inf": "loss at infinite width", "A": "coefficient",
                           "alpha": "width exponent (1 under strong superposition)"},
    bounds={"L_inf": (-INF, INF), "A": (0, INF), "alpha": (0, 5)},
    starts={"L_inf": [0.0, 1.0, 2.0], "A": [0.1, 1.0, 10.0], "alpha": [0.5, 1.0, 2.0]},
    reference={"alpha": 1.0},
    citation=Citation("Liu, Liu, Gore", 2025, "Superposition Yields Robust Neural Scaling", "2505.10465",
                      "§3-4, strong superposition: loss ~ 1/width",
                      checked="authors (Yizhou Liu, Ziming Liu, Jeff Gore) and the result against the arXiv "
                              "v4 abstract (strong superposition: loss inversely proportional to the model "
                              "dimension across a broad class of feature-frequency distributions; weak "
                              "superposition: a power law only for power-law feature frequencies); NeurIPS 2025; "
                              "section numbers not re-verified in the paper body"),
    recipe=Recipe("l2", None, "linear", method="not verified", source="lawfit default"),
    notes="With many more features than dimensions, strongly superposed representations interfere by an "
          "amount ~ 1/m, so loss ~ 1/width (alpha = 1) whatever the feature frequencies; in the weak "
          "regime the exponent follows the frequency distribution's.",
))
