"""lawfit.methods: Approach 2, variable projection, chained fits, Pareto-front fits,
asymmetric least squares, and the rollout scheme of evaluate.

Published numbers reproduced (each test names its source and tolerance): Hoffmann et al.'s
Approach-2 exponent on Epoch's extraction of their Fig. 3, Porian et al.'s N*(C) exponents
on their released IsoFLOP points, Besiroglu et al.'s refit optimum reached by variable
projection from 4 starts.
"""
import doctest
import importlib
import warnings

import numpy as np
import pandas as pd
import pytest

import lawfit
from lawfit.catalog import laws
from lawfit.methods import (Stage, approach2, fit_asymmetric, fit_chain, fit_pareto, kinetics_frontier,
                            linear_terms, muennighoff_two_stage, pareto_front, varpro_profile)
from lawfit.methods._resample import replicate_rows, unit_counts

from _env import data_root

pytestmark = pytest.mark.filterwarnings("ignore::lawfit.LawfitWarning")

MODULES = ["lawfit.methods.isoflop", "lawfit.methods.varpro", "lawfit.methods.chain", "lawfit.methods.pareto",
           "lawfit.methods.asymmetric", "lawfit.methods._resample", "lawfit.catalog.recipe",
           "lawfit.catalog.batch", "lawfit.catalog.repetition", "lawfit.catalog.testtime"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"


# ----------------------------------------------------------------- Approach 2


def _isoflop_frame(a=0.5, noise=0.0, seed=0, budgets=8, per=9):
    rng = np.random.default_rng(seed)
    rows = []
    for C in np.geomspace(1e18, 1e22, budgets):
        n_star = 0.1 * C ** a
        N = n_star * np.geomspace(0.15, 6, per) * np.exp(0.1 * rng.standard_normal(per))
        loss = 2.0 + 0.04 * np.log(N / n_star) ** 2 + 3 * C ** -0.05 + noise * rng.standard_normal(per)
        rows.append(pd.DataFrame({"C": C, "N": N, "loss": loss, "run": [f"{C:.2g}-{i}" for i in range(per)]}))
    return pd.concat(rows, ignore_index=True)


def test_approach2_recovers_the_exponent_with_intervals():
    df = _isoflop_frame(a=0.45, noise=0.003)
    res = approach2(df, bootstrap=200, seed=1)
    ex = res.exponents.iloc[0]
    assert ex.a == pytest.approx(0.45, abs=0.02) and ex.b == pytest.approx(1 - ex.a)
    assert ex.a_low < 0.45 < ex.a_high and ex.a_high - ex.a_low < 0.1
    pred = res.predict([1e23])
    assert pred.N_opt_low[0] < pred.N_opt[0] < pred.N_opt_high[0]
    np.testing.assert_allclose(pred.D_opt * 6 * pred.N_opt, 1e23)
    akima = approach2(df, method="akima", weights="equal").exponents.a[0]
    assert akima == pytest.approx(0.45, abs=0.03)
    with pytest.raises(ValueError, match="needs bootstrap"):
        approach2(df, method="akima")


def _need(folder):
    path = data_root() / folder
    if not path.is_dir():
        pytest.skip(f"{folder} not found at {path}")
    return path


def test_approach2_reproduces_hoffmann_table2():
    """Hoffmann et al. 2022, Table 2: Approach 2 (IsoFLOP profiles) gives a = 0.49 with the
    10th-90th percentile interval (0.462, 0.534).  On Epoch's extraction of their Fig. 3 (the
    Open-Athena collection's epochai_chinchilla source: 9 budgets), one parabola per budget
    and an unweighted power-law fit, as the paper describes, give a within 0.01 of 0.49."""
    _need("openathena_isoflops")
    from lawfit.datasets import load_openathena_isoflops

    df = load_openathena_isoflops(source="epochai_chinchilla")
    ex = approach2(df, weights="equal").exponents.iloc[0]
    assert ex.a == pytest.approx(0.49, abs=0.01)
    assert 0.462 < ex.a < 0.534 and ex.b == pytest.approx(1 - ex.a)


def test_approach2_reproduces_porian_exponents():
    """Porian et al. 2024 publish N* ~ C^a for 15 configurations (published_fit_results.csv,
    variant 'basic'); Akima interpolation in log N, dropping budgets whose minimum is at an end
    of the sampled range, and an unweighted fit reproduce every exponent within 0.02 (the two
    long-warm-up validation configurations differ by 0.014-0.018 because the authors keep one
    more edge budget) and the median within 0.003; the paper's headline (tuned hyper-parameters,
    RefinedWeb) 0.497 within 0.002."""
    path = _need("porian_compute_optimal")
    from lawfit.datasets import load_porian_compute_optimal

    keys = ["dataset", "hparams", "warmup", "decay", "param_count", "loss_type"]
    res = approach2(load_porian_compute_optimal(), by=keys, method="akima", weights="equal", drop_edge=True)
    pub = pd.read_csv(path / "published_fit_results.csv")
    m = res.exponents.merge(pub[pub.variant == "basic"][keys + ["n_exponent"]], on=keys)
    assert len(m) == 15
    diff = np.abs(m.a - m.n_exponent)
    assert diff.max() < 0.02 and np.median(diff) < 0.003
    head = m[(m.dataset == "rw") & (m.hparams == "tuned") & (m.warmup == "short") & (m.param_count == "standard")]
    assert head.a.iloc[0] == pytest.approx(0.497, abs=0.002)


# ----------------------------------------------------------------- variable projection


def test_linear_terms():
    assert linear_terms(laws["hestness"])[:2] == (["a", "c"], {"a": "x**-b", "c": "1"})
    names, basis, offset = linear_terms(laws["three_factor"])
    assert names == ["E", "A", "B", "C"] and offset is None
    assert linear_terms(laws["chinchilla_lse"])[0] == []  # log-form: nothing enters linearly
    with pytest.raises(ValueError, match="no parameter"):
        varpro_profile(laws["chinchilla_lse"], {"N": [1.0], "D": [1.0]}, [1.0])
    assert linear_terms(lawfit.Law("c - k*exp(-g*x)", inputs=["x"]))[:2] == (
        ["c", "k"], {"c": "1", "k": "-exp(-g * x)"})


def test_varpro_respects_nonnegativity():
    law = laws["hestness"]
    x = {"x": np.geomspace(1, 1e3, 30)}
    y = 2 * x["x"] ** -0.7 - 0.05  # the best unconstrained c is negative; the bound says c >= 0
    prof = varpro_profile(law, x, y, grid={"b": np.linspace(0.1, 1.5, 57)})
    assert all(p["c"] >= 0 and p["a"] >= 0 for p in prof.best)


def test_varpro_on_epoch_chinchilla():
    """Variable projection on the 240 runs of Epoch's Chinchilla replication: the profile's
    condition number is small where the full problem's is huge (Czech et al. report ~3.5e11 and
    ~10), and LM from its 4 best points reaches the optimum of the 4,500-point grid."""
    _need("epoch_chinchilla")
    from lawfit.datasets import load_epoch_chinchilla

    df = load_epoch_chinchilla(replication=True)
    prof = varpro_profile(laws["chinchilla"], df[["N", "D"]], df["loss"], residual="log")
    assert prof.condition_full > 1e10 and prof.condition_reduced < 100
    vp = lawfit.fit(df, "chinchilla", y="loss", loss="huber", starts="varpro", progress=False)
    grid = lawfit.fit(df, "chinchilla", y="loss", loss="huber", progress=False)  # the recipe's grid
    assert vp.n_starts[0] <= 4 < grid.n_starts[0] or grid.n_starts[0] == 16
    assert vp.cost[0] <= grid.cost[0] * (1 + 1e-7)
    for k in ("E", "alpha", "beta"):
        assert vp.params[k][0] == pytest.approx(grid.params[k][0], rel=1e-3)


# ----------------------------------------------------------------- chained fits


def test_unit_counts_follow_labels():
    c, inv = unit_counts(["r1", "r2", "r1", "r3"], 50, seed=3)
    assert c.shape == (50, 3) and inv.tolist() == [0, 1, 0, 2]
    c2, inv2 = unit_counts(["r3", "r1"], 50, seed=3)
    np.testing.assert_array_equal(c2[:, inv2], c[:, [2, 0]])
    assert 0.8 < c.mean() < 1.2  # Poisson(1)
    df = pd.DataFrame({"run": ["a", "a", "b"], "v": [1.0, 2.0, 3.0]})
    rep = replicate_rows(df, 20, seed=3, unit=["run"])
    # a run's rows move together: each replicate holds both rows of 'a' equally often
    per = rep[rep.run == "a"].groupby(["_replicate", "v"]).size().unstack(fill_value=0)
    assert (per[1.0] == per[2.0]).all()


def _gadre_chain_frame(seed=0):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"C": np.geomspace(1e17, 1e21, 40), "M": rng.choice([10.0, 20.0, 80.0], 40)})
    p1 = {"E": 1.7, "a": 400.0, "b": 1000.0, "eta": 0.15}
    d["loss"] = laws["gadre_overtraining"].predict(p1, d) + 0.002 * rng.standard_normal(40)
    p2 = {"epsilon": 0.85, "k": 6.0, "gamma": 1.0}
    d["err"] = laws["gadre_error"].predict(p2, L=d.loss.to_numpy()) + 0.002 * rng.standard_normal(40)
    return d, p1, p2


