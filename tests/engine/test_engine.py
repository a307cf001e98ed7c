"""The engine under every entry point: options, the ragged data, the multistart driver
(pruning), the statistics of all laws at once, identifiability, bootstrap counts."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lawfit
from lawfit.engine import native
from lawfit.engine.core import evaluate_points, solve_batch
from lawfit.engine.data import Data
from lawfit.engine.options import Options
from lawfit.engine.starts import AUTO_CONFIRM, AUTO_PRUNE_K, halton, log_box_starts, resolve_prune, run_starts
from lawfit.multistart import fit_multistart
from lawfit.uncertainty import covariance, goodness_of_fit

pd = pytest.importorskip("pandas")

LAW = "E + A/N**alpha + B/D**beta"


def _collection(n_laws=12, seed=0, noise=0.01, n_tokens=5):
    rng = np.random.default_rng(seed)
    N = np.repeat(np.geomspace(1e7, 1e9, 6), n_tokens)
    D = np.tile(np.geomspace(1e9, 1e11, n_tokens), 6)
    ys = [(1.7 + rng.uniform(-0.2, 0.2)) + 400 * N**-0.34 + 410 * D**-0.28 + noise * rng.standard_normal(N.size)
          for _ in range(n_laws)]
    return N, D, ys


# --------------------------------------------------------------------------- options and data


def test_options_hold_the_defaults_and_reject_bad_values():
    o = Options()
    assert (o.ftol, o.xtol, o.gtol, o.loss, o.residual) == (1.49012e-8, 1.49012e-8, 0.0, "l2", "linear")
    assert Options(loss="linear").loss == "l2"  # scipy's name
    assert o.replace(loss="huber", delta=None).loss == "huber"
    with pytest.raises(ValueError, match="unknown loss 'tukey'"):
        Options(loss="tukey")
    with pytest.raises(ValueError, match="delta"):
        Options(delta=0)
    with pytest.raises(ValueError, match="residual"):
        Options(residual="sqrt")
    with pytest.raises(ValueError, match="device"):
        Options(device="tpu")
    with pytest.raises(Exception):
        o.ftol = 1.0  # frozen


def test_data_checks_offsets():
    prog = lawfit.compile_law("a*x", inputs=["x"])
    with pytest.raises(ValueError, match="offsets"):
        Data(prog, prog.input_matrix({"x": np.arange(3.0)}), np.arange(3.0), [0, 2])
    d = Data(prog, prog.input_matrix({"x": np.arange(5.0)}), np.arange(5.0), [0, 2, 2, 5])
    assert d.n_points.tolist() == [2, 0, 3] and d.point_law.tolist() == [0, 0, 2, 2, 2]


def test_evaluate_points_uses_each_laws_own_parameters():
    prog = lawfit.compile_law("a*x**b", inputs=["x"])
    x = np.arange(1.0, 7.0)
    p = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 0.5]])
    f, g = evaluate_points(prog, prog.input_matrix({"x": x}), p, [0, 2, 4, 6])
    law = np.repeat(np.arange(3), 2)
    np.testing.assert_allclose(f, p[law, 0] * x ** p[law, 1], rtol=1e-15)
    np.testing.assert_allclose(g[:, 0], x ** p[law, 1], rtol=1e-15)
    np.testing.assert_allclose(g[:, 1], p[law, 0] * x ** p[law, 1] * np.log(x), rtol=1e-14, atol=1e-300)
    with pytest.raises(ValueError, match="shape"):
        evaluate_points(prog, prog.input_matrix({"x": x}), p[:2], [0, 2, 4, 6])


@pytest.mark.parametrize("formula, inputs", [("a*x**b", ["x"]), ("E + A/N**alpha + B/D**beta", ["N", "D"]),
                                             ("log(a + exp(b*x))", ["x"])])
def test_evaluate_points_without_gradient_gives_the_same_values(formula, inputs):
    prog = lawfit.compile_law(formula, inputs=inputs)
    rng = np.random.default_rng(3)
    cols = {n: rng.uniform(1.0, 1e4, 37) for n in inputs}
    p = rng.uniform(0.1, 2.0, (3, prog.n_params))
    f, g = evaluate_points(prog, prog.input_matrix(cols), p, [0, 10, 30, 37])
    f0, g0 = evaluate_points(prog, prog.input_matrix(cols), p, [0, 10, 30, 37], gradient=False)
    assert g.shape == (37, prog.n_params) and g0.shape == (0, prog.n_params)
    assert f0.tobytes() == f.tobytes()


# --------------------------------------------------------------------------- pruning


def test_log_box_starts_of_many_centres_are_each_centres_own():
    # (R, P) centres with per-row bounds give, row by row, exactly the (n, P) starts of one call per
    # centre (the second chance asks for all its problems' starts at once): zero centres, negative
    # centres, clipping included.
    rng = np.random.default_rng(3)
    R, P = 40, 5
    centres = rng.standard_normal((R, P)) * 10.0 ** rng.uniform(-3, 3, (R, P))
    centres[3, 2], centres[7] = 0.0, 0.0
    lower, upper = np.full((R, P), -np.inf), np.full((R, P), np.inf)
    lower[::3], upper[::4] = -5.0, 50.0
    many = log_box_starts(centres, 64, 3.0, lower, upper)
    assert many.shape == (R, 64, P)
    for i in range(R):
        np.testing.assert_array_equal(many[i], log_box_starts(centres[i], 64, 3.0, lower[i], upper[i]))
    assert (many[::3] >= -5.0).all() and (many[::4] <= 50.0).all()
    # scalar and (P,) bounds with rows of centres; a scalar centre is one parameter
    shared = log_box_starts(centres, 64, 3.0, -5.0, upper[0])
    for i in range(R):
        np.testing.assert_array_equal(shared[i], log_box_starts(centres[i], 64, 3.0, -5.0, upper[0]))
    assert log_box_starts(2.0, 8).shape == (8, 1)
    points = halton(8, 2)  # a copy: the cached points cannot be changed through it
    points[0, 0] = 7.0
    assert halton(8, 2)[0, 0] == 0.5


def test_resolve_prune():
    assert resolve_prune("auto", 64) is None and resolve_prune("auto", 243) == AUTO_PRUNE_K
    assert resolve_prune(None, 500) is None and resolve_prune(5, 3) == 3
    with pytest.raises(ValueError):
        resolve_prune(0, 10)
    with pytest.raises(ValueError):
        resolve_prune("fast", 10)


def test_auto_pruning_equals_the_full_grid_on_a_collection():
    N, D, ys = _collection(n_tokens=20)  # 120 points per law: more than AUTO_PRUNE_MAX_POINTS_FULL
    grid = lawfit.laws["chinchilla"].start_axes()
    grid = dict(zip(lawfit.laws["chinchilla"].params, grid))
    kw = dict(lower=[0, 0, 0, 0, 0], upper=[20, np.inf, 3, np.inf, 3], params=["E", "A", "alpha", "B", "beta"])
    full = fit_multistart(LAW, {"N": N, "D": D}, ys, grid, prune=None, **kw)
    auto = fit_multistart(LAW, {"N": N, "D": D}, ys, grid, **kw)
    assert full.n_run.tolist() == [243] * 12
    assert (auto.n_run < 243).any()  # pruned where the optimum is confirmed by several starts
    small = fit_multistart(LAW, {"N": N[::4], "D": D[::4]}, [y[::4] for y in ys], grid, **kw)
    assert small.n_run.tolist() == [243] * 12  # 30 points: the whole grid
    assert np.all(auto.cost <= full.cost * (1 + 1e-7))
    np.testing.assert_allclose(auto.params, full.params, rtol=1e-3)


def test_duplicate_laws_are_solved_once_and_copied(monkeypatch):
    """Laws identical to an earlier law of the batch (evaluate's windowed cut-offs repeat a quarter
    of theirs) are not run again: every outcome equals the batch without the copies, and the core
    solves only the distinct laws' problems.  A law differing in one y value, or in its bounds, is
    not a copy."""
    from lawfit.engine import starts as starts_mod

    N, D, ys = _collection(n_laws=4, n_tokens=4, noise=0.003)
    law = lawfit.laws["chinchilla"]
    grid = dict(zip(law.params, law.start_axes()))
    lower = np.zeros((7, 5))
    upper = np.tile([20, np.inf, 3, np.inf, 3], (7, 1)).astype(float)
    near = ys[1].copy()
    near[3] += 1e-12
    batch = [ys[0], ys[1], ys[0], ys[2], ys[1], near, ys[2]]  # 2, 4 repeat 0, 1; 5 is not a copy
    upper[6, 0] = 10.0  # law 6 has law 3's data but other bounds: not a copy either
    solved = []
    real = starts_mod.solve_batch

    def counting(*a, **k):
        sol = real(*a, **k)
        if not k.get("evaluate_only"):
            solved.append(len(sol.status))
        return sol

    monkeypatch.setattr(starts_mod, "solve_batch", counting)
    kw = dict(params=list(law.params), prune=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lawfit.LawfitWarning)
        got = fit_multistart(LAW, {"N": N, "D": D}, batch, grid, lower=lower, upper=upper, **kw)
        assert sum(solved) == 5 * 243
        dup, rep = starts_mod.duplicate_laws(got.data, lower, upper, np.zeros((7, 5), bool), None)
        assert dup.tolist() == [2, 4] and rep.tolist() == [0, 1]
        solved.clear()
        alone = fit_multistart(LAW, {"N": N, "D": D}, [batch[i] for i in (0, 1, 3, 5, 6)], grid,
                               lower=lower[[0, 1, 3, 5, 6]], upper=upper[[0, 1, 3, 5, 6]], **kw)
    for name in ("params", "cost", "status", "all_params", "all_cost", "all_status", "all_nit", "nfev", "jtj"):
        np.testing.assert_array_equal(getattr(got, name), getattr(alone, name)[[0, 1, 0, 2, 1, 3, 4]], err_msg=name)


def test_auto_pruning_runs_the_whole_grid_for_laws_found_by_few_starts():
    """A law whose best cost fewer than AUTO_CONFIRM of the pruned starts reached is run on the
    whole grid: a sine's frequency has narrow basins, 2 of the 16 best starts find it."""
    x = np.linspace(0.0, 20.0, 200)
    y = np.sin(5.0 * x)
    grid = {"a": [1.0], "w": np.linspace(0.1, 12, 120)}
    k16 = fit_multistart("a*sin(w*x)", x, y, grid, params=["a", "w"], prune=16)
    auto = fit_multistart("a*sin(w*x)", x, y, grid, params=["a", "w"])
    assert k16.n_run[0] == 16 and k16.basin_count[0] < AUTO_CONFIRM
    assert auto.n_run[0] == 120 and auto.basin_count[0] >= k16.basin_count[0]
    np.testing.assert_allclose(auto.params[0], [1.0, 5.0], rtol=1e-6)


