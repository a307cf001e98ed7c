"""Bad input at every public entry point: a batch keeps going, a malformed call names its argument.

Two outcomes, the same everywhere (lawfit.engine.checks):

* a law whose data cannot be fitted (missing or non-finite values, text in a
  numeric column, sigma <= 0, y <= 0 with log residuals, an input outside the
  law's domain, too few points) gets the status BAD_INPUT and a reason naming
  the first offending row (point) and column; every other law of the batch is
  fitted exactly as without it; one LawfitWarning summarises;
* a malformed call (a missing column, arrays of different lengths, the wrong
  type) raises ValueError or TypeError naming the argument, before anything runs.

Entry points: lawfit.fit, evaluate, Law.fit, fit_shared, fit_multistart,
bootstrap, the batched curve_fit and the command line (exit codes).
"""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

import lawfit
from lawfit import Status

pd = pytest.importorskip("pandas")

TRUE = dict(E=1.7, A=400.0, alpha=0.34, B=410.0, beta=0.28)


@pytest.fixture(scope="module")
def table():
    """Three families of clean Chinchilla data, 24 rows each."""
    N = np.repeat([1e8, 3e8, 1e9, 3e9], 6)
    D = np.tile(np.geomspace(2e9, 6e10, 6), 4)
    df = pd.DataFrame({"N": np.tile(N, 3), "D": np.tile(D, 3), "family": np.repeat(["a", "b", "c"], 24)})
    df["loss"] = TRUE["E"] + TRUE["A"] * df.N ** -TRUE["alpha"] + TRUE["B"] * df.D ** -TRUE["beta"]
    df["loss"] += np.where(df.family == "c", 0.05, 0.0)
    df["err"] = 0.01
    return df


def _fit(df, **kw):
    kw.setdefault("y", "loss")
    kw.setdefault("by", "family")
    return lawfit.fit(df, "chinchilla", progress=False, **kw)


