"""Joint fits across groups: some parameters common to all groups, the others per group.

The joint law is one program over the stacked data of G groups.  Each group
gets an indicator input column (``_g0``, ``_g1``, ...: 1 on that group's
points, 0 elsewhere) and each per-group parameter ``p`` becomes G parameters
``p_0 .. p_{G-1}``; the formula uses ``p_0*_g0 + p_1*_g1 + ...`` wherever it
used ``p``.  On a point of group k that sum is exactly ``p_k``, so the joint
residuals are the separate laws' residuals with the shared parameters tied --
one least-squares problem, solved by one core call.

Why indicator columns: the interpreter has no per-point parameter lookup, and
this keeps the law an ordinary program (exact forward-mode derivatives; each
per-group parameter has a non-zero derivative only on its group's points, and
the stack grows by two slots at most).  The cost is the parameter count,
``shared + G * per_group <= 16`` (the core's gradient mask), checked up front.

Starts: every group is first fitted alone from the law's start grid (one
batch); the joint fit then starts from those per-group estimates with the
shared parameters set, in turn, to each group's estimate and to their median.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from ..opcodes import MAX_PARAMS
from ..status import Status, warn_failures
from ..engine.checks import float_array, law_reasons
from ..engine.data import Data
from ..formula import Binary, Expr, Sym, compile_law, parse
from ._grid import covariance, solve_starts
from .law import Law, _as_input_dict, _substitute

__all__ = ["SharedFit", "shared_program", "fit_shared"]


def _group_names(law: Law, n_groups: int) -> tuple[list[str], str]:
    """Indicator input names and the separator for per-group parameter names, clash-free."""
    taken = set(law.params) | set(law.inputs)
    prefix = "_g"
    while any(f"{prefix}{k}" in taken for k in range(n_groups)):
        prefix = "_" + prefix
    sep = "_"
    while any(f"{p}{sep}{k}" in taken for p in law.params for k in range(n_groups)):
        sep += "_"
    return [f"{prefix}{k}" for k in range(n_groups)], sep


def shared_program(law: Law, shared: Sequence[str], n_groups: int):
    """The joint program of ``law`` over ``n_groups`` groups with ``shared`` parameters tied.

    Returns ``(program, param_names, indicator_names, index)`` where
    ``index[p]`` is the position of a shared parameter (an int) or of a
    per-group parameter's G copies (an int array) in ``param_names``.

    Examples
    --------
    >>> law = Law("a*x**-b + c", inputs=["x"])
    >>> program, names, ind, index = shared_program(law, ["b"], 2)
    >>> names
    ['a_0', 'a_1', 'b', 'c_0', 'c_1']
    >>> program.formula
    '(a_0 * _g0 + a_1 * _g1) * x**-b + (c_0 * _g0 + c_1 * _g1)'
    """
    shared = list(shared)
    unknown = set(shared) - set(law.params)
    if unknown:
        raise ValueError(f"shared names unknown parameter(s) {sorted(unknown)}")
    if n_groups < 1:
        raise ValueError("a joint fit needs at least one group")
    indicators, sep = _group_names(law, n_groups)
    names: list[str] = []
    index: dict = {}
    mapping: dict[str, Expr] = {}
    for p in law.params:
        if p in shared:
            index[p] = len(names)
            names.append(p)
            continue
        copies = [f"{p}{sep}{k}" for k in range(n_groups)]
        index[p] = np.arange(len(names), len(names) + n_groups)
        names += copies
        term: Expr = Binary("*", Sym(copies[0]), Sym(indicators[0]))
        for name, g in zip(copies[1:], indicators[1:]):
            term = Binary("+", term, Binary("*", Sym(name), Sym(g)))
        mapping[p] = term
    if len(names) > MAX_PARAMS:
        per_group = len(law.params) - len(shared)
        raise ValueError(
            f"a joint fit of {n_groups} groups has {len(shared)} shared + {n_groups} x {per_group} "
            f"per-group = {len(names)} parameters; the core allows {MAX_PARAMS}. Share or fix more "
            "parameters, or split the groups.")
    tree = _substitute(parse(law.formula), mapping)
    program = compile_law(tree, list(law.inputs) + indicators, names)
    return program, names, indicators, index


@dataclass
class SharedFit:
    """Result of :func:`fit_shared`.

    Attributes
    ----------
    law : Law
    groups : list
        Group labels, in the order of the per-group arrays.
    shared : tuple of str
    params : dict
        Shared parameter -> float; per-group parameter -> array (G,).
    stderr : dict
        The same layout, from the joint covariance.
    popt, pcov : ndarray
        The joint parameter vector (order ``param_names``) and its covariance.
    param_names : list of str
    status : Status
    cost : float
    separate_params, separate_stderr : ndarray
        The per-group fits alone, (G, P) in the law's parameter order -- the
        baseline the joint fit improves on.
    separate_status : ndarray
    """

    law: Law
    groups: list
    shared: tuple
    params: dict
    stderr: dict
    popt: np.ndarray
    pcov: np.ndarray
    param_names: list
    status: Status
    cost: float
    separate_params: np.ndarray
    separate_stderr: np.ndarray
    separate_status: np.ndarray

    def group_params(self, k: int) -> dict:
        """The law's parameters for group index ``k`` (shared ones included)."""
        return {p: (v if np.ndim(v) == 0 else float(v[k])) for p, v in self.params.items()}

    def __str__(self) -> str:
        rows = [f"joint fit of {self.law.name or self.law.formula} over {len(self.groups)} groups: "
                f"{Status(self.status).name}, shared {', '.join(self.shared)}"]
        for p in self.law.params:
            v, e = self.params[p], self.stderr[p]
            if np.ndim(v) == 0:
                rows.append(f"  {p:>10} = {v:.6g} ± {e:.3g}  (shared)")
            else:
                rows += [f"  {p:>10}[{g}] = {vk:.6g} ± {ek:.3g}" for g, vk, ek in zip(self.groups, v, e)]
        return "\n".join(rows)

    __repr__ = __str__


