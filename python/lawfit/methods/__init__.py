"""Fitting methods beyond one law on fixed rows (filled below)."""
from .asymmetric import fit_asymmetric
from .chain import ChainFit, Stage, fit_chain, muennighoff_two_stage, with_inputs_for
from .isoflop import IsoflopResult, approach2, isoflop_minima
from .pareto import ParetoFit, fit_pareto, kinetics_frontier, pareto_front
from .varpro import VarProProfile, linear_terms, varpro_profile, varpro_starts

__all__ = ["fit_asymmetric", "pareto_front", "fit_pareto", "ParetoFit", "kinetics_frontier",
           "Stage", "fit_chain", "ChainFit", "with_inputs_for", "muennighoff_two_stage",
           "approach2", "IsoflopResult", "isoflop_minima",
           "linear_terms", "varpro_profile", "varpro_starts", "VarProProfile"]