def test_chain_prediction_and_bootstrap():
    d, p1, p2 = _gadre_chain_frame()
    chain = fit_chain([Stage("gadre_overtraining", ["C", "M"], "loss"),
                       Stage("gadre_error", ["loss"], "err", feed={"L": "gadre_overtraining"})], d,
                      bootstrap=100, seed=2)
    assert chain.names == ["gadre_overtraining", "gadre_error"]
    pred = chain.predict(C=[1e22, 1e23], M=20.0)
    truth = laws["gadre_error"].predict(p2, L=laws["gadre_overtraining"].predict(p1, C=[1e22, 1e23], M=[20.0, 20.0]))
    assert (pred.gadre_error_low < truth).all() and (truth < pred.gadre_error_high).all()
    # the final interval carries both stages' uncertainty: wider than stage 2's alone
    loss_only = laws["gadre_error"].predict(chain.stage(1).estimates[0], L=pred.gadre_overtraining.to_numpy())
    np.testing.assert_allclose(pred.gadre_error, loss_only)
    assert chain.replicates[0].shape == (1, 100, 4) and np.isfinite(chain.replicates[1]).mean() > 0.95


def test_muennighoff_two_stage():
    rng = np.random.default_rng(4)
    U = 10 ** rng.uniform(8, 10, 150)
    single = rng.uniform(size=150) < 0.4  # single-epoch runs without excess parameters: the base fit's data
    N = np.where(single, U * 0.02 * rng.uniform(0.3, 1, 150), 10 ** rng.uniform(7, 9, 150))
    D = U * np.where(single, 1.0, rng.uniform(1, 40, 150))
    truth = {"E": 1.87, "A": 520.8, "alpha": 0.35, "B": 1487.7, "beta": 0.35, "R_N_star": 5.3, "R_D_star": 15.4}
    d = pd.DataFrame({"N": N, "D": D, "U_D": U, "run": np.arange(150)})
    d["loss"] = laws["muennighoff_raw"].predict(truth, d) * np.exp(0.002 * rng.standard_normal(150))
    two = muennighoff_two_stage(d, bootstrap=30, bootstrap_by="run", seed=5)
    base = two.stage(0).params.iloc[0]
    assert base.alpha == pytest.approx(0.35, rel=0.05)
    rd = two.stage(1).params.R_D_star[0]
    assert rd == pytest.approx(15.4, rel=0.1)
    reps = two.replicates[1][0, :, two.stage(1).param_names.index("R_D_star")]
    assert np.nanpercentile(reps, 2.5) < 15.4 < np.nanpercentile(reps, 97.5)
    # stage two holds each replicate's stage-one base: the replicate bases differ
    assert np.nanstd(two.replicates[0][0, :, 2]) > 0


