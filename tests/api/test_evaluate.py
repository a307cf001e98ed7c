"""lawfit.evaluate: extrapolation checks, and the Hitchhiker's-guide finding on ColPret.

Choshen, Zhang and Andreas (2024, arXiv:2410.11840) find that a scaling law
predicts the largest model of a family better -- lower absolute relative
error (ARE) on the last 30% of its training -- when it is fitted to more and
larger models, and to more of each model's training.  The reproduction below
fits the Chinchilla law to ColPret's GPT-3, OPT and Chinchilla families
(every (family, number of models, share of training) cut-off is one law of a
single batch) and checks that trend.
"""

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from lawfit import LawfitWarning  # noqa: E402
from lawfit.evaluate import Evaluation, absolute_relative_error, evaluate  # noqa: E402
from _env import data_root  # noqa: E402


def family(n_sizes=6, E=1.7, seed=None, name="f"):
    rng = None if seed is None else np.random.default_rng(seed)
    rows = []
    for N in 1e8 * 2.0 ** np.arange(n_sizes):
        D = np.geomspace(1e9, 2e11, 20)
        L = E + 400 * N**-0.34 + 410 * D**-0.28
        if rng is not None:
            L = L * (1 + 0.003 * rng.standard_normal(D.size))
        rows.append(pd.DataFrame({"family": name, "run": f"{name}-{N:g}", "N": N, "D": D, "loss": L}))
    return pd.concat(rows, ignore_index=True)


def test_exact_law_extrapolates_with_zero_error():
    data = pd.concat([family(name="f"), family(E=2.0, name="g")])
    # (Two model sizes cannot identify E, A and alpha: three is the least for an exact extrapolation.)
    ev = evaluate(data, n_models=[3, 4, 5], fractions=[0.5, 1.0], progress=False, prune=16)
    assert isinstance(ev, Evaluation)
    t = ev.table
    assert list(t.columns[:3]) == ["family", "n_models", "fraction"]
    assert {"target", "target_size", "largest_train_size", "n_train_runs", "n_train_points", "n_test_points",
            "are", "status", "converged", "E", "beta"} <= set(t.columns)
    assert len(t) == 2 * 3 * 2 and ev.fit.n_groups == 12  # every cut-off is one law of one batch
    assert t["converged"].all() and (t["are"] < 1e-6).all()
    assert (t["target"] == t["family"] + "-3.2e+09").all()
    D = np.geomspace(1e9, 2e11, 20)
    assert (t["n_test_points"] == np.sum(D >= 0.7 * D.max())).all()  # the last 30% of the target's training
    row = t[(t.family == "f") & (t.n_models == 3) & (t.fraction == 0.5)].iloc[0]
    assert row["largest_train_size"] == 4e8 and row["n_train_points"] == 3 * np.sum(D <= 0.5 * D.max())
    assert ev.summary()["n_families"].tolist() == [2, 2, 2] and ev.summary()["n_cutoffs"].tolist() == [4, 4, 4]
    assert ev.pivot().shape == (3, 2)
    assert "leave_largest_out" in repr(ev)


def test_are_is_the_papers_formula():
    assert absolute_relative_error([2.0, 4.0], [2.2, 3.6]) == pytest.approx(0.1)


def test_rolling_origin_and_windows():
    data = family(seed=0)
    ev = evaluate(data, scheme="rolling_origin", fractions=[0.3, 0.5, 0.7, 0.9], progress=False, prune=16)
    assert ev.table["fraction"].tolist() == [0.3, 0.5, 0.7]
    assert any("overlap the test set" in s for s in ev.skipped)
    assert (ev.table["n_models"] == 6).all() and (ev.table["are"] < 0.02).all()
    win = evaluate(data, n_models=[2], window=True, progress=False, prune=16)
    assert win.table["first_model"].tolist() == [0, 1, 2, 3]
    # Closer in scale, closer prediction: the window next to the target does best.
    assert win.table["are"].iloc[-1] <= win.table["are"].iloc[0]


def test_evaluate_errors():
    with pytest.raises(ValueError, match="not in the data"):
        evaluate(family().drop(columns="run"), progress=False)
    with pytest.raises(ValueError, match="scheme"):
        evaluate(family(), scheme="kfold", progress=False)
    with pytest.raises(ValueError, match="enough runs"):
        evaluate(family(n_sizes=2), progress=False)
    for bad in ([], [0.0], [1.5], [float("nan")]):  # no cut-off to evaluate: said, not "no family has enough runs"
        with pytest.raises(ValueError, match=r"fractions must be one or more numbers in \(0, 1\]"):
            evaluate(family(), fractions=bad, progress=False)


# --------------------------------------------------------------------------
# The paper's finding on the real data


@pytest.fixture(scope="module")
def colpret():
    root = data_root()
    if not (root / "hitchhiker_colpret").is_dir():
        pytest.skip("ColPret data not found (set LAWFIT_DATA)")
    from lawfit.datasets import load_hitchhiker_colpret

    df = load_hitchhiker_colpret(root, metric=["val_loss", "loss"])
    df = df[df["scaled_set"].isin(["gpt3", "OPT", "chinchilla"])]
    df = df[(df["scaled_set"] != "gpt3") | (df["metric"] == "val_loss")]
    # OPT's "loss" is a perplexity: its log is the cross-entropy (ARE is scale-free, so the base
    # does not matter; ColPret takes log2).
    df = df.assign(loss=np.where(df["scaled_set"] == "OPT", np.log(df["value"]), df["value"]))
    # GPT-3's curves are digitised at ~800 points per model: every 4th keeps the test fast.
    df = df.sort_values(["run", "D"])
    df = df[(df["scaled_set"] != "gpt3") | (df.groupby("run").cumcount() % 4 == 0)]
    # As the paper: checkpoints after 10^10 tokens, test on the target's last 30%.
    with pytest.warns(LawfitWarning, match="cut-offs did not converge"):  # too few points for 5 parameters
        return evaluate(df, "chinchilla", family="scaled_set", run="run", fractions=[0.25, 1.0],
                        min_time=1e10, test_from=0.7, prune=32, progress=False)


@pytest.mark.slow
@pytest.mark.data
def test_colpret_are_falls_with_more_and_larger_models(colpret):
    t = colpret.table[colpret.table["converged"] & (colpret.table["fraction"] == 1.0)]
    for fam in ("gpt3", "OPT", "chinchilla"):
        f = t[t["scaled_set"] == fam].sort_values("n_models")
        few, most = f["are"].iloc[0], f["are"].iloc[-1]
        assert most < 0.05, (fam, most)  # all smaller models: within 5% of the largest model's loss
        assert most < few / 4, (fam, few, most)  # vs 16-28% from the two or three smallest
    # Per family: fitting on more than half of the available smaller models beats fewer, on average.
    n_avail = t.groupby("scaled_set")["n_models"].transform("max")
    t = t.assign(more=t["n_models"] > n_avail / 2)
    mean = t.groupby(["scaled_set", "more"])["are"].mean().unstack()
    assert (mean[True] < mean[False] / 2).all(), mean


@pytest.mark.slow
@pytest.mark.data
def test_colpret_are_falls_with_more_of_each_models_training(colpret):
    t = colpret.table[colpret.table["converged"]]
    for fam in ("gpt3", "OPT"):  # the families with training curves
        f = t[(t["scaled_set"] == fam)]
        k = f["n_models"].max()
        early = f[(f["n_models"] == k) & (f["fraction"] == 0.25)]["are"].iloc[0]
        full = f[(f["n_models"] == k) & (f["fraction"] == 1.0)]["are"].iloc[0]
        assert full < early / 2, (fam, early, full)
