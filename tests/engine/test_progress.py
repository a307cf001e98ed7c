"""Progress of a batch, counted by the core: ``solve_batch(progress=...)``.

The CPU workers count finished problems (per chunk); the calling thread calls
``progress(finished, total)`` with the GIL held at most every 0.2 s and once
at the end.  An exception raised by the callback stops the batch as Ctrl-C
does and comes out of ``solve_batch`` with the per-problem results attached.
"""
from __future__ import annotations

import io
import time

import numpy as np
import pytest

from lawfit import Status, _core
from lawfit.engine.core import BatchSolution, solve_batch
from lawfit.formula import compile_law

CONVERGED = {int(s) for s in (Status.CONVERGED_FTOL, Status.CONVERGED_XTOL, Status.CONVERGED_FTOL_XTOL,
                              Status.CONVERGED_GTOL)}


def _decay():
    program = compile_law("a*exp(-b*x) + c", ["x"])
    x = np.linspace(0, 4, 2000)
    y = 2 * np.exp(-1.1 * x) + 0.3 + 0.01 * np.sin(9 * x)
    return program, program.input_matrix(x), y, np.array([0, x.size])


def _starts(K):
    return np.tile([1.0, 1.0, 0.0], (K, 1)) + 1e-9 * np.arange(K)[:, None]


def test_progress_counts_rise_to_the_total_and_are_throttled():
    # About half a second on two cores: a few calls while it runs, one at the end.
    program, columns, y, offsets = _decay()
    K = 2500
    calls = []
    t0 = time.perf_counter()
    sol = solve_batch(program, columns, y, offsets, _starts(K), problem_law=np.zeros(K, np.int64), n_threads=2,
                      want_jtj=False, progress=lambda done, total: calls.append((done, total, time.perf_counter())))
    elapsed = time.perf_counter() - t0
    assert set(sol.status.tolist()) <= CONVERGED
    assert calls and calls[-1][:2] == (K, K)
    done = [c[0] for c in calls]
    assert all(total == K for _, total, _ in calls)
    assert done == sorted(done) and 0 <= done[0] and done[-1] == K
    stamps = np.array([c[2] for c in calls[:-1]])
    assert (np.diff(stamps) > 0.15).all(), np.diff(stamps)  # throttled to one call per 0.2 s
    if elapsed > 0.5:  # long enough to be told something before the end
        assert len(calls) >= 2 and calls[0][0] < K


def test_progress_counts_problems_of_generated_starts_and_reduced_batches():
    program, columns, y, offsets = _decay()
    grid = {"a": [1.0, 3.0], "b": [0.5, 2.0], "c": [0.0, 1.0]}  # 8 starts of one law
    calls = []
    sol = solve_batch(program, columns, y, offsets, start_grid=grid, n_resamples=4, best_of=8, summary_runs=4,
                      n_threads=2, progress=lambda done, total: calls.append((done, total)))
    assert sol.mean.shape == (1, 3) and sol.params is None
    assert calls[-1] == (32, 32) and all(total == 32 for _, total in calls)


def test_without_progress_nothing_changes_and_non_callables_are_refused():
    program, columns, y, offsets = _decay()
    K = 40
    args = (program, columns, y, offsets, _starts(K))
    kw = dict(problem_law=np.zeros(K, np.int64), n_threads=2)
    plain = solve_batch(*args, **kw)
    told = solve_batch(*args, **kw, progress=lambda done, total: None)
    np.testing.assert_array_equal(plain.params, told.params)
    np.testing.assert_array_equal(plain.jtj, told.jtj)
    with pytest.raises(TypeError):
        solve_batch(*args, **kw, progress=5)


class Enough(Exception):
    pass


