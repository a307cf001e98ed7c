"""Fitting methods beyond one law fitted to fixed rows.

* :func:`approach2` -- Chinchilla's Approach 2: the loss-minimising model size of every
  IsoFLOP budget (parabola or Akima spline), then N*(C) and D*(C) power laws with
  inverse-variance weights and bootstrap intervals.
* :func:`varpro_profile`, :func:`varpro_starts` -- variable projection: the parameters a law
  is linear in solved exactly on a grid of the others (``lawfit.fit(..., starts="varpro")``).
* :func:`fit_chain`, :class:`Stage` -- one law's output feeding another (a loss law then a
  downstream law; staged fits holding earlier estimates), bootstrapped through the whole
  chain; :func:`muennighoff_two_stage`.
* :func:`fit_pareto`, :func:`pareto_front` -- fits on the Pareto front, the front chosen again
  in every resample; :func:`kinetics_frontier` for test-time configurations.
* :func:`fit_asymmetric` -- least squares with over-predictions weighted more
  (``lawfit.evaluate(..., overestimate=w)``).

Every method returns lawfit's own tables (:class:`lawfit.FitResult` per fit) and runs
its fits -- all groups and all resamples -- as single :func:`lawfit.fit` batches.
"""
from .asymmetric import fit_asymmetric
from .chain import ChainFit, Stage, fit_chain, muennighoff_two_stage, with_inputs_for
from .isoflop import IsoflopResult, approach2, isoflop_minima
from .pareto import ParetoFit, fit_pareto, kinetics_frontier, pareto_front
from .varpro import VarProProfile, linear_terms, varpro_profile, varpro_starts

__all__ = ["fit_asymmetric", "pareto_front", "fit_pareto", "ParetoFit", "kinetics_frontier",
           "Stage", "fit_chain", "ChainFit", "with_inputs_for", "muennighoff_two_stage",
           "approach2", "IsoflopResult", "isoflop_minima",
           "linear_terms", "varpro_profile", "varpro_starts", "VarProProfile"]
