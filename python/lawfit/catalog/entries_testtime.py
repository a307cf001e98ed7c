"""Catalog entries: test-time scaling.

Coverage (pass@k) against the number of samples (Brown et al. 2024; Schaeffer et al.
2025), the ceiling an imperfect verifier puts on resampling (Stroebl et al. 2024), and the
Kinetics cost model (Sadhukhan et al. 2025), whose accuracy frontier over model size x
samples x generation length :func:`lawfit.methods.kinetics_frontier` computes.
"""
from __future__ import annotations

import numpy as np

from .catalog import laws
from .law import Citation, Law
from .recipe import Recipe
from .testtime import KINETICS_FORMULA

INF = np.inf


def _add(law: Law) -> None:
    laws.add(law.name, law)


# ---------------------------------------------------------------- Brown et al. 2024
_add(Law(
    "exp(-c*k**(-alpha))", {"k": "samples drawn per problem"}, name="coverage",
    output="coverage (pass@k: share of problems solved by any of k samples, 0-1)",
    params={"c": "-log coverage at k = 1", "alpha": "decay exponent of -log coverage"},
    bounds={"c": (0, INF), "alpha": (0, 5)},
    starts={"c": [0.1, 1.0, 3.0, 10.0], "alpha": [0.1, 0.3, 0.7]},
    derived={"k_for_half": "(c/log(2))**(1/alpha)"},
    citation=Citation("Brown, Juravsky, Ehrlich, Clark, Le, Re, Mirhoseini", 2024,
                      "Large Language Monkeys: Scaling Inference Compute with Repeated Sampling", "2407.21787",
                      "§4, log coverage = a k^b (exponentiated power law)",
                      checked="the exponentiated power law as the paper states it (a < 0, b < 0 there: "
                              "c = -a, alpha = -b here); Schaeffer et al. 2025 (arXiv:2502.17578) derive the "
                              "same form of -log pass@k from per-problem success rates"),
    recipe=Recipe("l2", None, "linear", method="not verified", source="lawfit default"),
    notes="log C(k) = -c k^(-alpha): coverage rises towards 1 as a power law in -log C. Per-problem "
          "pass@k (Chen et al. 2021's unbiased estimate: lawfit.catalog.pass_at_k) averaged over problems "
          "gives the points to fit. Schaeffer et al. 2025 explain the power law by a heavy left tail of "
          "per-problem success probabilities (a Beta-like density near 0 gives -log pass@k ~ k^-alpha). "
          "coverage_beta is the exact form for Beta-distributed success rates (computed with lgamma); "
          "this law is its large-k limit.",
))

# The exact mixture behind that power law: per-problem success probabilities p ~ Beta(a, b), each
# problem solved by k independent samples with probability 1 - (1 - p)^k.
_add(Law(
    "1 - exp(lgamma(b + k) + lgamma(a + b) - lgamma(b) - lgamma(a + b + k))",
    {"k": "samples drawn per problem"}, name="coverage_beta",
    output="coverage (expected pass@k over problems, 0-1)",
    params={"a": "Beta shape at p -> 0: the left-tail exponent, and the power-law exponent of "
                 "-log coverage at large k",
            "b": "Beta shape at p -> 1"},
    bounds={"a": (1e-6, 100), "b": (1e-6, 1e6)},
    starts={"a": [0.05, 0.2, 0.5, 1.0], "b": [0.5, 2.0, 10.0, 50.0]},
    derived={"pass_at_1": "a/(a + b)", "power_law_exponent": "a",
             "power_law_prefactor": "exp(lgamma(a + b) - lgamma(b))"},
    citation=Citation("Schaeffer, Kazdan, Hughes, Juravsky, Price, Lynch, Jones, Kirk, Mirhoseini, Koyejo",
                      2025, "How Do Large Language Monkeys Get Their Power (Laws)?", "2502.17578",
                      "§4-5: pass_i@1 with a power-law left tail (Beta-distributed in their fits) gives "
                      "-log pass_D@k ~ k^-a",
                      checked="authors, title and the claim (a heavy left tail of single-attempt success "
                              "probabilities makes -log of the averaged pass@k a power law in k) against the "
                              "ICML 2025 proceedings abstract (PMLR 267:53132-53176); the closed form is the "
                              "Beta-function identity E[(1 - p)^k] = B(a, b + k)/B(a, b) (Abramowitz & Stegun "
                              "6.2.1-6.2.2), written out here, not transcribed from the paper; section numbers "
                              "not verified"),
    recipe=Recipe("l2", None, "linear", method="least squares on averaged pass@k (Chen et al.'s estimate "
                                               "per problem, lawfit.catalog.pass_at_k)",
                  source="lawfit (exact mixture form)"),
    notes="If problem i is solved by one sample with probability p_i, k independent samples solve it "
          "with probability 1 - (1 - p_i)^k; averaging over p ~ Beta(a, b) gives coverage(k) = "
          "1 - B(a, b + k)/B(a, b) = 1 - Gamma(b + k) Gamma(a + b)/(Gamma(b) Gamma(a + b + k)), computed "
          "with lgamma. For large k, 1 - coverage ~ Gamma(a + b)/Gamma(b) k^(-a), so -log coverage is the "
          "coverage law's power law with exponent alpha = a and c = power_law_prefactor: this entry is the "
          "exact form whose large-k limit that law is. a/(a + b) is the mean single-sample success rate "
          "(pass@1).",
))

