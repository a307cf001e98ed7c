"""Parameter covariance from J^T W J, the way scipy.optimize.curve_fit computes it.

curve_fit (scipy >= 1.8, non-'lm' methods) takes the Moore-Penrose inverse of J
discarding singular values below ``eps * max(J.shape) * s_max``; with
s^2 = eigenvalues of J^T J the same inverse is ``V diag(1/s^2) V^T``.  Unless
``absolute_sigma`` it is scaled by the reduced chi-square ``2 cost / (M - P)``.

lawfit applies that rule to the column-scaled matrix D^-1 J^T J D^-1
(D = column norms of J), then unscales.  Forming J^T J squares J's condition
number; the scaling removes the part that comes only from parameters of very
different magnitude (NIST Hahn1, Bennett5), so covariances keep their digits
where an unscaled eigen-decomposition would drop real directions as singular.
"""
from __future__ import annotations

import numpy as np

from . import native as _core
from .checks import finite_rows


# Scaled Cholesky pivots below this go to the rank-revealing path: far above
# the singular-value cut-off, so every matrix the cut-off would truncate does.
_MIN_PIVOT = 1e-10
_multiply = np.multiply


def pinv_jtj(jtj: np.ndarray, n_points: np.ndarray | int, inverse: tuple | None = None) -> np.ndarray:
    """Pseudo-inverse of a stack of J^T J matrices (K, P, P); NaN where not finite.

    Well-conditioned matrices are inverted by a scaled Cholesky in the C++
    core (the result equals the pseudo-inverse); the rest take the eigenvalue
    route below.  ``inverse``: that Cholesky's ``(inverses, ok)`` when the
    caller has it already (:func:`free_block_inverse`); its matrices become
    the result (no copy: a fresh (L, P, P) array costs page faults), so the
    caller must not use them afterwards.
    """
    jtj = np.ascontiguousarray(jtj, dtype=float)
    if jtj.ndim == 2:
        return pinv_jtj(jtj[None], n_points)[0]
    if inverse is None:
        fast, ok = _core.covariance(jtj, _MIN_PIVOT)
    else:
        fast, ok = inverse
    if ok.all():
        return fast
    out = _pinv_eigh(jtj[~ok], np.broadcast_to(np.asarray(n_points), ok.shape)[~ok])
    fast[~ok] = out
    return fast


