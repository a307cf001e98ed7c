"""FitResult's public arrays, its statistics for all groups at once, and identifiability.

* Every array behind the tables is public (read-only) and agrees with the
  tables; ``FitResult.concat`` carries every one of them.
* The delta-method standard errors of predictions, derived quantities and the
  frontier come from one core call for all groups and equal the old per-group
  computation.
* Groups whose parameters the data cannot determine (Chinchilla's five
  parameters, two model sizes) are flagged: NaN derived quantities and
  frontier with a reason, predictions kept.
* Plots, reports and ``evaluate`` read no private attribute, and the README
  flow on a fit with degenerate groups emits no RuntimeWarning.
"""
import ast
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

import lawfit  # noqa: E402
from lawfit.result import FitResult  # noqa: E402
from lawfit.uncertainty import identifiability  # noqa: E402

TRUE = dict(E=1.69, A=406.4, alpha=0.34, B=410.7, beta=0.28)
PARAMS = ["E", "A", "alpha", "B", "beta"]


def chinchilla(N, D, E, A, alpha, B, beta):
    return E + A / N**alpha + B / D**beta


def runs(sizes_by_family, noise=0.003, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for fam, sizes in sizes_by_family.items():
        for N in sizes:
            D = np.geomspace(1e9, 1e11, 8)
            L = chinchilla(N, D, **TRUE) * (1 + noise * rng.standard_normal(D.size))
            rows.append(pd.DataFrame({"family": fam, "N": N, "D": D, "loss": L}))
    return pd.concat(rows, ignore_index=True)


FIVE = [1e8, 2e8, 4e8, 8e8, 1.6e9]
#: "two" has only two model sizes: A and alpha are not determined.
DEGENERATE = {"good": FIVE, "two": [1e8, 4e8], "wide": [5e7, 1.5e8, 5e8, 1.5e9, 5e9]}


def fit(data, **kw):
    kw.setdefault("progress", False)
    return lawfit.fit(data, "chinchilla", x=["N", "D"], y="loss", by="family", **kw)


@pytest.fixture(scope="module")
def data():
    return runs(DEGENERATE)


@pytest.fixture(scope="module")
def res(data):
    return fit(data)


@pytest.fixture(scope="module")
def bca(data):
    return fit(data, bootstrap=40, ci="bca", seed=5)


# --------------------------------------------------------------------------
# Public arrays


def test_public_arrays_agree_with_the_tables(res):
    G, P = res.n_groups, len(PARAMS)
    p = res.params
    assert res.estimates.shape == res.stderr.shape == res.low.shape == res.high.shape == (G, P)
    assert res.cov.shape == (G, P, P)
    for j, name in enumerate(PARAMS):
        np.testing.assert_array_equal(res.estimates[:, j], p[name].to_numpy())
        np.testing.assert_array_equal(res.stderr[:, j], p[f"{name}_stderr"].to_numpy())
        np.testing.assert_array_equal(res.low[:, j], p[f"{name}_low"].to_numpy())
        np.testing.assert_array_equal(res.high[:, j], p[f"{name}_high"].to_numpy())
    # Without a bootstrap the stderr is the covariance's diagonal.
    np.testing.assert_allclose(res.stderr ** 2, np.diagonal(res.cov, axis1=1, axis2=2), rtol=1e-12)
    for name in ("cost", "n_points", "n_starts", "n_converged", "basin_count"):
        np.testing.assert_array_equal(getattr(res, name), p[name].to_numpy())
    assert set(res.goodness) == {"rss", "r2", "log_likelihood", "aic", "bic"}
    for k in ("r2", "aic", "bic"):
        np.testing.assert_array_equal(res.goodness[k], p[k].to_numpy())
    assert [lawfit.Status(int(s)).name for s in res.status] == p["status"].tolist()
    assert len(res.reason) == G and all(isinstance(r, str) and r for r in res.reason)
    assert res.replicates is None and res.replicate_status is None
    assert res.jackknife is None and res.jackknife_law is None
    assert res.identified.dtype == bool and res.identified.shape == (G,)
    assert res.n_points.tolist() == [40, 16, 40]


def test_group_index_and_points_are_the_fitted_rows(res, data):
    d = res.data()
    assert res.group_index.shape == (len(data),)
    assert np.all(np.diff(res.group_index) >= 0)  # rows sorted by group
    labels = np.asarray(res.keys["family"])[res.group_index]
    assert (labels == d["family"].to_numpy()).all()
    np.testing.assert_array_equal(res.points, np.vstack([d["N"].to_numpy(), d["D"].to_numpy()]))
    np.testing.assert_array_equal(np.bincount(res.group_index), res.n_points)
    # The fitted curve at the fitted points is what residuals() reports.
    fitted = chinchilla(*res.points, *res.estimates[res.group_index].T)
    np.testing.assert_allclose(res.residuals()["fitted"].to_numpy(), fitted, rtol=1e-12)


def test_public_arrays_are_read_only(res):
    before = res.estimates.copy()
    for name in ("estimates", "stderr", "low", "high", "cov", "status", "cost", "n_points", "identified",
                 "group_index", "points"):
        arr = getattr(res, name)
        with pytest.raises(ValueError, match="read-only"):
            arr[...] = 0
    with pytest.raises(ValueError, match="read-only"):
        res.goodness["aic"][0] = 0.0
    res.reason[0] = "changed"  # a copy
    assert res.reason[0] != "changed"
    np.testing.assert_array_equal(res.estimates, before)


def test_bootstrap_arrays(bca):
    G, P = bca.n_groups, len(PARAMS)
    assert bca.replicates.shape == (G, 40, P)
    assert bca.replicate_status.shape == (G, 40)
    assert bca.n_resamples == 40
    assert bca.jackknife.shape[1] == P
    assert bca.jackknife_law.shape == (bca.jackknife.shape[0],)
    assert set(np.unique(bca.jackknife_law)) == set(range(G))
    finite = np.isfinite(bca.replicates[0]).all(axis=1)
    np.testing.assert_allclose(bca.stderr[0], np.std(bca.replicates[0][finite], axis=0, ddof=1), rtol=1e-10)


def test_select_groups_and_quantity_are_public(res):
    frame = pd.DataFrame({"family": ["wide", "good", "wide"]})
    np.testing.assert_array_equal(res.select_groups(frame), [2, 0, 2])
    assert res.select_groups(pd.DataFrame({"N": [1.0]})) is None
    with pytest.raises(ValueError, match="no fitted group"):
        res.select_groups(pd.DataFrame({"family": ["nope"]}))
    x = np.array([[1e9, 7e10], [2e10, 1.4e12]])
    q = res.quantity(res.law.formula, x, [2, 0])
    pred = res.predict(pd.DataFrame({"family": ["wide", "good"], "N": x[0], "D": x[1]}))
    for k, col in (("estimate", "prediction"), ("stderr", "stderr"), ("low", "low"), ("high", "high")):
        np.testing.assert_array_equal(q[k], pred[col].to_numpy())
    assert res.derived_inputs["a"] == () and res.derived_inputs["N_opt"] == ("C",)
    assert res.has_frontier


# --------------------------------------------------------------------------
# concat carries every field


def _public(r):
    names = ["estimates", "stderr", "low", "high", "cov", "status", "cost", "n_points", "n_starts",
             "n_converged", "basin_count", "replicates", "replicate_status", "identified", "group_index",
             "points"]
    return {n: getattr(r, n) for n in names}


def test_concat_carries_every_field(data, bca):
    a = fit(data[data["family"] != "good"], bootstrap=40, ci="bca", seed=5)
    b = fit(data[data["family"] == "good"], bootstrap=40, ci="bca", seed=5)
    both = FitResult.concat([a, b])  # parts out of key order: concat sorts them
    assert both.keys["family"].tolist() == bca.keys["family"].tolist() == ["good", "two", "wide"]
    for name, want in _public(bca).items():
        got = getattr(both, name)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=0, equal_nan=True, err_msg=name)
    for name in ("reason", "identified_reason"):
        assert getattr(both, name) == getattr(bca, name), name
    for k in bca.goodness:
        np.testing.assert_allclose(both.goodness[k], bca.goodness[k], rtol=1e-9, err_msg=k)
    # Jackknife rows: the same rows per group (in any order).
    for g in range(bca.n_groups):
        mine = both.jackknife[both.jackknife_law == g]
        ref = bca.jackknife[bca.jackknife_law == g]
        np.testing.assert_allclose(np.sort(mine, axis=0), np.sort(ref, axis=0), rtol=1e-9)
    assert list(both.identified) == [True, False, True]
    pd.testing.assert_frame_equal(both.data(), bca.data())


