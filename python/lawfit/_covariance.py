"""Parameter covariance from J^T W J, the way scipy.optimize.curve_fit computes it.

curve_fit (scipy >= 1.8, non-'lm' methods) takes the Moore-Penrose inverse of J
discarding singular values below ``eps * max(J.shape) * s_max``; with
s^2 = eigenvalues of J^T J the same inverse is ``V diag(1/s^2) V^T``.  Unless
``absolute_sigma`` it is scaled by the reduced chi-square ``2 cost / (M - P)``.
"""
from __future__ import annotations

import numpy as np


def pinv_jtj(jtj: np.ndarray, n_points: np.ndarray | int) -> np.ndarray:
    """Pseudo-inverse of a stack of J^T J matrices (..., P, P); NaN where not finite."""
    jtj = np.asarray(jtj, dtype=float)
    out = np.full(jtj.shape, np.nan)
    finite = np.isfinite(jtj).all(axis=(-2, -1))
    if not finite.any():
        return out
    w, v = np.linalg.eigh(jtj[finite])
    s = np.sqrt(np.clip(w, 0.0, None))
    m = np.broadcast_to(np.asarray(n_points), finite.shape)[finite]
    threshold = np.finfo(float).eps * np.maximum(m, jtj.shape[-1])[:, None] * s.max(axis=-1, keepdims=True)
    keep = s > threshold
    inv_s2 = np.where(keep, 1.0 / np.where(keep, s, 1.0) ** 2, 0.0)
    out[finite] = np.einsum("kij,kj,klj->kil", v, inv_s2, v)
    return out


def scaled_covariance(
    jtj: np.ndarray, cost: np.ndarray, n_points: np.ndarray, n_free: int, absolute_sigma: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Covariance per problem and a mask of problems where it could not be estimated.

    ``cost`` is 1/2 of the weighted sum of squares, as lawfit's core reports it.
    Undeterminable covariances are filled with inf, as curve_fit does.
    """
    pcov = pinv_jtj(jtj, n_points)
    bad = np.isnan(pcov).any(axis=(-2, -1))
    if not absolute_sigma:
        dof = np.asarray(n_points) - n_free
        ok_dof = dof > 0
        s_sq = np.where(ok_dof, 2.0 * np.asarray(cost) / np.where(ok_dof, dof, 1), np.inf)
        pcov = pcov * s_sq[..., None, None]
        bad = bad | ~ok_dof
    pcov[bad] = np.inf
    return pcov, bad