def test_racing_laws_of_few_points_finds_the_full_grids_optimum_with_fewer_evaluations():
    """With prune="race", laws of few points run every start, but only the RACE_K lowest-cost
    starts still iterating after RACE_NFEV evaluations continue (all of them where the optimum is
    not yet confirmed); the default runs them all to the end, exactly as prune=None."""
    from lawfit.engine import starts as starts_mod

    N, D, ys = _collection(n_laws=8, n_tokens=4, noise=0.003)  # 24 points per law
    law = lawfit.laws["chinchilla"]
    grid = dict(zip(law.params, law.start_axes()))
    kw = dict(lower=[0, 0, 0, 0, 0], upper=[20, np.inf, 3, np.inf, 3], params=list(law.params))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lawfit.LawfitWarning)
        full = fit_multistart(LAW, {"N": N, "D": D}, ys, grid, prune=None, **kw)
        auto = fit_multistart(LAW, {"N": N, "D": D}, ys, grid, **kw)
        raced = fit_multistart(LAW, {"N": N, "D": D}, ys, grid, prune="race", **kw)
    for name in ("params", "cost", "all_cost", "all_nit", "nfev"):
        np.testing.assert_array_equal(getattr(auto, name), getattr(full, name))
    assert raced.n_run.tolist() == [243] * 8  # every start was run ...
    assert raced.nfev.sum() < 0.6 * full.nfev.sum()  # ... most of them only RACE_NFEV evaluations
    stopped = (raced.all_status == int(lawfit.Status.MAX_EVALUATIONS)) & (raced.all_nit < 600)
    assert stopped.any() and np.all(raced.all_nit[stopped] < starts_mod.RACE_NFEV)
    np.testing.assert_array_equal(raced.converged, full.converged)
    np.testing.assert_allclose(raced.cost, full.cost, rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 12))
