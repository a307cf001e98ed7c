"""lawfit.fit and FitResult: tables, predictions, derived quantities, frontier, comparison, errors."""
import json
import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

import lawfit  # noqa: E402
from lawfit.api import fit  # noqa: E402
from lawfit.result import FitResult  # noqa: E402

TRUE = {"a": dict(E=1.69, A=406.4, alpha=0.34, B=410.7, beta=0.28),
        "b": dict(E=1.85, A=300.0, alpha=0.30, B=500.0, beta=0.30)}


def chinchilla(N, D, E, A, alpha, B, beta):
    return E + A / N**alpha + B / D**beta


def runs(noise=0.0, seed=0, families=("a", "b")):
    """Training curves of 5 model sizes per family (12 checkpoints each)."""
    rng = np.random.default_rng(seed)
    rows = []
    for fam in families:
        for N in [5e7, 1e8, 2e8, 4e8, 8e8]:
            D = np.geomspace(1e9, 80 * N, 12)
            L = chinchilla(N, D, **TRUE[fam]) * (1 + noise * rng.standard_normal(D.size))
            rows.append(pd.DataFrame({"family": fam, "run": f"{fam}-{N:g}", "N": N, "D": D, "loss": L}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def noisy():
    return runs(noise=0.004, seed=1)


@pytest.fixture(scope="module")
def res(noisy):
    return fit(noisy, "chinchilla", x=["N", "D"], y="loss", by="family", progress=False)


@pytest.fixture(scope="module")
def boot(noisy):
    return fit(noisy, "chinchilla", x=["N", "D"], y="loss", by="family", bootstrap=200, seed=3, progress=False)


PARAM_COLUMNS = ["E", "E_stderr", "E_low", "E_high", "A", "A_stderr", "A_low", "A_high", "alpha",
                 "alpha_stderr", "alpha_low", "alpha_high", "B", "B_stderr", "B_low", "B_high", "beta",
                 "beta_stderr", "beta_low", "beta_high"]
FIT_COLUMNS = ["n_points", "cost", "r2", "aic", "bic", "status", "reason", "converged", "identified",
               "n_starts", "n_converged", "basin_count"]


def test_params_table_has_the_documented_columns(res, boot):
    assert list(res.params.columns) == ["family"] + PARAM_COLUMNS + FIT_COLUMNS
    assert list(boot.params.columns) == ["family"] + PARAM_COLUMNS + FIT_COLUMNS + ["n_resamples",
                                                                                   "n_failed_resamples"]
    p = res.params
    assert p["family"].tolist() == ["a", "b"]
    assert p["n_points"].tolist() == [60, 60] and p["n_starts"].tolist() == [243, 243]
    assert p["converged"].all() and (p["basin_count"] >= 1).all()
    assert p["status"].str.startswith("CONVERGED").all()
    assert p["reason"].tolist() == [lawfit.status_message(int(s)) for s in res.status]
    assert (p["E_low"] < p["E"]).all() and (p["E"] < p["E_high"]).all()
    assert res.to_frame().equals(p)


def test_recovers_parameters_of_every_group_exactly():
    r = fit(runs(), "chinchilla", y="loss", by="family", progress=False)
    for _, row in r.params.iterrows():
        for k, v in TRUE[row["family"]].items():
            assert row[k] == pytest.approx(v, rel=1e-6)


def test_all_groups_are_one_batch(monkeypatch, noisy):
    """One fit_multistart call (laws x starts) and one bootstrap call (laws x resamples)."""
    import sys

    api = sys.modules["lawfit.api"]
    calls = {"fit": 0, "boot": 0}
    real_fit, real_boot = api.fit_data, api._bootstrap

    def counting_fit(*a, **k):
        calls["fit"] += 1
        return real_fit(*a, **k)

    def counting_boot(*a, **k):
        calls["boot"] += 1
        return real_boot(*a, **k)

    monkeypatch.setattr(api, "fit_data", counting_fit)
    monkeypatch.setattr(api, "_bootstrap", counting_boot)
    data = pd.concat([noisy.assign(family=noisy["family"] + str(k)) for k in range(5)], ignore_index=True)
    r = fit(data, "chinchilla", y="loss", by="family", bootstrap=20, progress=False)
    assert r.n_groups == 10 and calls == {"fit": 1, "boot": 1}


def test_predict_matches_the_law_evaluated_by_hand(res):
    N, D = np.array([1e9, 7e10]), np.array([2e10, 1.4e12])
    pred = res.predict(N=N, D=D)
    assert list(pred.columns) == ["family", "N", "D", "prediction", "stderr", "low", "high", "reason"]
    assert (pred["reason"] == "").all()  # both groups are identified
    assert len(pred) == 4  # every group at every point
    for _, row in pred.iterrows():
        p = res.params.set_index("family").loc[row["family"]]
        by_hand = p["E"] + p["A"] / row["N"] ** p["alpha"] + p["B"] / row["D"] ** p["beta"]
        assert row["prediction"] == pytest.approx(by_hand, rel=1e-12)
        assert row["low"] < row["prediction"] < row["high"]
    # Rows naming their group get that group's law only.
    keyed = res.predict(pd.DataFrame({"family": ["b", "a"], "N": [1e9, 1e9], "D": [2e10, 2e10]}))
    assert keyed["prediction"].tolist() == pytest.approx(
        [pred.query("family == 'b'")["prediction"].iloc[0], pred.query("family == 'a'")["prediction"].iloc[0]])
    with pytest.raises(ValueError, match="no fitted group"):
        res.predict(pd.DataFrame({"family": ["zz"], "N": [1.0], "D": [1.0]}))


def test_predict_intervals_from_the_bootstrap(boot):
    pred = boot.predict(N=[1e8, 1e10], D=[1e10, 1e12])
    reps = boot.bootstrap_result.predict({"N": [1e8, 1e10], "D": [1e10, 1e12]})
    lo, hi = reps.interval(boot.level)
    np.testing.assert_allclose(pred["low"].to_numpy(), lo.ravel())
    np.testing.assert_allclose(pred["high"].to_numpy(), hi.ravel())
    far = pred[pred["N"] == 1e10]
    near = pred[pred["N"] == 1e8]
    assert ((far["high"] - far["low"]).to_numpy() > (near["high"] - near["low"]).to_numpy()).all()


def test_frontier_matches_the_closed_form(res, boot):
    C = np.array([1e21, 1e23])
    for r in (res, boot):
        fr = r.frontier(C=C)
        assert {"N_opt", "N_opt_low", "N_opt_high", "D_opt", "D_opt_stderr", "L_opt"} <= set(fr.columns)
        for _, row in fr.iterrows():
            p = r.params.set_index("family").loc[row["family"]]
            E, A, al, B, be = (p[k] for k in ("E", "A", "alpha", "B", "beta"))
            G = (al * A / (be * B)) ** (1 / (al + be))  # Hoffmann et al. 2022, eq. 4
            n_opt = G * (row["C"] / 6) ** (be / (al + be))
            d_opt = G**-1 * (row["C"] / 6) ** (al / (al + be))
            assert row["N_opt"] == pytest.approx(n_opt, rel=1e-10)
            assert row["D_opt"] == pytest.approx(d_opt, rel=1e-10)
            assert 6 * row["N_opt"] * row["D_opt"] == pytest.approx(row["C"], rel=1e-10)
            assert row["L_opt"] == pytest.approx(chinchilla(n_opt, d_opt, E, A, al, B, be), rel=1e-10)
            assert row["N_opt_low"] < row["N_opt"] < row["N_opt_high"]
    with pytest.raises(ValueError, match="frontier"):
        fit(runs(), "kaplan_ND", y="loss", by="family", progress=False).frontier(C=[1e21])
    for bad in ([1e21, -1e21], [0.0], [np.nan], [np.inf]):  # no budget, no frontier: a clear error, not NaN rows
        with pytest.raises(ValueError, match="compute budgets C must be positive and finite"):
            r.frontier(C=bad)


def test_derived_quantities_by_name_and_formula(res):
    d = res.derived("a")
    p = res.params
    np.testing.assert_allclose(d["a"], p["beta"] / (p["alpha"] + p["beta"]))
    f = res.derived("E + A/N**alpha", N=[1e9])
    np.testing.assert_allclose(f["value"], p["E"] + p["A"] / 1e9 ** p["alpha"])
    assert (f["value_stderr"] > 0).all()
    with pytest.raises(ValueError, match=r"missing input 'Q': .*\(the parameters are E, A, alpha, B, beta; the law's inputs N, D\)"):
        res.derived("E + Q")  # a typo names what the formula may use
    long = res.table()
    assert list(long.columns) == ["family", "quantity", "kind", "estimate", "stderr", "low", "high"]
    assert set(long["quantity"]) >= {"E", "alpha", "a", "b", "G"}
    assert long.loc[long.quantity == "beta", "estimate"].tolist() == p["beta"].tolist()
    assert res.table(long=False).equals(p)


def test_residuals_map_back_to_the_input_rows(res, noisy):
    r = res.residuals()
    np.testing.assert_allclose(r["residual"], r["fitted"] - r["loss"])
    original = noisy.loc[r["row"].to_numpy(), "loss"].to_numpy()
    np.testing.assert_array_equal(original, r["loss"].to_numpy())
    assert len(r) == len(noisy)


def test_changing_the_table_after_the_fit_does_not_change_the_result():
    # A table already grouped and ordered is fitted without copying its columns where pandas
    # copies on write; the result's data must still be the data fitted.
    table = runs(noise=0.004, seed=5)
    before = table.copy(deep=True)
    r = fit(table, "chinchilla", x=["N", "D"], y="loss", by="family", progress=False)
    fitted = r.residuals()["fitted"].to_numpy().copy()
    table.loc[table.index[0], "loss"] = 99.0
    table.iloc[1, table.columns.get_loc("N")] = 1.0
    table["D"] *= 2.0
    res = r.residuals()
    np.testing.assert_array_equal(res["loss"].to_numpy(), before["loss"].to_numpy())
    np.testing.assert_array_equal(res["fitted"].to_numpy(), fitted)


def test_compare_aic_and_where_two_laws_cross(boot, noisy):
    other = fit(noisy, "kaplan_ND", y="loss", by="family", bootstrap=200, seed=3, progress=False)
    cmp = boot.compare(other, along="N", at={"D": lambda n: 20 * n})
    assert {"aic_chinchilla", "aic_kaplan_ND", "delta_aic", "bic_chinchilla", "delta_bic", "preferred",
            "crossing", "crossing_low", "crossing_high", "crossing_fraction"} <= set(cmp.columns)
    assert (cmp["preferred"] == "chinchilla").all() and (cmp["delta_aic"] < 0).all()
    gof = boot.multistart.goodness_of_fit()
    np.testing.assert_allclose(cmp["aic_chinchilla"], gof["aic"])


def test_crossing_of_two_laws_with_a_paired_bootstrap_interval():
    rng = np.random.default_rng(2)
    x = np.geomspace(1, 1e3, 40)
    df = pd.DataFrame({"x": np.tile(x, 2), "g": np.repeat(["u", "v"], 40)})
    df["y"] = np.where(df.g == "u", 1.0, 1.5) + 2 * df.x**-0.5
    df["y"] *= 1 + 0.003 * rng.standard_normal(len(df))
    sat = fit(df, "a*x**-b + c", x=["x"], y="y", by="g", bootstrap=100, seed=5, progress=False,
              starts={"a": [1, 5], "b": [0.2, 1.0], "c": [0.0, 2.0]})
    pure = fit(df, "k*x**-p", x=["x"], y="y", by="g", bootstrap=100, seed=5, progress=False,
               starts={"k": [1.0, 5.0], "p": [0.05, 0.5]})
    cmp = sat.compare(pure, along="x")
    assert (cmp["delta_aic"] < 0).all()  # the saturating law fits better
    assert cmp["crossing"].notna().all()
    for _, row in cmp.iterrows():
        at = pd.DataFrame({"g": [row["g"]], "x": [row["crossing"]]})
        a, b = sat.predict(at)["prediction"].iloc[0], pure.predict(at)["prediction"].iloc[0]
        assert a == pytest.approx(b, rel=1e-5)
        assert row["crossing_low"] <= row["crossing"] <= row["crossing_high"]
        assert 0.5 < row["crossing_fraction"] <= 1.0


def test_repr_and_summary_line(res):
    text = repr(res)
    assert "2 laws, 2 converged" in text.splitlines()[1]
    assert "chinchilla" in text and "family" in text and "CONVERGED" in text
    assert res.summary == "2 laws, 2 converged"


def test_a_failing_group_gets_a_status_reason_and_one_warning(noisy):
    tiny = noisy[noisy.family == "b"].head(3).assign(family="tiny")
    with pytest.warns(lawfit.LawfitWarning, match="1 BAD_INPUT"):
        r = fit(pd.concat([noisy, tiny]), "chinchilla", y="loss", by="family", progress=False)
    row = r.params.set_index("family").loc["tiny"]
    assert row["status"] == "BAD_INPUT" and row["reason"] == "too few points: 3 for 5 free parameters"
    assert np.isnan(row["E"]) and not row["converged"]
    assert r.summary == "3 laws, 2 converged, 1 BAD_INPUT"


def test_bad_input_errors_name_the_column_row_and_group(noisy):
    with pytest.raises(ValueError, match=r"column 'los' \(y\) is not in the data; did you mean 'loss'"):
        fit(noisy, "chinchilla", y="los", progress=False)
    with pytest.raises(ValueError, match="column 'fam'.*by"):
        fit(noisy, "chinchilla", y="loss", by="fam", progress=False)
    bad = noisy.copy()
    bad["N"] = bad["N"].astype(object)
    bad.loc[7, "N"] = "1B"
    with pytest.raises(ValueError, match=r"column 'N' is not numeric: row 7 holds '1B'"):
        fit(bad, "chinchilla", y="loss", progress=False, nan_policy="raise")
    with pytest.warns(lawfit.LawfitWarning, match=r"'1B' \(not a number\) in column 'N' at row 7"):
        text = fit(bad, "chinchilla", y="loss", by="family", progress=False)  # batch-safe by default
    assert text.params["status"].tolist() == ["BAD_INPUT", "CONVERGED_XTOL"] or text.converged[1]
    words = noisy.assign(N="many")
    with pytest.raises(ValueError, match=r"column 'N' is not numeric: row 0 holds 'many'"):
        fit(words, "chinchilla", y="loss", progress=False)  # no number at all: a malformed call
    nan = noisy.copy()
    nan.loc[65, "loss"] = np.nan
    with pytest.raises(ValueError, match=r"column 'loss' has 1 missing .* row 65 in group family='b'.*nan_policy"):
        fit(nan, "chinchilla", y="loss", by="family", progress=False, nan_policy="raise")
    omit = fit(nan, "chinchilla", y="loss", by="family", nan_policy="omit", progress=False)
    assert omit.params["n_points"].tolist() == [60, 59] and omit.converged.all()
    with pytest.warns(lawfit.LawfitWarning, match=r"family='b': missing value \(nan\) in column 'loss' at row 65"):
        prop = fit(nan, "chinchilla", y="loss", by="family", progress=False)
    assert prop.params["status"].tolist()[1] == "BAD_INPUT"
    assert prop.params["reason"].iloc[1] == "missing value (nan) in column 'loss' at row 65"
    np.testing.assert_array_equal(prop.params.iloc[0].to_numpy(), omit.params.iloc[0].to_numpy())
    with pytest.warns(lawfit.LawfitWarning, match="column 'sigma' at row 0 holds 0.0, not positive"):
        r = fit(noisy, "chinchilla", y="loss", sigma=np.r_[0.0, np.ones(len(noisy) - 1)], progress=False)
    assert r.params["status"].tolist() == ["BAD_INPUT"]
    with pytest.raises(ValueError, match="has 2 input"):
        fit(noisy, "chinchilla", x=["N"], y="loss", progress=False)
    with pytest.raises(KeyError, match="did you mean chinchilla"):
        fit(noisy, "chinchila", y="loss", progress=False)
    with pytest.raises(FileNotFoundError, match="no such file"):
        fit("/nonexistent/runs.csv", "chinchilla", y="loss", progress=False)


def test_tables_paths_and_dicts_give_the_same_fit(tmp_path, noisy, res):
    csv, pq = tmp_path / "runs.csv", tmp_path / "runs.parquet"
    noisy.to_csv(csv, index=False)
    noisy.to_parquet(pq)
    cols = {c: noisy[c].to_numpy() for c in noisy.columns}
    for data in (str(csv), pq, cols):
        other = fit(data, "chinchilla", y="loss", by="family", progress=False)
        np.testing.assert_allclose(other.params[["E", "A", "alpha", "B", "beta"]],
                                   res.params[["E", "A", "alpha", "B", "beta"]], rtol=1e-9)


def test_laws_as_formulas_and_objects_with_renamed_columns(noisy):
    renamed = noisy.rename(columns={"N": "params", "D": "tokens"})
    r1 = fit(renamed, "chinchilla", x=["params", "tokens"], y="loss", by="family", progress=False)
    r2 = fit(renamed, lawfit.laws["chinchilla"], x="params,tokens", y="loss", by="family", progress=False)
    np.testing.assert_allclose(r1.params["E"], r2.params["E"])
    assert r1.predict(params=[1e9], tokens=[2e10])["prediction"].notna().all()
    r3 = fit(noisy.groupby("run").tail(1), "E + A/N**alpha", x=["N"], y="loss", by="family", progress=False,
             starts={"E": [1.0, 2.0], "A": [10.0, 1000.0], "alpha": [0.1, 0.5]})
    assert r3.param_names == ["E", "A", "alpha"] and r3.converged.all()
    # Without x the message names the formula's symbols that are columns of the table; a malformed
    # formula is reported as such first.
    with pytest.raises(ValueError, match=r"needs its input columns: x=\['N'\]"):
        fit(noisy, "E + A/N**alpha", y="loss", progress=False)
    with pytest.raises(ValueError, match="unexpected end of formula"):
        fit(noisy, "E + A/N**", y="loss", progress=False)


def test_failed_fit_from_the_default_start_says_how_to_give_starts():
    x = np.geomspace(1e8, 1e10, 6)
    df = pd.DataFrame({"N": x, "loss": 1.7 + 400.0 * x**-0.34})
    with pytest.warns(lawfit.LawfitWarning, match="every parameter started at 1") as caught:
        res = fit(df, "E + A/N**alpha", x=["N"], y="loss", progress=False, max_nfev=3)
    assert not res.converged.any() and "starts={name:" in str(caught[0].message)
    with pytest.warns(lawfit.LawfitWarning) as caught:  # a grid was given: no advice about starts
        fit(df, "E + A/N**alpha", x=["N"], y="loss", progress=False, max_nfev=3, starts={"E": [1.0, 2.0]})
    assert all("started at 1" not in str(w.message) for w in caught)


def test_shared_exponent_matches_fit_shared():
    x = np.geomspace(1e3, 1e7, 30)
    df = pd.DataFrame({"x": np.tile(x, 3), "g": np.repeat(["p", "q", "r"], 30),
                       "y": np.concatenate([a * x**-0.3 + c for a, c in [(20, 1.0), (40, 1.5), (80, 2.0)]])})
    rng = np.random.default_rng(0)
    df["y"] *= 1 + 0.002 * rng.standard_normal(len(df))
    r = fit(df, "hestness", y="y", by="g", shared=["b"], progress=False)
    ref = lawfit.fit_shared(lawfit.laws["hestness"], {"x": df.x.to_numpy()}, df.y.to_numpy(),
                            groups=df.g.to_numpy(), shared=["b"])
    p = r.params
    assert p["b"].nunique() == 1 and p["b"].iloc[0] == pytest.approx(ref.params["b"], rel=1e-8)
    np.testing.assert_allclose(p["a"], ref.params["a"], rtol=1e-8)
    np.testing.assert_allclose(p["b_stderr"], ref.stderr["b"], rtol=1e-6)
    rb = fit(df, "hestness", y="y", by="g", shared=["b"], bootstrap=50, progress=False)
    assert rb.params["b_low"].nunique() == 1 and (rb.params["b_low"] < rb.params["b"]).all()


def test_grouped_bootstrap_fixed_parameters_and_bca(noisy):
    r = fit(noisy, "chinchilla", y="loss", by="family", bootstrap=100, bootstrap_by="run", fixed={"E": 1.7},
            ci="bca", progress=False)
    p = r.params
    assert (p["E"] == 1.7).all() and np.allclose(p["E_stderr"], 0, atol=1e-12)
    assert (p["alpha_low"] <= p["alpha"]).all() and (p["alpha"] <= p["alpha_high"]).all()
    assert r.settings["bootstrap_by"] == "run" and r.ci == "bca"
    fr = r.frontier(C=[1e22])
    assert (fr["N_opt_low"] < fr["N_opt"]).all()


def test_log_residuals_with_non_positive_y_fail_that_group_only(noisy):
    bad = noisy.copy()
    bad.loc[bad.family == "b", "loss"] -= 10
    with pytest.warns(lawfit.LawfitWarning):
        r = fit(bad, "chinchilla", y="loss", by="family", residual="log", progress=False)
    assert r.params["converged"].tolist() == [True, False]
    assert "residual='log' needs positive y" in r.params["reason"].iloc[1]


def test_to_parquet_keeps_the_description(tmp_path, res):
    path = tmp_path / "fit.parquet"
    res.to_parquet(path)
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"lawfit"])
    assert meta["law"] == "chinchilla" and meta["by"] == ["family"] and meta["summary"] == res.summary
    pd.testing.assert_frame_equal(table.to_pandas(), res.params, check_dtype=False)


def test_report_without_plots(tmp_path, res):
    out = res.report(tmp_path / "r.md", plots=())
    text = out.read_text()
    assert "## Parameters" in text and "| a |" in text and "Compute-optimal frontier" in text


def test_progress_line_goes_to_stderr(capsys, noisy):
    fit(noisy, "chinchilla", y="loss", by="family")
    err = capsys.readouterr().err
    assert err.startswith("lawfit: 2 laws, 2 converged")


def test_single_group_without_by(noisy):
    r = fit(noisy[noisy.family == "a"], "chinchilla", y="loss", progress=False)
    assert r.n_groups == 1 and list(r.params.columns[:1]) == ["E"]
    assert isinstance(r, FitResult) and r.predict(N=1e9, D=1e10)["prediction"].size == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r.table()