def _frame(res):
    """The constructor's ``data`` (rows with ``_group`` and ``_row``) from public names."""
    return res.data().rename(columns={"row": "_row"}).assign(_group=res.group_index)


def test_constructor_defaults_identified_to_true(res):
    kw = dict(law=res.law, keys=res.keys, by=res.by, x=res.x, y=res.y, sigma=None, data=_frame(res),
              est=res.estimates, stderr=res.stderr, low=res.low, high=res.high, cov=res.cov, status=res.status,
              reason=res.reason, cost=res.cost, n_points=res.n_points, n_starts=res.n_starts,
              n_converged=res.n_converged, basin_count=res.basin_count, gof=res.goodness,
              settings=res.settings)
    plain = FitResult(**kw)
    assert plain.identified.all() and plain.identified_reason == ["", "", ""]
    assert np.isfinite(plain.frontier(C=[1e21])["N_opt"]).all()
    marked = FitResult(**kw, identified=[True, True, False], identified_reason=["", "", "told so"])
    fr = marked.frontier(C=[1e21])
    assert np.isnan(fr["N_opt"].iloc[2]) and fr["reason"].tolist() == ["", "", "told so"]
    with pytest.raises(ValueError, match="identified_reason has 1 entries for 3 groups"):
        FitResult(**kw, identified_reason=["x"])