def test_pruning_never_returns_a_worse_optimum_than_the_best_evaluated_start(seed, k):
    rng = np.random.default_rng(seed)
    x = np.linspace(1.0, 10.0, 30)
    y = rng.uniform(1, 5) * x ** -rng.uniform(0.1, 1.5) + rng.uniform(0, 2) + 0.01 * rng.standard_normal(30)
    starts = np.column_stack([rng.uniform(0.1, 10, 40), rng.uniform(0.01, 3, 40), rng.uniform(-1, 3, 40)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lawfit.LawfitWarning)
        fit = fit_multistart("a*x**-b + c", x, y, starts, prune=k)
    best_start = np.nanmin(fit.start_cost[0])
    assert int((fit.all_status[0] != 0).sum()) == k
    if fit.converged[0]:
        assert fit.cost[0] <= best_start * (1 + 1e-12)


def test_grid_axes_reach_the_core_and_give_the_points_of_the_array():
    N, D, ys = _collection(4)
    law = lawfit.laws["chinchilla"]
    axes = law.start_axes()
    lo, hi = law._bound_arrays()
    prog = law.program
    data = Data(prog, prog.input_matrix({"N": np.tile(N, 4), "D": np.tile(D, 4)}), np.concatenate(ys),
                np.arange(5) * N.size)
    L, P = 4, 5
    kw = dict(lower=np.tile(lo, (L, 1)), upper=np.tile(hi, (L, 1)), fixed=np.zeros(P, bool), prune=8)
    a = run_starts(data, axes, Options(), **kw)
    b = run_starts(data, law.start_grid(), Options(), **kw)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.start_cost, b.start_cost)