def _stderr(cov: np.ndarray, loss: str) -> np.ndarray:
    """Standard errors (K, P) of covariances (K, P, P); NaN for robust losses (curve_fit's rule is L2's)."""
    se = np.sqrt(np.clip(np.diagonal(cov, axis1=-2, axis2=-1), 0, None))
    return se if loss == "l2" else np.full_like(se, np.nan)


def _split_groups(law: Law, x, y, groups):
    """Stacked inputs {name: (M,)}, y (M,), group index per point, labels -- sorted by group."""
    if groups is None:  # x and y are per-group lists
        if not isinstance(y, (list, tuple)) or not isinstance(x, (list, tuple)) or len(x) != len(y):
            raise ValueError("without groups=, pass x and y as equal-length lists, one item per group")
        xs = [_as_input_dict(xk, law.input_names) for xk in x]
        labels = list(range(len(y)))
        index = np.concatenate([np.full(np.size(yk), k) for k, yk in enumerate(y)])
        inputs = {n: np.concatenate([xk[n] for xk in xs]) for n in law.input_names}
        y = np.concatenate([np.asarray(yk, float).ravel() for yk in y])
    else:
        inputs = _as_input_dict(x, law.input_names)
        y = float_array(y, "y").ravel()
        if np.size(groups) != y.size:
            raise ValueError(f"groups has {np.size(groups)} labels, but y has {y.size} values")
        labels, index = np.unique(np.asarray(groups), return_inverse=True)
        labels = labels.tolist()
    for n in law.input_names:
        if n not in inputs:
            raise ValueError(f"x lacks the input {n!r}")
        if np.size(inputs[n]) != y.size:
            raise ValueError(f"x[{n!r}] has {np.size(inputs[n])} values, but y has {y.size}")
    order = np.argsort(index, kind="stable")
    inputs = {n: np.asarray(inputs[n], float)[order] for n in law.input_names}
    return inputs, y[order], index[order], labels, order