# ----------------------------------------------------------------- Pareto fronts


def test_pareto_front():
    d = pd.DataFrame({"g": ["x"] * 5 + ["y"] * 3, "C": [1, 2, 2, 4, 8, 1, 2, 3],
                      "err": [0.9, 0.7, 0.8, 0.75, 0.5, 0.5, 0.6, 0.4]})
    assert pareto_front(d, "C", "err", by="g").tolist() == [True, True, False, False, True, True, False, True]
    assert pareto_front(d, "C", "err", by="g", minimize=False).tolist() == [
        True, False, False, False, False, True, True, False]


def test_fit_pareto_reselects_the_front():
    rng = np.random.default_rng(0)
    C = np.repeat(np.geomspace(1e8, 1e12, 15), 6)
    err = 30 * C ** -0.15 + 0.02 + rng.exponential(0.05, C.size)  # hyper-parameter settings only add error
    d = pd.DataFrame({"C": C, "err": err})
    pf = fit_pareto(d, "cherti_clip", x="C", y="err", bootstrap=100, seed=1)
    assert pf.front.sum() <= 15 and pf.result.converged[0]  # at most the best run of each budget
    lo, hi = pf.interval(0.95)
    alpha = pf.result.param_names.index("alpha")
    assert lo[0, alpha] < pf.result.estimates[0, alpha] < hi[0, alpha]
    assert pf.params.alpha_low[0] == lo[0, alpha]
    assert np.isfinite(pf.replicates).mean() > 0.95


