"""The process's thread pool, for work that releases the GIL (numpy, the core).

Used by the input matrix's hoisted columns (``lawfit.formula``) and by
predictions per bootstrap replicate (``lawfit.result``).  One pool for the
process: starting threads costs ~1 ms per call.  Never submit to it from one
of its own threads (a full pool would wait on itself).
"""
from __future__ import annotations

import os

__all__ = ["thread_pool"]

_pool = None


def thread_pool():
    """The pool of up to 8 threads.  Two threads racing here may each make one: the spare is
    collected, nothing is lost."""
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(min(os.cpu_count() or 1, 8), thread_name_prefix="lawfit")
    return _pool


def _forget_pool() -> None:
    """A forked child has none of the parent's threads: it makes its own pool."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)