# --------------------------------------------------------------------------- statistics


def _per_law_terms(fit, law):
    s, e = fit.data.offsets[law], fit.data.offsets[law + 1]
    prog = fit.program
    f, J = prog.evaluate_columns(fit.params[law], fit.data.columns[:, s:e])
    y = fit.data.y[s:e]
    return f - y, J, y


@pytest.mark.parametrize("loss", ["l2", "huber", "soft_l1"])
def test_statistics_of_all_laws_equal_law_by_law(loss):
    N, D, ys = _collection(6, noise=0.03)
    fit = fit_multistart(LAW, {"N": N, "D": D}, ys, np.array([[1.7, 400, 0.34, 410, 0.28]]), loss=loss,
                         delta=0.02, params=["E", "A", "alpha", "B", "beta"], fixed=["beta"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lawfit.LawfitWarning)
        cov = covariance(fit, kind="sandwich")
    gof = goodness_of_fit(fit)
    for law in range(6):
        r, J, y = _per_law_terms(fit, law)
        J[:, 4] = 0.0  # beta is fixed
        rss = np.sum(r * r)
        assert gof["rss"][law] == pytest.approx(rss, rel=1e-10)
        assert gof["r2"][law] == pytest.approx(1 - rss / np.sum((y - y.mean()) ** 2), rel=1e-10)
        z = r * r / 0.02**2
        from lawfit.engine.covariance import loss_terms
        _, r1, r2 = loss_terms(fit.loss, z)
        g = (r1 * r)[:, None] * J
        A = (J * (r1 + 2 * r2 * z)[:, None]).T @ J
        A4 = np.linalg.pinv(A[:4, :4])
        n = r.size
        want = A4 @ (g.T @ g)[:4, :4] @ A4 * n / (n - 4)
        np.testing.assert_allclose(cov[law][:4, :4], want, rtol=1e-6)
        assert np.all(cov[law][4] == 0)


# --------------------------------------------------------------------------- identifiability


def test_a_law_the_data_cannot_determine_is_marked_with_a_reason():
    rng = np.random.default_rng(1)
    rows = []
    for fam, Ns in [("ok", [1e8, 3e8, 1e9, 3e9]), ("two", [1e8, 1e9])]:
        for N in Ns:
            D = np.geomspace(1e9, 1e11, 8)
            rows.append(pd.DataFrame({"family": fam, "N": N, "D": D,
                                      "loss": 1.7 + 400 * N**-0.34 + 410 * D**-0.28
                                      + 0.002 * rng.standard_normal(8)}))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = lawfit.fit(pd.concat(rows), "chinchilla", y="loss", by="family", progress=False)
    reason = dict(zip(res.params["family"], res.params["reason"]))
    assert not reason["ok"].startswith("not identifiable")
    assert reason["two"].startswith("not identifiable: the data determine only a combination of")
    assert "2 distinct N" in reason["two"]


# --------------------------------------------------------------------------- bootstrap counts


def test_counts_drawn_once_per_problem_equal_the_generators_counts():
    """The CPU caches each problem's counts; the fit equals one with the counts given as weights."""
    N, D, ys = _collection(1)
    prog = lawfit.compile_law(LAW, inputs=["N", "D"])
    cols = prog.input_matrix({"N": N, "D": D})
    p0 = np.array([1.7, 400, 0.34, 410, 0.28])
    R = 6
    sol = solve_batch(prog, cols, ys[0], [0, N.size], np.tile(p0, (R, 1)), problem_law=np.zeros(R, np.int64),
                      problem_resample=np.arange(R), seed=7, want_jtj=False, n_threads=2)
    for r in range(R):
        w = native.bootstrap_counts(7, 0, r, N.size).astype(float)
        one = solve_batch(prog, cols, ys[0], [0, N.size], p0, weight=w, want_jtj=False)
        np.testing.assert_array_equal(sol.params[r], one.params[0])
        assert sol.nfev[r] == one.nfev[0]


def test_grouped_acceleration_equals_group_by_group():
    from lawfit.uncertainty import grouped_acceleration, jackknife_acceleration

    rng = np.random.default_rng(3)
    group = rng.integers(0, 5, 200)
    group[group == 3] = 4  # group 3 has no jackknife values
    t = rng.standard_normal((200, 2)) ** 3
    t[7, 1] = np.nan
    got = grouped_acceleration(t, group, (5, 2))
    for g in (0, 1, 2, 4):
        np.testing.assert_allclose(got[g], jackknife_acceleration(t[group == g], axis=0), rtol=1e-12)
    assert np.isnan(got[3]).all()


def test_a_batch_of_no_laws_gives_empty_arrays():
    prog = lawfit.compile_law("a*x + b", inputs=["x"])
    data = Data(prog, prog.input_matrix({"x": np.empty(0)}), np.empty(0), [0])
    out = run_starts(data, np.array([[1.0, 0.0]]), Options(), lower=np.empty((0, 2)), upper=np.empty((0, 2)),
                     fixed=np.zeros(2, bool))
    assert out.params.shape == (0, 2) and out.all_cost.shape == (0, 1)


def test_a_law_with_as_many_points_as_parameters_is_not_called_unidentifiable():
    x = np.array([1.0, 2.0, 4.0])
    y = 2.0 * x**-0.5 + 1.0
    res = lawfit.fit(pd.DataFrame({"x": x, "y": y}), "a*x**-b + c", x=["x"], y="y", progress=False,
                     starts={"a": [1.0, 3.0], "b": [0.3, 1.0], "c": [0.5]})
    assert res.converged[0] and res.identified[0]
    np.testing.assert_allclose(res.estimates[0], [2.0, 0.5, 1.0], rtol=1e-6)
    assert not np.isfinite(res.stderr[0]).any()  # no degrees of freedom: no error estimate


def test_progress_counts_on_across_the_batches_of_a_stage(monkeypatch):
    import io

    from lawfit.engine import progress as prog

    class Terminal(io.StringIO):  # the line rewritten in place (a log gets whole lines, now and then)
        def isatty(self):
            return True

    monkeypatch.setattr(prog, "SHOW_AFTER_S", 0.0)
    out = Terminal()
    p = prog.Progress(True, stream=out)
    p._plain = True  # the line without tqdm
    p.stage("fit")
    for done in (0, 5, 10):
        p.update(done, 10)
    for done in (0, 4):  # the next batch of the stage counts on from 10
        p.update(done, 4)
    p.stage("bootstrap")
    p.update(2, 8)
    p.close("3 laws, 3 converged")
    text = out.getvalue()
    assert "lawfit fit: 14/14 fits" in text and "lawfit bootstrap: 2/8 fits" in text
    assert text.rstrip().endswith("lawfit: 3 laws, 3 converged (0.00 s)") or "3 laws, 3 converged (" in text
    assert prog.Progress(False).callback is None


def test_the_fit_does_not_alias_the_callers_table():
    x = np.geomspace(1, 100, 20)
    df = pd.DataFrame({"x": x, "y": 3 * x**-0.5 + 1})  # whole and in canonical order: the fast path
    res = lawfit.fit(df, "a*x**-b + c", x=["x"], y="y", progress=False,
                     starts={"a": [1.0, 5.0], "b": [0.3, 1.0], "c": [0.5]})
    before = res.data()["y"].to_numpy().copy()
    df["y"] *= 2.0
    np.testing.assert_array_equal(res.data()["y"].to_numpy(), before)
    np.testing.assert_allclose(res.estimates[0], [3.0, 0.5, 1.0], rtol=1e-6)


def test_polished_batch_reruns_follow_the_callers_problem_law():
    """Problems that run out of evaluations are rerun on their own law, not on the law of their index."""
    from lawfit.engine.core import polished_batch

    program = lawfit.compile_law("a*exp(-b*x) + c", inputs=["x"])
    x = np.linspace(0, 5, 30)
    ys = [2 * np.exp(-1.3 * x) + 0.5, 7 * np.exp(-0.2 * x) - 1.0, 3 * np.exp(-2.0 * x) + 4.0]
    cols = program.input_matrix({"x": np.tile(x, 3)})
    offsets = np.arange(4) * 30
    law = np.array([2, 0, 1, 2])  # four problems on three laws, out of order
    p0 = np.tile([1.0, 1.0, 0.0], (4, 1))
    sol = polished_batch(program, cols, np.concatenate(ys), offsets, p0, problem_law=law, max_nfev=6)
    again = polished_batch(program, cols, np.concatenate(ys), offsets, p0, problem_law=law, max_nfev=400)
    assert sol.params.shape == (4, 3)
    np.testing.assert_allclose(again.params[[1, 2, 0]], [[2, 1.3, 0.5], [7, 0.2, -1.0], [3, 2.0, 4.0]], rtol=1e-6)
    np.testing.assert_array_equal(again.params[0], again.params[3])