# ---------------------------------------------------------------- Stroebl et al. 2024
_add(Law(
    "p/(p + (1 - p)*f)*(1 - ((1 - p)*(1 - f))**k)", {"k": "samples drawn (attempts) per problem"},
    name="verifier_ceiling", output="accuracy of resample-until-verified (0-1)",
    params={"p": "probability that one sample is correct", "f": "false-positive rate of the verifier "
                                                                "(incorrect samples it accepts)"},
    bounds={"p": (1e-9, 1.0), "f": (0.0, 1.0)},
    starts={"p": [0.05, 0.2, 0.5], "f": [0.01, 0.1, 0.3]},
    derived={"ceiling": "p/(p + (1 - p)*f)", "accepted_per_sample": "p + (1 - p)*f"},
    citation=Citation("Stroebl, Kapoor, Narayanan", 2024,
                      "Inference Scaling fLaws: The Limits of LLM Resampling with Imperfect Verifiers",
                      "2411.17501", "§3-4, resampling with an imperfect verifier (accuracy ceiling)",
                      checked="the setting as the paper describes it (resample until a sample passes the "
                              "verifier; false positives among incorrect samples bound the accuracy); the "
                              "closed form is ours"),
    recipe=Recipe("l2", None, "linear", method="the paper reports curves, not a fitted law",
                  source="lawfit (closed form of the paper's setting)"),
    notes="Each attempt is correct with probability p; an incorrect one passes the verifier with "
          "probability f; the first accepted sample is returned (after k rejections the answer counts "
          "as wrong). Then acc(k) = p/(p + (1-p) f) (1 - ((1-p)(1-f))^k): however many samples, accuracy "
          "cannot pass the ceiling p/(p + (1-p) f) < 1 when f > 0 -- the paper's point that resampling "
          "with imperfect verifiers does not let weak models match strong ones. One law per model (or "
          "per problem); p is the model's single-sample accuracy.",
))

# ---------------------------------------------------------------- Sadhukhan et al. 2025
_add(Law(
    KINETICS_FORMULA,
    {"N": "model parameters (count)", "kv": "KV-cache elements per token: 2 x layers x KV heads x head dim",
     "r": "query heads per KV head (grouped-query attention)", "L_in": "prompt tokens",
     "L_out": "generated tokens per sample", "k": "samples per problem",
     "batch": "sequences decoded together (share each parameter read)"},
    name="kinetics_cost", output="effective FLOPs of test-time inference (compute + I x memory bytes)",
    params={"I": "arithmetic intensity of the accelerator (FLOP per byte)"},
    bounds={"I": (0, INF)}, starts={"I": [100.0, 562.5, 2000.0]}, residual="log",
    derived={"compute": "k*(2*N*L_out + 2*r*kv*(L_in*L_out + L_out*(L_out + 1)/2))",
             "memory_bytes": "k*(2*N*L_out/batch + 2*kv*(L_in*L_out + L_out*(L_out + 1)/2))"},
    reference={"I": 562.5},
    citation=Citation("Sadhukhan, Chen, Zheng, Zhou, Strubell, Chen", 2025,
                      "Kinetics: Rethinking Test-Time Scaling Laws", "2506.05333",
                      "§3, cost model: eFLOPs = compute + I x memory access",
                      checked="the model's structure as the paper summarises it (compute plus arithmetic "
                              "intensity times memory traffic, with attention and KV-cache terms); the "
                              "per-token terms are written out here (see notes), the paper's equation "
                              "numbers were not verified"),
    recipe=Recipe("l2", None, "log", method="a cost model: I is the hardware's, fitting it to measured "
                                            "costs is lawfit's use", source="lawfit"),
    notes="Per sample, generating token t at context length L_in + t costs 2N FLOPs in the linear layers "
          "and 2 r kv (L_in + t) in attention, and reads 2N/batch bytes of parameters and 2 kv (L_in + t) "
          "bytes of KV cache (bf16); summed over L_out tokens and k samples, effective FLOPs = compute + "
          "I x bytes. I = 562.5 FLOP/byte (B200) is the reference, not a universal constant; "
          "lawfit.catalog.kinetics_cost evaluates the same model with numpy and "
          "lawfit.methods.kinetics_frontier finds the accuracy-vs-cost frontier over model size x "
          "samples x generation length.",
))