# --------------------------------------------------------------------------
# The delta method for all groups at once equals the old loop over groups


def _per_group_stderr(res, formula, inputs, x, group):
    """The computation FitResult did before (one numpy evaluation per group)."""
    from lawfit.formula import compile_law

    prog = compile_law(formula, inputs=list(inputs), params=res.param_names)
    se = np.full(group.size, np.nan)
    for g in np.unique(group):
        idx = np.flatnonzero(group == g)
        p = res.estimates[g]
        if not np.isfinite(p).all():
            continue
        with np.errstate(all="ignore"):
            _, grad = prog.evaluate_columns(p, prog.input_matrix(x[:, idx]))
            var = np.einsum("ni,ij,nj->n", grad, res.cov[g], grad)
        se[idx] = np.sqrt(np.clip(var, 0.0, None))
    return se


def test_delta_method_equals_the_per_group_loop(res):
    rng = np.random.default_rng(7)
    n = 50
    group = rng.integers(0, res.n_groups, n)  # unsorted groups: the result must be unsorted back
    x = np.vstack([10 ** rng.uniform(7, 11, n), 10 ** rng.uniform(9, 13, n)])
    law = res.law
    cases = [(law.formula, ["N", "D"], x)]
    for name in ("N_opt", "D_opt", "L_opt", "a"):
        prog, ins = law._derived_programs[name]
        cases.append((prog.formula, list(ins), 10 ** rng.uniform(19, 24, (len(ins), n))))
    cases.append(("beta/(alpha + beta)", [], np.empty((0, n))))
    for formula, ins, xs in cases:
        got = res.quantity(formula, xs, group, inputs=ins)["stderr"]
        want = _per_group_stderr(res, formula, ins, xs, group)
        assert np.isfinite(want).all()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, err_msg=formula)