def free_block_inverse(jtj: np.ndarray, fixed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The core's scaled-Cholesky inverses of each law's free block of J^T J, and where they
    succeeded: ``(inverses (L, P, P), ok (L,))``, fixed rows and columns replaced by the identity's.

    One pass over the matrices serves both the identifiability screen (which
    takes the diagonals, :func:`inverse_diagonals`) and then the covariance
    (:func:`parameter_covariance`'s ``inverse``, which takes the matrices over).
    """
    return _core.covariance(_free_block(jtj, fixed), _MIN_PIVOT)


def inverse_diagonals(inverse: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(diagonals (L, P), ok (L,))`` of :func:`free_block_inverse`'s result: what the
    identifiability screen needs, copied before the covariance takes the matrices over."""
    return np.diagonal(inverse[0], axis1=-2, axis2=-1).copy(), inverse[1]


def _free_block(jtj: np.ndarray, fixed: np.ndarray | None) -> np.ndarray:
    """J^T J with the rows and columns of fixed parameters those of the identity (C-contiguous)."""
    if fixed is None or not np.any(fixed):
        return np.ascontiguousarray(jtj, dtype=float)
    A = np.array(jtj, dtype=float)
    fixed = np.broadcast_to(np.asarray(fixed, dtype=bool), A.shape[:-1])
    fixed_rc = fixed[..., :, None] | fixed[..., None, :]
    A[fixed_rc] = 0.0
    A[fixed_rc & np.eye(A.shape[-1], dtype=bool)] = 1.0
    return A


def _pinv_eigh(jtj: np.ndarray, n_points: np.ndarray) -> np.ndarray:
    """curve_fit's singular-value cut-off, applied to the scaled J^T J."""
    out = np.full(jtj.shape, np.nan)
    finite = np.isfinite(jtj).all(axis=(-2, -1))
    if not finite.any():
        return out
    a = jtj[finite]
    d = np.sqrt(np.clip(np.diagonal(a, axis1=-2, axis2=-1), 0.0, None))
    d_safe = np.where(d > 0, d, 1.0)
    w, v = np.linalg.eigh(a / (d_safe[:, :, None] * d_safe[:, None, :]))
    s = np.sqrt(np.clip(w, 0.0, None))
    m = np.broadcast_to(np.asarray(n_points), finite.shape)[finite]
    threshold = np.finfo(float).eps * np.maximum(m, jtj.shape[-1])[:, None] * s.max(axis=-1, keepdims=True)
    keep = s > threshold
    inv_s2 = np.where(keep, 1.0 / np.where(keep, s, 1.0) ** 2, 0.0)
    inv = np.einsum("kij,kj,klj->kil", v, inv_s2, v) / (d_safe[:, :, None] * d_safe[:, None, :])
    # A parameter the model does not depend on has no finite variance.
    inv[(d == 0)[:, :, None] | (d == 0)[:, None, :]] = np.nan
    out[finite] = inv
    return out


def loss_terms(loss: str, z: np.ndarray):
    """rho(z), rho'(z), rho''(z) as scipy.optimize.least_squares (cpp/lawfit/loss.hpp)."""
    if loss == "l2":
        return z, np.ones_like(z), np.zeros_like(z)
    if loss == "huber":
        s = np.sqrt(np.maximum(z, 1.0))
        inside = z <= 1.0
        return (np.where(inside, z, 2.0 * s - 1.0), np.where(inside, 1.0, 1.0 / s),
                np.where(inside, 0.0, -0.5 / (np.maximum(z, 1.0) * s)))
    if loss == "soft_l1":
        t = 1.0 + z
        s = np.sqrt(t)
        return 2.0 * (s - 1.0), 1.0 / s, -0.5 / (t * s)
    if loss == "cauchy":
        t = 1.0 + z
        return np.log1p(z), 1.0 / t, -1.0 / (t * t)
    if loss == "arctan":
        t = 1.0 + z * z
        return np.arctan(z), 1.0 / t, -2.0 * z / (t * t)
    raise ValueError(f"unknown loss {loss!r}")


def modified_jtj(r: np.ndarray, J: np.ndarray, loss: str, delta: float) -> np.ndarray:
    """J^T J of least_squares' modified Jacobian at a robust fit's solution (P, P): J's rows scaled by
    sqrt(max(rho' + 2 rho'' z, eps)), z = (r / delta)^2 (scipy's ``scale_for_robust_loss_function``),
    the matrix scipy's curve_fit inverts for pcov.  ``r`` (M,) are the (weighted) residuals, ``J`` (M, P)."""
    z = (r / delta) ** 2
    _, r1, r2 = loss_terms(loss, z)
    h = np.maximum(r1 + 2.0 * r2 * z, np.finfo(float).eps)
    return (J * h[:, None]).T @ J


def scaled_covariance(
    jtj: np.ndarray, cost: np.ndarray, n_points: np.ndarray, n_free: int, absolute_sigma: bool,
    undetermined: str = "inf", inverse: tuple | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Covariance per problem (no fixed parameters: ``n_free`` is P) and a mask of problems
    where it could not be estimated (:func:`parameter_covariance`; inf there, as curve_fit).

    ``undetermined`` is curve_fit's rule for a parameter the model does not
    depend on (a zero column of J): ``"inf"`` makes the whole matrix inf, as
    leastsq's inverse of R does ('lm'); ``"pinv"`` keeps the pseudo-inverse,
    whose rows and columns for that parameter are 0, as scipy's 'trf' and
    'dogbox' do (no warning then).  ``inverse``: :func:`free_block_inverse` of the (K, P, P) ``jtj``
    when the caller has it.
    """
    if n_free != np.shape(jtj)[-1]:
        raise ValueError(f"scaled_covariance has no fixed parameters: n_free ({n_free}) must be P")
    jtj = np.asarray(jtj, dtype=float)
    lead = jtj.shape[:-2]
    flat = jtj.reshape((-1,) + jtj.shape[-2:])
    n = np.broadcast_to(np.asarray(n_points), lead).reshape(-1)
    pcov = parameter_covariance(flat, np.broadcast_to(np.asarray(cost, float), lead).reshape(-1), n,
                                None, absolute_sigma, inverse if jtj.ndim == 3 else None)
    if undetermined == "pinv":
        pcov[np.isnan(pcov) & finite_rows(flat)[:, None, None]] = 0.0
    bad = ~finite_rows(pcov)
    pcov[bad] = np.inf  # curve_fit: undetermined means inf throughout
    return pcov.reshape(jtj.shape), bad.reshape(lead)


def free_block_pinv(jtj: np.ndarray, fixed: np.ndarray | None, n_points, inverse: tuple | None = None) -> np.ndarray:
    """Pseudo-inverse of (L, P, P) matrices over each law's free parameters.

    Rows and columns of fixed parameters (``fixed`` (P,) or (L, P) mask) are
    0 in the result: the free block is inverted alone (the core leaves the
    fixed rows of J^T J at 0).  ``inverse``: :func:`free_block_inverse`'s result
    for these matrices, when the caller has it.
    """
    if fixed is None or not np.any(fixed):
        return pinv_jtj(jtj, n_points, inverse)
    inv = pinv_jtj(_free_block(jtj, fixed), n_points, inverse)
    fixed = np.broadcast_to(np.asarray(fixed, dtype=bool), inv.shape[:-1])
    inv[fixed[..., :, None] | fixed[..., None, :]] = 0.0
    return inv


def parameter_covariance(jtj: np.ndarray, cost: np.ndarray, n_points, fixed=None,
                         absolute_sigma: bool = False, inverse: tuple | None = None) -> np.ndarray:
    """curve_fit's covariance of every law (L, P, P): the one implementation behind
    ``lawfit.fit``, ``Law.fit``, ``fit_shared``, ``fit_multistart`` and ``curve_fit``.

    pinv(J^T W J) over the free parameters (fixed rows and columns 0), scaled by
    the reduced chi-square 2 cost / (n - k) unless ``absolute_sigma``.  A
    parameter the law does not depend on has NaN rows and columns (the others
    keep their variances); a law with no residual degrees of freedom (n <= k,
    without ``absolute_sigma``) or a non-finite J^T W J is inf throughout.
    :func:`scaled_covariance` (curve_fit's single and batched fits) makes any
    undetermined matrix inf, as scipy does.
    """
    jtj = np.asarray(jtj, dtype=float)
    L, P = jtj.shape[0], jtj.shape[-1]
    fixed_rows = None if fixed is None else np.broadcast_to(np.asarray(fixed, dtype=bool), (L, P))
    pcov = free_block_pinv(jtj, fixed_rows, n_points, inverse)
    bad = ~finite_rows(jtj)
    if not absolute_sigma:
        n_free = P if fixed_rows is None or not fixed_rows.any() else (~fixed_rows).sum(axis=1)
        dof = np.broadcast_to(np.asarray(n_points), (L,)) - n_free
        ok_dof = dof > 0
        s_sq = np.where(ok_dof, 2.0 * np.asarray(cost, dtype=float) / np.where(ok_dof, dof, 1), 1.0)
        pcov *= s_sq[:, None, None]
        bad = bad | ~ok_dof
    pcov[bad] = np.inf
    return pcov


def scaled_inverse(jtj: np.ndarray) -> tuple:
    """The core's scaled Cholesky inverse of one J^T J (P, P): ``(inv (1, P, P), ok (1,))``."""
    return _core.covariance(jtj[None], _MIN_PIVOT)


def single_covariance(jtj: np.ndarray, cost: float, n_points: int, absolute_sigma: bool,
                      undetermined: str = "inf", inverse: tuple | None = None) -> tuple[np.ndarray, bool]:
    """:func:`scaled_covariance` of one problem (P, P), the common case without numpy overhead.

    A well-conditioned J^T J is inverted by the core's scaled Cholesky; any
    other goes through :func:`scaled_covariance`'s rules.  ``inverse``: that
    inversion's ``(inv (1, P, P), ok (1,))`` when the caller already has it
    (:func:`scaled_inverse`); ``inv`` is then overwritten.
    """
    P = jtj.shape[-1]
    if absolute_sigma or n_points > P:
        inv, ok = _core.covariance(jtj.reshape(1, P, P), _MIN_PIVOT) if inverse is None else inverse
        if ok[0]:
            pcov = inv[0]
            if not absolute_sigma:
                _multiply(pcov, 2.0 * cost / (n_points - P), pcov)  # pcov *= ..., without the operator's overhead
            return pcov, False
    pcov, bad = scaled_covariance(jtj, cost, n_points, P, absolute_sigma, undetermined)
    return pcov, bool(bad)
