"""The engine: the one path from every entry point to the compiled core.

``lawfit.fit``, ``evaluate``, ``Law.fit``, ``fit_shared``, ``fit_multistart``,
``bootstrap`` and the batched ``curve_fit`` turn their arguments into

* :class:`~lawfit.engine.options.Options` -- every solver default, once;
* :class:`~lawfit.engine.data.Data` -- the ragged batch, built once per call;
* a plan run by :func:`~lawfit.engine.starts.run_starts` (starts, pruning, the
  best start per law) or the bootstrap (resamples from the optimum, reduced in
  the core),

and read back arrays.  Modules: ``native`` (the only import of ``lawfit._core``),
``core`` (``solve_batch``, ``evaluate_points``, devices), ``covariance``,
``starts``, ``progress``, ``pool`` (the process's thread pool), ``jit`` (laws compiled to machine code), ``device``
(GPU arrays), ``stubgen`` (writes ``_core.pyi``).  Nothing here is imported at
package import beyond what ``lawfit`` itself needs.
"""