def test_delta_method_through_predict_derived_and_frontier(res):
    C = np.array([1e20, 1e22, 1e24])
    fr = res.frontier(C=C)
    group = np.repeat(np.arange(res.n_groups), C.size)
    for name in ("N_opt", "D_opt"):
        prog, ins = res.law._derived_programs[name]
        want = _per_group_stderr(res, prog.formula, ins, np.tile(C, res.n_groups)[None], group)
        ok = res.identified[group]
        np.testing.assert_allclose(fr[f"{name}_stderr"].to_numpy()[ok], want[ok], rtol=1e-12)
        assert np.isnan(fr[f"{name}_stderr"].to_numpy()[~ok]).all()
    keyed = pd.DataFrame({"family": ["wide", "two", "good", "two"], "N": [1e9, 2e9, 3e9, 4e9],
                          "D": [1e11, 2e11, 3e11, 4e11]})
    pred = res.predict(keyed)
    g = res.select_groups(keyed)
    want = _per_group_stderr(res, res.law.formula, ["N", "D"], keyed[["N", "D"]].to_numpy().T, g)
    np.testing.assert_allclose(pred["stderr"].to_numpy(), want, rtol=1e-12)


def test_delta_method_gives_nan_for_groups_without_estimates(res):
    est = res.estimates.copy()
    est[1] = np.nan
    broken = FitResult(law=res.law, keys=res.keys, by=res.by, x=res.x, y=res.y, sigma=None, data=_frame(res),
                       est=est, stderr=res.stderr, low=res.low, high=res.high, cov=res.cov, status=res.status,
                       reason=res.reason, cost=res.cost, n_points=res.n_points, n_starts=res.n_starts,
                       n_converged=res.n_converged, basin_count=res.basin_count, gof=res.goodness)
    q = broken.quantity(res.law.formula, np.array([[1e9, 1e9, 1e9], [1e11, 1e11, 1e11]]), [0, 1, 2])
    assert np.isfinite(q["stderr"][[0, 2]]).all() and np.isnan(q["stderr"][1])
    np.testing.assert_array_equal(q["stderr"][[0, 2]], res.quantity(res.law.formula, [[1e9, 1e9], [1e11, 1e11]],
                                                                     [0, 2])["stderr"])


# --------------------------------------------------------------------------
# Identifiability


def test_identifiability_rule():
    """lawfit.uncertainty.identifiability: flat directions and a singular scaled J^T J."""
    J = np.random.default_rng(0).standard_normal((30, 3))
    good = J.T @ J
    singular = good.copy()
    singular[2] = singular[1] * 3.0  # the third column a multiple of the second: J^T J rank 2
    singular[:, 2] = singular[:, 1] * 3.0
    singular[2, 2] = singular[1, 1] * 9.0
    flat = good.copy()
    flat[2, :] = flat[:, 2] = 0.0  # the law does not depend on the third parameter
    jtj = np.stack([good, singular, flat, flat, flat])
    se = np.array([[0.1, 0.1, 0.1], [0.1, 0.1, 0.1], [0.1, 0.1, np.nan], [0.1, 0.1, np.nan], [0.1, 0.1, 0.0]])
    fixed = np.zeros((5, 3), bool)
    fixed[4, 2] = True  # a fixed parameter is never judged
    converged = np.array([True, True, True, False, True])
    ok, why = identifiability(jtj, se, fixed, converged, ["E", "A", "alpha"],
                              lambda laws: {"N": np.full(laws.size, 2)})
    assert ok.tolist() == [True, False, False, True, True]
    assert why[0] == why[3] == why[4] == ""
    assert why[1].startswith("not identifiable: the data determine only a combination of A, alpha")
    assert why[1].endswith("; 2 distinct N")
    assert why[2] == "not identifiable: the fit does not depend on alpha at the optimum; 2 distinct N"