def _one_warning(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    lw = [w for w in caught if issubclass(w.category, lawfit.LawfitWarning)]
    assert len(lw) == 1, [str(w.message) for w in caught]
    return out, str(lw[0].message)


# --------------------------------------------------------------------------------- lawfit.fit


def _spoil(df, how):
    df = df.copy()
    if how == "nan":
        df.loc[30, "loss"] = np.nan
    elif how == "inf":
        df.loc[30, "D"] = np.inf
    elif how == "text":
        df["loss"] = df["loss"].astype(object)
        df.loc[30, "loss"] = "n/a"
    elif how == "domain":  # log(N) of N <= 0
        df.loc[30, "N"] = -1.0
    elif how == "sigma":
        df.loc[30, "err"] = 0.0
    elif how == "key":
        df["family"] = df["family"].astype(object)
        df.loc[30, "family"] = None
    elif how == "few":
        df = df[(df.family != "b") | (df.index < 27)]
    return df


REASONS = {
    "nan": "missing value (nan) in column 'loss' at row 30",
    "inf": "non-finite value (inf) in column 'D' at row 30",
    "text": "'n/a' (not a number) in column 'loss' at row 30",
    "domain": "column 'N' at row 30 holds -1.0, outside the law's domain (-log(N) is not finite)",
    "sigma": "column 'err' at row 30 holds 0.0, not positive",
    "key": "missing group key in column 'family' at row 30",
    "few": "too few points: 3 for 5 free parameters",
}


@pytest.mark.parametrize("how", list(REASONS))
def test_fit_one_bad_group_fails_alone_with_its_reason(table, how):
    clean = _fit(table, sigma="err")
    res, message = _one_warning(lambda: _fit(_spoil(table, how), sigma="err"))
    p = res.params.set_index(res.params["family"].fillna("none"))
    bad = "none" if how == "key" else "b"  # a row without its group key is not fitted as a group
    assert p.loc[bad, "status"] == "BAD_INPUT" and np.isnan(p.loc[bad, "E"])
    assert p.loc[bad, "reason"] == REASONS[how]
    label = "'b'" if how != "key" else "nan"
    assert f"1 BAD_INPUT (first: family={label}: {REASONS[how]}" in message
    for fam in ("a", "c"):  # nothing lost: the others are fitted exactly as without the bad group
        np.testing.assert_array_equal(p.loc[fam, list(TRUE)].to_numpy(dtype=float),
                                      clean.params.set_index("family").loc[fam, list(TRUE)].to_numpy(dtype=float))
    assert p.loc["a", "converged"] and p.loc["c", "converged"]


def test_fit_many_groups_few_bad(table):
    # 20 laws, 7 degenerate in different ways: 13 fit, one warning counts and explains.
    parts = []
    for g in range(20):
        part = table[table.family == "a"].assign(family=f"g{g:03d}")
        parts.append(part)
    big = pd.concat(parts, ignore_index=True)
    big.loc[big.family == "g003", "loss"] = np.nan
    big.loc[big.index[big.family == "g010"][:1], "N"] = 0.0
    big = big[(big.family != "g012") | (big.index % 24 < 2)]
    big.loc[big.index[big.family.isin(["g014", "g015", "g016", "g017"])][::24], "loss"] = np.inf
    res, message = _one_warning(lambda: _fit(big))
    assert res.converged.sum() == 13
    assert "13 converged, 7 BAD_INPUT (first: family='g003': missing value (nan) in column 'loss'" in message
    assert "see .params['reason'] for the other 6" in message
    assert message.endswith("; nan_policy='omit' skips such rows)")  # g003's NaN: how to fit the rest


def test_fit_bootstrap_must_be_a_whole_number(table):
    for bad in (2.5, -1, True):
        with pytest.raises(ValueError, match="bootstrap must be a non-negative whole number of resamples"):
            _fit(table, bootstrap=bad)


@pytest.mark.parametrize("policy", ["omit", "raise"])
def test_fit_nan_policy_on_request(table, policy):
    bad = _spoil(table, "nan")
    if policy == "raise":
        with pytest.raises(ValueError, match=r"column 'loss' has 1 missing .* row 30 in group family='b'"):
            _fit(bad, nan_policy=policy)
        return
    res = _fit(bad, nan_policy=policy)
    assert res.converged.all() and res.params["n_points"].tolist() == [24, 23, 24]
    with pytest.raises(ValueError, match="nan_policy must be one of"):
        _fit(table, nan_policy="ignore")


@pytest.mark.parametrize("kw, error, match", [
    (dict(y="lost"), ValueError, r"column 'lost' \(y\) is not in the data; did you mean 'loss'"),
    (dict(y=np.ones(5)), ValueError, r"y must be a column name or one value per row \(72\)"),
    (dict(y=np.ones((72, 2))), ValueError, r"y must be a column name or one value per row"),
    (dict(by=3), TypeError, "by must be a column name or a list of column names, not int"),
    (dict(by={"family": 1}), TypeError, "by must be a column name"),
    (dict(x=["N"]), ValueError, r"has 2 input\(s\)"),
    (dict(x=[np.ones(72), np.ones(72)]), TypeError, "x must name columns; got ndarray"),
    (dict(sigma=np.ones(3)), ValueError, "sigma must be a column name, a number or 72 values, got 3"),
    (dict(sigma={"a": 1}), TypeError, "sigma must be a column name, a number or 72 numbers"),
    (dict(bootstrap_by=1.5), TypeError, "bootstrap_by must be a column name"),
    (dict(shared=7), TypeError, "shared must be a column name"),
    (dict(ci="bootstrap"), ValueError, "ci must be one of"),
    (dict(bootstrap=-1), ValueError, "bootstrap must be a non-negative"),
    (dict(fixed={"gamma": 1.0}), ValueError, r"fixed names unknown parameter\(s\) \['gamma'\]"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_fit_malformed_calls_name_the_argument(table, kw, error, match):
    with pytest.raises(error, match=match):
        _fit(table, **kw)


def test_fit_malformed_data_and_law(table):
    with pytest.raises(TypeError, match="data must be a DataFrame"):
        lawfit.fit(42, "chinchilla", y="loss", progress=False)
    with pytest.raises(TypeError, match="law must be a catalog name"):
        lawfit.fit(table, 42, y="loss", progress=False)
    with pytest.raises(ValueError, match=r"arrays have different lengths"):
        lawfit.fit({"N": [1.0, 2.0], "D": [1.0], "loss": [1.0, 2.0]}, "chinchilla", y="loss", progress=False)
    with pytest.raises(ValueError, match="column 'N' is not numeric: row 0 holds 'big'"):
        _fit(table.assign(N="big"))
    with pytest.raises(ValueError, match="the data have no rows"):
        _fit(table.iloc[:0])


def test_fit_y_as_an_array_is_one_value_per_row(table):
    a = _fit(table)
    b = _fit(table.drop(columns="loss"), y=table["loss"].to_numpy())
    np.testing.assert_array_equal(a.params[list(TRUE)].to_numpy(), b.params[list(TRUE)].to_numpy())


# --------------------------------------------------------------------------------- evaluate


def _runs():
    rows = []
    for N in [1e8, 2e8, 4e8, 8e8, 1.6e9]:
        D = np.geomspace(1e9, 1e11, 12)
        rows.append(pd.DataFrame({"family": "f", "run": f"m{N:g}", "N": N, "D": D,
                                  "loss": 1.7 + 400 * N**-0.34 + 410 * D**-0.28}))
    return pd.concat(rows, ignore_index=True)


def test_evaluate_a_bad_cut_off_fails_alone():
    d = _runs()
    d.loc[d.index[d.run == "m4e+08"][3], "loss"] = np.nan  # in the 3rd smallest model's training rows
    ev, message = _one_warning(lambda: lawfit.evaluate(d, n_models=[2, 3], fractions=[1.0], progress=False))
    t = ev.table.set_index("n_models")
    # The 2-model cut-off does not touch the row: it is the fit of the clean
    # data, bit for bit.  (Two model sizes do not determine E, A and alpha, so
    # where along that valley the fit stops -- and its ARE -- is the solver's
    # path, not something to bound here.)
    clean = lawfit.evaluate(_runs(), n_models=[2, 3], fractions=[1.0], progress=False).table.set_index("n_models")
    assert t.loc[2, "converged"] and np.isfinite(t.loc[2, "are"])
    for col in ("are", "E", "A", "alpha", "B", "beta"):
        assert t.loc[2, col] == clean.loc[2, col], col
    assert t.loc[3, "status"] == "BAD_INPUT" and np.isnan(t.loc[3, "are"])
    assert t.loc[3, "reason"] == "missing value (nan) in column 'loss' at row 27"
    assert "1 of 2 cut-offs did not converge" in message
    omit = lawfit.evaluate(d, n_models=[2, 3], fractions=[1.0], progress=False, nan_policy="omit")
    assert omit.table["converged"].all()
    with pytest.raises(ValueError, match=r"column 'loss' has 1 missing .* first at row 27"):
        lawfit.evaluate(d, n_models=[2, 3], progress=False, nan_policy="raise")


def test_evaluate_a_missing_test_value_leaves_the_are_nan_with_a_reason():
    d = _runs()
    d.loc[d.index[d.run == "m1.6e+09"][-1], "loss"] = np.nan  # the target's last checkpoint
    ev, message = _one_warning(lambda: lawfit.evaluate(d, n_models=[2], progress=False))
    row = ev.table.iloc[0]
    assert row["converged"] and np.isnan(row["are"])
    assert row["reason"] == "missing value in column 'loss' of the target's test rows (run 'm1.6e+09'); its ARE is NaN"
    assert "1 converged cut-off(s) cannot be scored" in message


def test_evaluate_malformed_calls():
    d = _runs()
    with pytest.raises(ValueError, match=r"column\(s\) \['size'\] not in the data"):
        lawfit.evaluate(d, size="size", progress=False)
    with pytest.raises(ValueError, match="nan_policy must be"):
        lawfit.evaluate(d, nan_policy="drop", progress=False)
    with pytest.raises(ValueError, match="column 'loss' is not numeric"):
        lawfit.evaluate(d.assign(loss="low"), progress=False)
    with pytest.raises(TypeError, match="data must be a DataFrame"):
        lawfit.evaluate([1, 2, 3], progress=False)


# --------------------------------------------------------------------------------- Law.fit, fit_shared


def test_law_fit_bad_data_is_a_status_and_a_reason(table):
    law = lawfit.laws["chinchilla"]
    x = table[table.family == "a"][["N", "D"]]
    y = table[table.family == "a"]["loss"].to_numpy().copy()
    y[4] = np.nan
    fit, message = _one_warning(lambda: law.fit(x, y))
    assert fit.status == Status.BAD_INPUT and np.isnan(fit.popt).all()
    assert "missing value (nan) in column 'y' at point 4" in message
    with pytest.raises(ValueError, match="x has 24 points but y has 10"):
        law.fit(x, y[:10])
    with pytest.raises(TypeError, match="y must be numbers"):
        law.fit(x, "loss")


def test_fit_shared_bad_data_and_malformed_calls(table):
    law = lawfit.laws["chinchilla"]
    x = {"N": table.N.to_numpy(), "D": table.D.to_numpy()}
    y = table.loss.to_numpy().copy()
    y[30] = np.nan
    fit, message = _one_warning(lambda: lawfit.fit_shared(law, x, y, groups=table.family, shared=["alpha"]))
    assert fit.status == Status.BAD_INPUT
    assert "group 'b': missing value (nan) in column 'y'" in message
    with pytest.raises(ValueError, match="groups has 72 labels, but y has 5 values"):
        lawfit.fit_shared(law, x, y[:5], groups=table.family, shared=["alpha"])
    with pytest.raises(ValueError, match="groups has 5 labels, but y has 72 values"):
        lawfit.fit_shared(law, x, y, groups=table.family[:5], shared=["alpha"])
    with pytest.raises(ValueError, match=r"x\['D'\] has 3 values, but y has 72"):
        lawfit.fit_shared(law, {"N": x["N"], "D": x["D"][:3]}, y, groups=table.family, shared=["alpha"])
    with pytest.raises(ValueError, match="sigma has 2 values, but y has 72"):
        lawfit.fit_shared(law, x, y, groups=table.family, shared=["alpha"], sigma=[1.0, 2.0])


# --------------------------------------------------------------------------------- arrays: fit_multistart, bootstrap, curve_fit


X = np.linspace(1, 10, 20)
GRID = {"a": [1.0, 4.0], "b": [0.3, 1.0], "c": [0.5]}


def _ys():
    good = 3 * X**-0.5 + 1
    nan = good.copy()
    nan[7] = np.nan
    return [good, nan, good[:2], good * 2]


def test_fit_multistart_bad_laws_fail_alone():
    ys = _ys()
    xs = [X, X, X[:2], X]
    fit, message = _one_warning(lambda: lawfit.fit_multistart("a*x**-b + c", xs, ys, GRID))
    assert fit.status.tolist()[1:3] == [Status.BAD_INPUT] * 2
    assert fit.converged[[0, 3]].all()
    assert fit.reason[1] == "missing value (nan) in column 'y' at point 7"
    assert fit.reason[2] == "too few points: 2 for 3 free parameters"
    assert "2 BAD_INPUT (first: law 1: missing value (nan) in column 'y' at point 7)" in message
    alone = lawfit.fit_multistart("a*x**-b + c", [X, X], [ys[0], ys[3]], GRID)
    np.testing.assert_array_equal(fit.params[[0, 3]], alone.params)
    log = lawfit.fit_multistart("a*x**-b + c", [X, X], [ys[0], -ys[0]], GRID, residual="log", warn=False)
    assert log.reason[1] == "column 'y' at point 0 holds -4.0, not positive (residual='log' needs positive y)"


def test_fit_multistart_malformed_calls():
    with pytest.raises(ValueError, match="20 input points but 5 values"):
        lawfit.fit_multistart("a*x**-b + c", X, np.ones(5), GRID)
    with pytest.raises(ValueError, match="got 3 input blocks for 2 laws"):
        lawfit.fit_multistart("a*x**-b + c", [X, X, X], [X, X], GRID)
    with pytest.raises(ValueError, match=r"law 1: 20 input points but 3 values"):
        lawfit.fit_multistart("a*x**-b + c", [X, X], [X, X[:3]], GRID)
    with pytest.raises(ValueError, match=r"the grid must name every parameter exactly: missing \['c'\]"):
        lawfit.fit_multistart("a*x**-b + c", X, X, {"a": [1.0], "b": [1.0]})
    with pytest.raises(ValueError, match="sigma must be positive"):
        lawfit.fit_multistart("a*x**-b + c", X, X, GRID, sigma=np.zeros(20))


def test_fit_bootstrap_with_a_missing_group_key(table):
    # The rows without a key get BAD_INPUT, the other groups their intervals (the
    # bootstrap keys each group's resamples by its key's text: a missing key included).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lawfit.LawfitWarning)
        res = _fit(_spoil(table, "key"), sigma="err", bootstrap=20)
    p = res.params.set_index(res.params["family"].fillna("none"))
    assert p.loc["none", "status"] == "BAD_INPUT"
    assert p.loc["a", "converged"] and np.isfinite(p.loc["a", [f"{k}_low" for k in TRUE]].to_numpy(dtype=float)).all()


def test_bootstrap_keeps_bad_laws_out_and_checks_its_arguments():
    ys = _ys()
    fit = lawfit.fit_multistart("a*x**-b + c", [X, X, X[:2], X], ys, GRID, warn=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lawfit.LawfitWarning)
        boot = lawfit.bootstrap(fit, 50, seed=1, jackknife=False)
    lo, hi = boot.interval(0.9)
    assert np.isnan(lo[1]).all() and np.isnan(lo[2]).all()
    assert np.isfinite(lo[[0, 3]]).all()
    with pytest.raises(ValueError, match="n_resamples must be positive"):
        lawfit.bootstrap(fit, 0)
    with pytest.raises(TypeError, match="n_resamples must be an int"):
        lawfit.bootstrap(fit, 10.5)
    with pytest.raises(TypeError, match="fit must be a MultistartResult"):
        lawfit.bootstrap({"params": 1}, 10)
    with pytest.raises(ValueError, match=r"group must have one label per point \(62\), got shape \(3,\)"):
        lawfit.bootstrap(fit, 10, group=[1, 2, 3])


def test_batched_curve_fit_bad_problems_fail_alone():
    scipy = pytest.importorskip("scipy")  # noqa: F841  (curve_fit's tests need it)
    ys = _ys()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        popt, pcov, status = lawfit.curve_fit("a*x**-b + c", [X, X, X[:2], X], ys, p0=[2.0, 0.4, 0.5])
    assert [str(w.message) for w in caught if issubclass(w.category, lawfit.LawfitWarning)] == \
        ["lawfit: 2 converged, 2 BAD_INPUT"] or sum(issubclass(w.category, lawfit.LawfitWarning)
                                                    for w in caught) == 1
    assert [Status(s) for s in status] == [Status(status[0]), Status.BAD_INPUT, Status.BAD_INPUT, Status(status[3])]
    assert np.isnan(popt[1]).all() and np.isnan(popt[2]).all()
    np.testing.assert_allclose(popt[0], [3.0, 0.5, 1.0], rtol=1e-7)
    np.testing.assert_allclose(popt[3], [6.0, 0.5, 2.0], rtol=1e-7)
    with pytest.raises(ValueError, match="xdata has 20 points but ydata has 5"):
        lawfit.curve_fit("a*x**-b + c", X, np.ones(5))
    with pytest.raises(ValueError, match="problem 1: xdata has 20 points but ydata has 3"):
        lawfit.curve_fit("a*x**-b + c", [X, X], [X, X[:3]])


# --------------------------------------------------------------------------------- the command line


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "lawfit", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def _main(capsys, *args):
    """The command line in-process (a subprocess costs seconds of imports)."""
    from lawfit.__main__ import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    return code, capsys.readouterr().err


def test_cli_exit_codes_for_bad_input(table, tmp_path, capsys):
    good = tmp_path / "good.csv"
    table.to_csv(good, index=False)
    bad = tmp_path / "bad.csv"
    _spoil(table, "nan").to_csv(bad, index=False)
    out = tmp_path / "out.csv"
    common = ["--law", "chinchilla", "--y", "loss", "--by", "family"]
    # One bad group: the others are fitted and written, exit status 1, the warning says why
    # (the real process, as a shell sees it).
    r = _cli("fit", bad, *common, "--out", out)
    assert r.returncode == 1, r.stderr
    assert "warning: 2 converged, 1 BAD_INPUT (first: family='b': missing value (nan) in column 'loss' " \
           "at row 30 (line 32 of bad.csv); nan_policy='omit' skips such rows)" in r.stderr
    written = pd.read_csv(out).set_index("family")
    assert written.loc["b", "status"] == "BAD_INPUT" and written.loc[["a", "c"], "converged"].all()
    assert _main(capsys, "fit", good, *common, "--out", out, "-q")[0] == 0
    assert _main(capsys, "fit", bad, *common, "--nan-policy", "omit", "-q", "--out", out)[0] == 0
    code, err = _main(capsys, "fit", bad, *common, "--nan-policy", "raise", "--out", out)
    assert code == 2 and "error: column 'loss' has 1 missing" in err
    # Usage and data errors: exit status 2 with the argument named.
    for args, message in [
        (["--y", "lost"], "column 'lost' (y) is not in the data"),
        (["--y", "loss", "--by", "fam"], "column 'fam' (by) is not in the data"),
        (["--y", "loss", "--x", "N"], "has 2 input(s)"),
        (["--y", "loss", "--nan-policy", "bogus"], "invalid choice: 'bogus'"),
    ]:
        code, err = _main(capsys, "fit", good, "--law", "chinchilla", *args, "-q")
        assert code == 2 and message in err, (args, err)
    code, err = _main(capsys, "fit", tmp_path / "missing.csv", *common)
    assert code == 2 and "no such file" in err


def test_batched_curve_fit_zero_sigma_fails_its_problem_alone():
    # sigma = 0 is an infinite weight: that problem gets BAD_INPUT, the others fit, and no numpy
    # divide-by-zero warning escapes (the suite turns warnings into errors), for both batch layouts.
    good = _ys()[0]
    ys = np.vstack([good, 2 * good, 3 * good])
    sigma = np.ones_like(ys)
    sigma[1] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lawfit.LawfitWarning)
        rect = lawfit.curve_fit("a*x**-b + c", X, ys, p0=[2.0, 0.4, 0.5], sigma=sigma)
        ragged = lawfit.curve_fit("a*x**-b + c", [X] * 3, list(ys), p0=[2.0, 0.4, 0.5], sigma=list(sigma))
    for popt, _pcov, status in (rect, ragged):
        assert Status(status[1]) == Status.BAD_INPUT and np.isnan(popt[1]).all()
        assert lawfit.Status(status[0]) != Status.BAD_INPUT and np.isfinite(popt[[0, 2]]).all()
