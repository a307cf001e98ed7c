"""The law catalog: named scaling laws with formulas, bounds, start grids, derived
quantities and the papers they come from; user laws; joint fits with shared parameters;
and the learning-rate areas of the LR-annealing law.

>>> from lawfit.catalog import laws
>>> law = laws["chinchilla"]
>>> law.formula, law.citation.short()
('E + A/N**alpha + B/D**beta', 'Hoffmann et al. 2022, eq. 2; frontier eq. 4')

``print(laws)`` lists every law; ``print(laws["chinchilla"])`` shows one in full.
"""
from .catalog import Catalog, laws, main_laws, register_law
from .law import Citation, Law, LawFit
from .recipe import Recipe
from .schedules import constant_schedule, cosine_schedule, lr_areas, wsd_schedule
from .shared import SharedFit, fit_shared, shared_program

from .law import deferred_compile

with deferred_compile():  # the entries compile on first use (law.py says why)
    from . import entries_lm, entries_downstream, entries_general  # noqa: E402,F401  (fill `laws`)
    from . import entries_data, entries_testtime, entries_training  # noqa: E402,F401
from .batch import loss_at_steps, steps_to_loss, tokens_to_loss  # noqa: E402
from .repetition import pool_mixture, repetition_columns  # noqa: E402
from .testtime import kinetics_cost, pass_at_k  # noqa: E402

__all__ = [
    "laws", "Law", "LawFit", "Citation", "Catalog", "Recipe", "register_law", "main_laws",
    "fit_shared", "SharedFit", "shared_program",
    "lr_areas", "constant_schedule", "cosine_schedule", "wsd_schedule",
    "repetition_columns", "pool_mixture", "loss_at_steps", "steps_to_loss", "tokens_to_loss",
    "kinetics_cost", "pass_at_k",
]