def test_two_model_sizes_are_not_identifiable(res):
    assert res.keys["family"].tolist() == ["good", "two", "wide"]
    assert res.converged.all()
    assert res.identified.tolist() == [True, False, True]
    why = res.identified_reason
    assert why[0] == why[2] == ""
    assert re.fullmatch(r"not identifiable: the data determine only a combination of [A-Za-z, ]+ "
                        r"\(scaled J\^T J (condition number \d\.\de\+\d\d|singular to working precision)\); "
                        r"2 distinct N", why[1]), why[1]
    assert res.summary == "3 laws, 3 converged (1 not identifiable)"
    p = res.params
    assert p["identified"].tolist() == [True, False, True]
    assert p["reason"].iloc[1] == why[1]
    assert p["reason"].iloc[0] == res.reason[0]  # the status's meaning where identified
    # The identified groups recover the law.
    for g in (0, 2):
        np.testing.assert_allclose(res.estimates[g, [2, 4]], [TRUE["alpha"], TRUE["beta"]], atol=0.05)


def test_derived_and_frontier_are_nan_with_a_reason(res):
    why = res.identified_reason[1]
    d = res.derived("N_opt", C=[1e21, 1e23])
    assert d["reason"].tolist() == ["", "", why, why, "", ""]
    bad = d["family"] == "two"
    for col in ("N_opt", "N_opt_stderr", "N_opt_low", "N_opt_high"):
        assert d.loc[bad, col].isna().all() and d.loc[~bad, col].notna().all()
    fr = res.frontier(C=[1e21, 1e23])
    assert list(fr.columns)[-1] == "reason"
    assert fr["reason"].tolist() == d["reason"].tolist()
    value_cols = [c for c in fr.columns if c not in ("family", "C", "reason")]
    assert fr.loc[fr["family"] == "two", value_cols].isna().all().all()
    assert fr.loc[fr["family"] != "two", value_cols].notna().all().all()
    np.testing.assert_array_equal(fr["N_opt"].to_numpy(), d["N_opt"].to_numpy())
    scalar = res.derived("beta/(alpha + beta)")
    assert np.isnan(scalar["value"].iloc[1]) and np.isfinite(scalar["value"].iloc[[0, 2]]).all()
    long = res.table()
    derived_two = long[(long["family"] == "two") & (long["kind"] == "derived")]
    assert len(derived_two) and derived_two["estimate"].isna().all()
    params_two = long[(long["family"] == "two") & (long["kind"] == "parameter")]
    np.testing.assert_array_equal(params_two["estimate"].to_numpy(), res.estimates[1])


def test_predict_keeps_predicting_with_a_reason(res):
    pred = res.predict(N=[1e8, 4e8], D=[1e10, 1e10])
    assert pred["reason"].tolist() == ["", "", res.identified_reason[1], res.identified_reason[1], "", ""]
    two = pred[pred["family"] == "two"]
    want = chinchilla(two["N"].to_numpy(), two["D"].to_numpy(), *res.estimates[1])
    np.testing.assert_allclose(two["prediction"].to_numpy(), want, rtol=1e-12)
    # In-sample the degenerate fit is as good as the others.
    np.testing.assert_allclose(want, chinchilla(two["N"].to_numpy(), two["D"].to_numpy(), **TRUE), rtol=0.01)


def test_bootstrapped_fit_flags_from_the_covariance(bca):
    assert bca.identified.tolist() == [True, False, True]
    assert bca.frontier(C=[1e22])["N_opt"].isna().tolist() == [False, True, False]


def test_lawfit_converged_matches_the_status_module():
    from lawfit.status import is_converged
    from lawfit.catalog.result import LawFit

    for s in lawfit.Status.__members__.values():
        fitted = LawFit(law=lawfit.laws["chinchilla"], popt=np.zeros(5), pcov=np.zeros((5, 5)), status=s,
                        cost=0.0, n_points=10, residual="linear", loss="l2", delta=1.0, fixed=(), n_starts=1,
                        n_converged=1, n_at_best=1)
        assert fitted.converged == bool(is_converged(np.array([int(s)]))[0]), s.name
        if not fitted.converged:
            assert lawfit.status_message(int(s)) in str(fitted)


# --------------------------------------------------------------------------
# No RuntimeWarning from lawfit's own arithmetic; no private attributes below FitResult