def fit_shared(law: Law, x, y, groups=None, shared: Optional[Sequence[str]] = None, *,
               sigma=None, fixed: Optional[Mapping] = None, loss: Optional[str] = None,
               delta: Optional[float] = None, residual: Optional[str] = None,
               absolute_sigma: bool = False, n_threads=None) -> SharedFit:
    """Fit ``law`` to several groups at once, sharing some parameters across groups.

    Parameters
    ----------
    law : Law
    x, y
        Stacked inputs (mapping or array, as :meth:`Law.fit`) and values with
        ``groups`` giving each point's group label; or, with ``groups=None``,
        lists holding one item per group.
    groups : array_like, optional
    shared : sequence of str, optional
        Parameters common to all groups (default ``law.shared``).
    sigma, fixed, loss, delta, residual, absolute_sigma, n_threads
        As in :meth:`Law.fit` (``sigma`` stacked like ``y``; standard errors
        only for ``loss="l2"``).

    Returns
    -------
    SharedFit

    Examples
    --------
    >>> import numpy as np
    >>> from lawfit.catalog import laws, fit_shared
    >>> x = np.geomspace(1e3, 1e7, 30)
    >>> ys = [a * x**-0.3 + c for a, c in [(20, 1.0), (40, 1.5), (80, 2.0)]]
    >>> fit = fit_shared(laws["hestness"], [x] * 3, ys, shared=["b"])
    >>> round(fit.params["b"], 6), np.round(fit.params["a"], 3)
    (0.3, array([20., 40., 80.]))
    """
    shared = tuple(law.shared if shared is None else shared)
    if not shared:
        raise ValueError("name the shared parameters (shared=[...]); the law has no default")
    opts = law.options(loss=loss, delta=delta, residual=residual)
    loss, delta, residual = opts.loss, opts.delta, opts.residual
    solver = {"loss": loss, "delta": delta, "residual": residual, "n_threads": n_threads}
    inputs, y, gidx, labels, order = _split_groups(law, x, y, groups)
    G, M = len(labels), y.size
    weight = None
    if sigma is not None:  # stacked like y (or a list per group), then sorted with the data
        s = np.concatenate([np.ravel(v) for v in sigma]) if groups is None else np.ravel(sigma)
        if np.size(s) not in (1, M):
            raise ValueError(f"sigma has {np.size(s)} values, but y has {M}")
        weight = 1.0 / np.broadcast_to(np.asarray(s, float), (M,))[order] ** 2
    sizes = np.bincount(gidx, minlength=G)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    fixed_all = {**law.fixed, **dict(fixed or {})}
    if residual == "log" and np.any(y <= 0):
        raise ValueError("residual='log' needs positive y")

    # 1. Every group alone, from the law's start grid: one batch of G laws x S starts.
    single = law.program
    mask = np.array([p in fixed_all for p in law.params], dtype=np.uint8)
    lower, upper = law._bound_arrays()
    starts = law.start_grid(inputs, y, fixed=fixed_all)
    alone = solve_starts(single, single.input_matrix(inputs), y, offsets, starts, weight=weight,
                         lower=lower, upper=upper, fixed=mask, **solver)
    alone_se = _stderr(covariance(alone.jtj, alone.cost, sizes, mask == 0, absolute_sigma), loss)

    # 2. The joint program and its starts from the separate estimates.
    program, names, indicators, index = shared_program(law, shared, G)
    onehot = (gidx[None, :] == np.arange(G)[:, None]).astype(float)
    joint_inputs = {**inputs, **dict(zip(indicators, onehot))}
    P = len(names)
    # A group whose separate fit failed starts from the law's first start point instead.
    est = np.where(np.isfinite(alone.params), alone.params, starts[0])
    base = np.empty(P)
    j_lower, j_upper, j_mask = np.empty(P), np.empty(P), np.zeros(P, np.uint8)
    for i, p in enumerate(law.params):
        base[index[p]] = est[:, i] if p not in shared else np.median(est[:, i])
        j_lower[index[p]], j_upper[index[p]], j_mask[index[p]] = lower[i], upper[i], mask[i]
    candidates = [base]
    for k in range(G):
        start = base.copy()
        for p in shared:
            start[index[p]] = est[k, law.params.index(p)]
        candidates.append(start)
    joint_starts = np.clip(np.unique(np.array(candidates), axis=0), j_lower, j_upper)
    joint = solve_starts(program, program.input_matrix(joint_inputs), y, np.array([0, M]),
                         joint_starts, weight=weight, lower=j_lower, upper=j_upper, fixed=j_mask,
                         **solver)
    pcov = covariance(joint.jtj, joint.cost, np.array([M]), j_mask == 0, absolute_sigma)[0]
    if loss != "l2":
        pcov[:] = np.nan
    se = _stderr(pcov[None], loss)[0]
    popt = joint.params[0]
    params = {p: (float(popt[index[p]]) if p in shared else popt[index[p]].copy()) for p in law.params}
    stderr = {p: (float(se[index[p]]) if p in shared else se[index[p]].copy()) for p in law.params}
    detail = None
    if joint.status[0] == Status.BAD_INPUT:  # say which group's data: the first one that cannot be fitted
        why = law_reasons(Data(single, single.input_matrix(inputs), y, offsets, weight), alone.status,
                          int((mask == 0).sum()), residual)
        detail = next((f"group {labels[k]!r}: {why[k]}" for k in range(G) if alone.status[k] == Status.BAD_INPUT),
                      None)
    warn_failures(joint.status, detail=detail)
    return SharedFit(law=law, groups=labels, shared=shared, params=params, stderr=stderr,
                     popt=popt, pcov=pcov, param_names=names, status=Status(int(joint.status[0])),
                     cost=float(joint.cost[0]), separate_params=alone.params,
                     separate_stderr=alone_se, separate_status=alone.status)
