"""Test-time scaling: the pass@k estimator and the Kinetics cost model.

* :func:`pass_at_k` -- the unbiased estimate of pass@k from n samples of which c are
  correct, 1 - C(n - c, k)/C(n, k) (Chen et al. 2021, arXiv:2107.03374, eq. 1), computed
  as a product so large n does not overflow.  Averaged over problems it is the
  coverage that the ``coverage`` law fits against k.
* :func:`kinetics_cost` -- the effective cost of generating with a model, following
  Sadhukhan et al. 2025, "Kinetics: Rethinking Test-Time Scaling Laws"
  (arXiv:2506.05333, §3): effective FLOPs = compute + I x memory traffic, where I is the
  accelerator's arithmetic intensity (FLOP per byte) and the memory traffic counts the
  parameters (read once per decoding step, shared by the batch) and the KV cache (read
  by every generated token).  The catalog entry ``kinetics_cost`` is the same formula
  with I as its parameter.
"""
from __future__ import annotations

import numpy as np

__all__ = ["pass_at_k", "kinetics_cost", "KINETICS_FORMULA"]

#: The Kinetics cost as a formula of the catalog entry (inputs N, kv, r, L_in, L_out, k, batch; parameter I).
#: Per sample: compute 2 N L_out + 2 r kv T and memory 2 N L_out / batch + 2 kv T bytes (bf16), with
#: T = L_in L_out + L_out (L_out + 1)/2 the summed context lengths of the generated tokens.
KINETICS_FORMULA = ("k*(2*N*L_out + 2*r*kv*(L_in*L_out + L_out*(L_out + 1)/2) "
                    "+ I*(2*N*L_out/batch + 2*kv*(L_in*L_out + L_out*(L_out + 1)/2)))")


def pass_at_k(n, c, k) -> np.ndarray:
    """Unbiased pass@k from n samples with c correct: 1 - C(n-c, k)/C(n, k) (Chen et al. 2021).

    Arrays broadcast; k <= n is required.

    Examples
    --------
    >>> pass_at_k(10, 1, [1, 5, 10]).round(3).tolist()
    [0.1, 0.5, 1.0]
    """
    n, c, k = np.broadcast_arrays(*(np.asarray(v, dtype=np.int64) for v in (n, c, k)))
    if np.any(k > n) or np.any(c > n) or np.any(k < 1) or np.any(c < 0):
        raise ValueError("need 1 <= k <= n and 0 <= c <= n")
    out = np.empty(n.shape, dtype=float)
    for idx in np.ndindex(n.shape):
        nn, cc, kk = int(n[idx]), int(c[idx]), int(k[idx])
        if nn - cc < kk:
            out[idx] = 1.0
        else:  # prod_{i = n-c+1}^{n} (1 - k/i)
            i = np.arange(nn - cc + 1, nn + 1, dtype=float)
            out[idx] = 1.0 - float(np.prod(1.0 - kk / i))
    return out


def kinetics_cost(N, kv, L_out, *, L_in=0.0, r=1.0, k=1.0, batch=1.0, intensity=562.5):
    """Effective FLOPs of k samples of L_out tokens each (Sadhukhan et al. 2025, §3).

    Parameters
    ----------
    N : parameters of the model.
    kv : KV-cache elements per token, 2 x layers x (KV heads x head dimension).
    L_out, L_in : generated and prompt tokens per sample.
    r : query heads per KV head (grouped-query attention).
    k : samples per problem.
    batch : sequences decoded together (parameter reads are shared by them).
    intensity : the accelerator's FLOP per byte of memory bandwidth (562.5 is the
        value Kinetics uses for a B200; an assumption to replace by your hardware's).

    Examples
    --------
    >>> c = kinetics_cost(8e9, 2 * 36 * 8 * 128, 4096, L_in=512)
    >>> bool(c > 2 * 8e9 * 4096)
    True
    """
    N, kv, L_out, L_in, r, k, batch = (np.asarray(v, float) for v in (N, kv, L_out, L_in, r, k, batch))
    T = L_in * L_out + L_out * (L_out + 1) / 2
    return k * (2 * N * L_out + 2 * r * kv * T + intensity * (2 * N * L_out / batch + 2 * kv * T))