def test_pareto_fit_on_laion():
    path = _need("laion_clip_mammut")
    from lawfit.datasets import load_laion_clip_mammut

    df = load_laion_clip_mammut(path)
    df = df.assign(err=1 - df["miou"], GFLOP=df["C"] / 1e9)
    pf = fit_pareto(df[df.GFLOP > 1e8], "clip_mammut", x="GFLOP", y="err", by="family", bootstrap=20, seed=0)
    p = pf.params
    assert p.converged.all() and (p.c < 0).all() and (p.d >= 0).all()
    assert (p.c_low <= p.c).all() and (p.c <= p.c_high).all()


def test_kinetics_frontier():
    rows = []
    for N, kv in [(1e9, 2 * 16 * 8 * 64), (8e9, 2 * 32 * 8 * 128), (32e9, 2 * 64 * 8 * 128)]:
        for k in (1, 4, 16):
            for L in (1000, 4000, 16000):
                acc = 1 - np.exp(-(np.log(N) - 18) * 0.1 * np.log1p(k) * np.log(L) / 8)
                rows.append({"N": N, "kv": kv, "k": k, "L_out": L, "accuracy": acc})
    front = kinetics_frontier(pd.DataFrame(rows), k="k")
    assert (np.diff(front.eflops) > 0).all() and (np.diff(front.accuracy) > 0).all()
    assert len(front) < len(rows)


# ----------------------------------------------------------------- asymmetric losses and rollout


def test_asymmetric_least_squares():
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"x": np.geomspace(1, 100, 300)})
    d["y"] = 2 * d.x ** -0.5 + 0.05 * rng.standard_normal(300)
    kw = dict(x=["x"], y="y", starts={"c": [1.0], "p": [0.3]})
    plain = lawfit.fit(d, "c*x**-p", progress=False, **kw)
    one = fit_asymmetric(d, "c*x**-p", overestimate=1.0, **kw)
    np.testing.assert_allclose(one.estimates, plain.estimates, rtol=1e-8)
    shares = []
    for w in (1.0, 4.0, 16.0):
        res = fit_asymmetric(d, "c*x**-p", overestimate=w, **kw)
        over = res.predict(d)["prediction"].to_numpy() > d.y.to_numpy()
        shares.append(over.mean())
        assert res.settings["overestimate"] == w
    # expectile: the share of over-predicted points falls towards 1/(1 + w)
    assert shares[0] > shares[1] > shares[2] and shares[2] < 0.2


def _ladder(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for N in [1e8, 2e8, 4e8, 8e8, 1.6e9]:
        D = np.geomspace(1e9, 4e10, 15)
        loss = 1.7 + 400 * N ** -0.34 + 410 * D ** -0.28
        rows.append(pd.DataFrame({"family": "f", "run": f"m{N:g}", "N": N, "D": D,
                                  "loss": loss * (1 + 1e-3 * rng.standard_normal(15))}))
    return pd.concat(rows, ignore_index=True)


def test_evaluate_rollout_and_asymmetric():
    ev = lawfit.evaluate(_ladder(), scheme="rollout", progress=False, min_models=2)
    t = ev.table
    assert t.n_models.tolist() == [2, 3, 4]
    assert t.target.tolist() == ["m4e+08", "m8e+08", "m1.6e+09"]  # always the next size up
    assert (t.size_ratio < 1).all() and (t.are < 0.02).all()
    asym = lawfit.evaluate(_ladder(), scheme="rollout", progress=False, overestimate=4.0,
                           starts={"E": [1.5, 2.0], "A": [400.0], "alpha": [0.3], "B": [400.0], "beta": [0.3]})
    assert asym.settings["overestimate"] == 4.0 and asym.table.converged.all()