def test_an_exception_in_progress_stops_the_batch_and_propagates():
    # 100,000 problems (tens of seconds on two cores), stopped by the first
    # progress call after 0.2 s: the exception comes out of solve_batch once
    # the workers have stopped, carrying the per-problem results, where the
    # problems never solved are INTERRUPTED with NaN parameters.
    program, columns, y, offsets = _decay()
    K = 100_000
    seen = []

    def stop(done, total):
        seen.append((done, total))
        raise Enough(done)

    t0 = time.perf_counter()
    with pytest.raises(Enough) as info:
        solve_batch(program, columns, y, offsets, _starts(K), problem_law=np.zeros(K, np.int64), n_threads=2,
                    progress=stop)
    elapsed = time.perf_counter() - t0
    assert len(seen) == 1 and seen[0][1] == K and seen[0][0] < K
    assert elapsed < 5.0, elapsed
    partial = info.value.partial_results
    assert isinstance(partial, BatchSolution)
    status = partial.status
    interrupted = status == int(Status.INTERRUPTED)
    assert status.shape == (K,) and interrupted.sum() > K // 2
    assert set(status[~interrupted].tolist()) <= CONVERGED
    assert (~interrupted).sum() >= seen[0][0]  # what progress was told had finished, had
    assert np.isnan(partial.params[interrupted]).all() and np.isfinite(partial.params[~interrupted]).all()
    assert np.isnan(partial.cost[interrupted]).all() and (partial.nfev[interrupted] == 0).all()
    assert np.isnan(partial.jtj[interrupted]).all()
    # The core is usable again at once.
    again = solve_batch(program, columns, y, offsets, _starts(20), problem_law=np.zeros(20, np.int64))
    assert set(again.status.tolist()) <= CONVERGED


def test_the_core_raises_what_progress_raised_with_a_dict_of_partial_results():
    program, columns, y, offsets = _decay()
    K = 100_000
    arrays = _core.BatchArrays(code=program.code, consts=program.consts, n_params=3, columns=columns, y=y,
                               offsets=offsets, problem_law=np.zeros(K, np.int64), p0=_starts(K),
                               lower=np.full(3, -np.inf), upper=np.full(3, np.inf))

    def stop(done, total):
        raise Enough()

    with pytest.raises(Enough) as info:
        _core.solve_batch(arrays, _core.SolverOptions(n_threads=2, want_jtj=False), progress=stop)
    partial = info.value.partial_results
    assert isinstance(partial, dict) and partial["jtj"] is None
    assert (partial["status"] == int(Status.INTERRUPTED)).any()


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self._tty = tty

    def isatty(self):
        return self._tty


@pytest.mark.parametrize("tty", [True, False])
def test_the_plain_bar_rewrites_a_terminal_line_and_logs_whole_lines_elsewhere(monkeypatch, tty):
    """Without tqdm: on a terminal one line rewritten in place (carriage returns, cleared at the
    end); in a log (not a terminal) whole lines, at most one per LOG_EVERY_S, and no escape codes."""
    import builtins

    from lawfit.engine import progress as progress_mod

    real_import = builtins.__import__

    def no_tqdm(name, *a, **k):
        if name.startswith("tqdm"):
            raise ImportError("no tqdm here")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    monkeypatch.setattr(progress_mod, "SHOW_AFTER_S", 0.0)
    stream = _Stream(tty)
    bar = progress_mod.Progress(stream=stream)
    bar.stage("bootstrap")
    for done in (10, 20, 30):
        bar.update(done, 100)
    bar.close("done")
    text = stream.getvalue()
    assert "lawfit: done (" in text and text.endswith(" s)\n")
    if tty:
        assert text.count("\r") >= 3 and "\033[K" in text and "30/100 fits" in text
    else:
        assert "\r" not in text and "\033" not in text
        assert text.splitlines()[0] == "lawfit bootstrap: 10/100 fits"  # then quiet for LOG_EVERY_S
        assert "20/100" not in text and "30/100" not in text


def test_the_bar_counts_batches_before_it_appears_and_rates_only_what_follows(monkeypatch):
    """A stage whose first batch ends before the bar appears still counts it in the total, and the
    fits finished before the bar do not enter its rate (tqdm showed 780 M fits/s on evaluate)."""
    tqdm = pytest.importorskip("tqdm")
    from lawfit.engine import progress as progress_mod

    seen = {}

    class Recorder(tqdm.tqdm):
        def __init__(self, *a, **k):
            seen.update(initial=k.get("initial", 0), total=k.get("total"))
            super().__init__(*a, **{**k, "disable": True})

    monkeypatch.setattr("tqdm.auto.tqdm", Recorder)
    monkeypatch.setattr(progress_mod, "SHOW_AFTER_S", 1e9)
    bar = progress_mod.Progress(stream=_Stream(True))
    bar.stage("fit")
    bar.update(100, 100)  # a first batch, before the bar may appear: counted, not shown
    monkeypatch.setattr(progress_mod, "SHOW_AFTER_S", 0.0)
    bar.update(40, 60)  # the stage's next batch, now shown
    assert seen == {"initial": 140, "total": 160}
    # A new stage gets a bar of its own (the old one's initial would make its rate negative).
    bar.stage("bootstrap")
    bar.update(2000, 100000)
    assert seen == {"initial": 2000, "total": 100000}
    bar.close()