@pytest.mark.parametrize("bootstrap", [0, 20])
@pytest.mark.slow
def test_readme_flow_with_degenerate_groups_warns_nothing(tmp_path, bootstrap):
    pytest.importorskip("matplotlib")
    data = runs(DEGENERATE)
    tiny = pd.DataFrame({"family": "tiny", "N": [1e8, 2e8, 4e8], "D": [1e9, 1e10, 1e11], "loss": [3.0, 2.8, 2.6]})
    data = pd.concat([data, tiny], ignore_index=True)  # 3 points for 5 parameters: BAD_INPUT
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", lawfit.LawfitWarning)  # (the BAD_INPUT group's, on purpose)
        res = fit(data, bootstrap=bootstrap, seed=1)
        res.params
        res.predict(N=70e9, D=1.4e12)
        res.derived("N_opt", C=[1e21])
        res.frontier(C=[1e21, 1e23])
        res.table()
        path = res.report(tmp_path / "out.html")
    assert res.identified.tolist() == [True, True, False, True]
    assert res.status[1] == int(lawfit.Status.BAD_INPUT)
    text = path.read_text()
    assert "plot not drawn" not in text  # a warning raised inside a plot would be caught there
    assert "not identifiable: the data determine only a combination of" in text
    assert text.count("data:image/png;base64,") == 4


OWN_FILES = ["plot.py", "report.py", "evaluate.py"]


@pytest.mark.parametrize("name", OWN_FILES)
def test_plots_reports_and_evaluate_read_no_private_attributes(name):
    """Only ``self._x`` (its own) may appear; a ``result._est`` would be a private read."""
    path = Path(lawfit.__file__).parent / name
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = [f"{name}:{n.lineno} .{n.attr}" for n in ast.walk(tree)
           if isinstance(n, ast.Attribute) and n.attr.startswith("_") and not n.attr.startswith("__")
           and not (isinstance(n.value, ast.Name) and n.value.id == "self")]
    assert not bad, bad


def test_replicate_predictions_are_each_groups_law_at_each_replicate(bca):
    """``eval_grouped`` (points sorted by group, the core evaluating every group at its own
    replicate parameters, no (points x replicates) copy of the inputs) gives, at every point and
    replicate, the law at that group's replicate -- as the old row-by-row path did, to rounding."""
    from lawfit.result import eval_grouped, eval_rows

    rng = np.random.default_rng(4)
    n = 500
    group = rng.integers(0, bca.n_groups, n)  # out of order, every group several times
    x = np.vstack([10 ** rng.uniform(7, 9, n), 10 ** rng.uniform(9, 11, n)])
    got = eval_grouped(bca.law.formula, bca.param_names, bca.inputs, bca.replicates, x, group)
    assert got.shape == (n, bca.n_resamples)
    want = eval_rows(bca.law.formula, bca.param_names, bca.inputs, bca.replicates[group], x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-13)
    one = eval_grouped(bca.law.formula, bca.param_names, bca.inputs, bca.estimates, x, group)
    E, A, alpha, B, beta = bca.estimates[group].T
    np.testing.assert_allclose(one, E + A / x[0] ** alpha + B / x[1] ** beta, rtol=1e-13)


def test_replicate_predictions_on_threads_equal_the_loop(bca, monkeypatch):
    """Replicates evaluated on the process's threads give the bits of one replicate after another."""
    import lawfit.result as result_mod

    rng = np.random.default_rng(5)
    n = 300
    group = rng.integers(0, bca.n_groups, n)
    x = np.vstack([10 ** rng.uniform(7, 9, n), 10 ** rng.uniform(9, 11, n)])
    runs = []
    for threshold in (0, 1 << 62):  # every call on threads; none
        monkeypatch.setattr(result_mod, "_PARALLEL_VALUES", threshold)
        runs.append(result_mod.eval_grouped(bca.law.formula, bca.param_names, bca.inputs, bca.replicates, x, group))
    assert bca.n_resamples > 1 and runs[0].shape == (n, bca.n_resamples)
    np.testing.assert_array_equal(runs[0], runs[1])
