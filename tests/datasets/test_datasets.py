"""Loaders of the released scaling-law collections (lawfit.datasets) on the real files.

The data are not part of the repository: they are read from $LAWFIT_DATA, else
from ../shared/data next to the checkout; a test skips when its folder is
absent, and when pandas (or, for parquet files, pyarrow) is not installed.
Expected counts and values come from each folder's SOURCE.md and the files.
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lawfit.datasets as ds
from _env import data_root


ROOT = data_root()
PARQUET = {"hitchhiker_colpret", "laion_clip_mammut", "olmo_ladder_bhagia2024"}


def folder(name: str, parquet: bool = False) -> Path:
    """Return the dataset folder, or skip (no data, no pandas, no pyarrow when needed)."""
    pytest.importorskip("pandas")
    if parquet or name in PARQUET:
        pytest.importorskip("pyarrow")
    d = ROOT / name
    if not d.is_dir():
        pytest.skip(f"data folder {d} not present")
    return d


def load(name: str, path=None, **kwargs):
    return getattr(ds, f"load_{name}")(path, **kwargs)


# (dataset, kwargs, rows, columns that must be there, key columns: numeric, no NaN)
CASES = [
    ("epoch_chinchilla", {}, 245, ["besiroglu_excluded"], ["N", "D", "C", "loss"]),
    ("epoch_chinchilla", {"replication": True}, 240, [], ["N", "D", "C", "loss"]),
    ("hitchhiker_colpret", {}, 103_696,
     ["run", "family", "scaled_set", "paper", "seed", "epochs", "checkpoint", "metric"],
     ["D", "value"]),
    ("hitchhiker_colpret", {"metric": "val_loss"}, 6_506, ["run", "family"],
     ["N", "D", "C", "value"]),
    ("gadre_overtraining", {}, 104, ["run", "dataset", "arch", "N_no_embed", "loss_openlm"],
     ["N", "D", "M", "C", "loss"]),
    ("gadre_overtraining", {"table": "downstream"}, 4_784, ["run", "task", "dataset"],
     ["N", "D", "M", "C", "accuracy", "error"]),
    ("porian_compute_optimal", {}, 1_745, ["config"] + list(ds.PORIAN_CONFIG_KEYS),
     ["C", "N", "D", "loss"]),
    ("porian_compute_optimal", {"table": "optimal"}, 177, ["config", "N", "D", "loss"], ["C"]),
    ("porian_compute_optimal", {"table": "fits"}, 60, ["config", "variant"],
     ["n_exponent", "t_exponent"]),
    ("pythia_evals", {}, 6_714,
     ["run", "size", "variant", "deduped", "task", "acc", "ppl", "loss"],
     ["N", "N_nonembedding", "step", "D", "C", "num_fewshot", "acc"]),
    ("pythia_evals", {"table": "long"}, 57_994, ["run", "task", "pct_stereotype"],
     ["N", "step", "D", "C"]),
    ("openathena_isoflops", {}, 947, ["experiment", "source", "condition", "outlier", "reason"],
     ["N", "D", "C", "loss"]),
    ("openathena_isoflops", {"drop_outliers": True}, 750, ["experiment"], ["N", "D", "C", "loss"]),
    ("steplaw_li2025", {}, 1_911, ["run", "h", "numl", "ti", "D_per_N"],
     ["N", "D", "lr", "bs", "batch_tokens", "loss", "smooth_loss"]),
    ("steplaw_li2025", {"table": "moe"}, 708, ["run", "Na", "nume", "topk"],
     ["N", "D", "lr", "bs", "loss", "smooth_loss"]),
    ("steplaw_li2025", {"table": "fits"}, 1_000, [],
     ["lr_intercept", "lr_coefN", "lr_coefD", "bs_intercept", "bs_coefD"]),
    ("misfitting_li2025", {}, 4_852, ["model", "sweep", "total_epochs", "epoch"],
     ["run", "peak_lr", "N", "N_no_emb", "D", "C", "C_6ND", "loss", "step",
      "portion_steps_elapsed"]),
    ("misfitting_li2025", {"final_only": True}, 261, ["model"], ["N", "D", "C", "loss", "step"]),
    ("obsscaling_ruan2024", {}, 1_144, ["model", "family", "D", "C", "benchmark"], ["N", "score"]),
    ("obsscaling_ruan2024", {"wide": True}, 148, ["model", "family", "MMLU", "HumanEval"],
     ["N", "MMLU", "HellaSwag"]),
    ("laion_clip_mammut", {}, 1_431,
     ["run", "family", "model", "caption_loss", "acc1", "samples_seen_scale_pretty"],
     ["N", "D", "C", "loss", "miou", "step", "flops_per_sample"]),
    ("laion_clip_mammut", {"table": "profile"}, 56, ["model", "family", "image_size"],
     ["N", "N_image", "N_text", "flops_per_sample"]),
    ("olmo_ladder_bhagia2024", {}, 3_569, ["run", "size", "chinchilla_multiple", "is_rerun",
                                          "in_paper_final_config"], ["N", "D", "C", "step"]),
    ("olmo_ladder_bhagia2024", {"final_config": True}, 1_566, ["run"], ["N", "D", "C", "step"]),
    ("olmo_ladder_bhagia2024", {"table": "targets"}, 379, ["run", "size"], ["N", "D", "C"]),
    ("humanlike_vits_orhan2023", {}, 78, ["arch", "seed", "data_fraction"], ["N", "D", "R", "err", "acc1"]),
    ("humanlike_vits_orhan2023", {"table": "finetune"}, 2_834, ["arch", "epoch", "test_acc1"], ["D", "R"]),
]


def _case_id(case):
    name, kwargs = case[0], case[1]
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


@pytest.mark.data
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_round_trip(case):
    pd = pytest.importorskip("pandas")

    name, kwargs, rows, columns, key = case
    df = load(name, folder(name, kwargs.get("table") == "long"), **kwargs)
    assert isinstance(df, pd.DataFrame)
    assert len(df) == rows
    missing = [c for c in columns + key if c not in df.columns]
    assert not missing, missing
    for c in key:
        assert pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]), c
        assert not df[c].isna().any(), f"NaN in {c}"
    for c in ("N", "D", "C", "loss"):  # the common columns are float64 wherever present
        if c in df.columns:
            assert df[c].dtype == np.float64, (c, df[c].dtype)
    assert df.index.equals(pd.RangeIndex(len(df)))


@pytest.mark.data
@pytest.mark.parametrize("name", list(ds.DATASETS))
def test_path_forms_agree(name):
    """Folder, data root and the default file itself give the same table."""
    d = folder(name)
    by_folder = load(name, d)
    pd = pytest.importorskip("pandas")
    pd.testing.assert_frame_equal(load(name, ROOT), by_folder)
    pd.testing.assert_frame_equal(load(name, str(d / ds.DATASETS[name].files[0])), by_folder)


# ---------------------------------------------------------------------------
# known values, from SOURCE.md and the files


@pytest.mark.data
def test_epoch_chinchilla_values():
    d = folder("epoch_chinchilla")
    df = load("epoch_chinchilla", d)
    first = df.iloc[0]
    assert math.isclose(first["N"], 6795600349.0, rel_tol=1e-9)
    assert math.isclose(first["loss"], 5.005581996, rel_tol=1e-9)
    assert math.isclose(first["D"], 245105957.9, rel_tol=1e-9)  # C / (6 N)
    np.testing.assert_allclose(df["D"], df["C"] / (6 * df["N"]), rtol=1e-15)
    assert 5.7e7 < df["N"].min() < 5.8e7 and 1.6e10 < df["N"].max() < 1.7e10
    assert math.isclose(df["loss"].min(), 2.077394, abs_tol=1e-6)


@pytest.mark.data
def test_epoch_chinchilla_replication_selection():
    """Epoch keeps loss < 5th-largest loss: 240 of 245, same rows as SOURCE's flag."""
    pd = pytest.importorskip("pandas")
    d = folder("epoch_chinchilla")
    full = load("epoch_chinchilla", d)
    kept = load("epoch_chinchilla", d, replication=True)
    assert len(kept) == 240 and full["besiroglu_excluded"].sum() == 5
    dropped = full[full["besiroglu_excluded"]]
    assert dropped["loss"].min() > kept["loss"].max()
    assert math.isclose(dropped["loss"].min(), 3.446995, abs_tol=1e-6)
    # the 6th and 7th largest losses tie (3.405928) and both stay in
    assert (kept["loss"] == kept["loss"].max()).sum() == 2
    tidy = pd.read_csv(d / "chinchilla_epoch_tidy.csv")
    assert (full["besiroglu_excluded"].to_numpy() == tidy["besiroglu_excluded"].to_numpy()).all()
    # the tidy file read through the loader gives the same selection
    assert len(load("epoch_chinchilla", d / "chinchilla_epoch_tidy.csv", replication=True)) == 240
    # the rule itself, with ties at the threshold
    mask = ds.besiroglu_excluded([1.0, 3.0, 2.0, 3.0], n_excluded=1)
    assert mask.tolist() == [False, True, False, True]
    assert not ds.besiroglu_excluded([1.0, 2.0], n_excluded=0).any()


@pytest.mark.data
def test_hitchhiker_values():
    df = load("hitchhiker_colpret", folder("hitchhiker_colpret"))
    assert df["run"].nunique() == 386
    chin = df[df["paper"] == "chinchilla"]
    assert len(chin) == 245 and chin["run"].nunique() == 43
    assert set(chin["family"]) == {"Gopher"}
    row = df[(df["run"] == "OLMo-7B") & (df["D"] == 84e9)
             & (df["metric"] == "gab-validation/CrossEntropyLoss")]
    assert len(row) == 1 and math.isclose(row["value"].iloc[0], 3.4661, abs_tol=1e-4)
    row = df[(df["run"] == "GPT2-4.20B-c4-10%-code-90%-1.0-2.0") & (df["metric"] == "code_loss")
             & (df["D"] == 5242880000.0) & (df["seed"] == 2)]
    assert len(row) == 1 and math.isclose(row["value"].iloc[0], 0.7698, abs_tol=1e-4)
    assert row["N"].iloc[0] == 4.2e9
    # N unknown only for the Revisiting benchmark (its sources give 0)
    assert set(df.loc[df["N"].isna(), "paper"]) == {
        "Revisiting Neural Scaling Laws in Language and Vision"}
    known = df.dropna(subset=["N"])
    np.testing.assert_allclose(known["C"], 6 * known["N"] * known["D"], rtol=1e-12)
    assert df.dtypes["seed"] == np.int64


@pytest.mark.data
def test_gadre_values():
    d = folder("gadre_overtraining")
    df = load("gadre_overtraining", d)
    r = df.set_index("run").loc["c4_original-d=96_l=8_h=4-0.25"]
    assert (r["N"], r["D"], r["M"]) == (10569312.0, 52846560.0, 5.0)
    assert r["C"] == 3351310684600320.0
    assert r["loss"] == r["loss_c4_val"] and math.isclose(r["loss"], 5.974923739894816)
    assert df.groupby("dataset").size().to_dict() == {"c4_original": 34, "rpj": 35,
                                                      "rw_original": 35}
    big = df[df["arch"] == "open_lm_7b"]
    assert len(big) == 3 and (big["N"] == 6889410560.0).all()
    assert math.isclose(big["C"].iloc[0], 6 * 6889410560 * 137788211200, rel_tol=1e-15)
    other = load("gadre_overtraining", d, split="openlm")
    assert (other["loss"] == other["loss_openlm"]).all()
    down = load("gadre_overtraining", d / "downstream_long.csv")  # table from the file name
    assert len(down) == 104 * 46 and down["task"].nunique() == 46
    np.testing.assert_allclose(down["error"], 1 - down["accuracy"])


@pytest.mark.data
def test_porian_values():
    d = folder("porian_compute_optimal")
    df = load("porian_compute_optimal", d)
    assert df["config"].nunique() == 15
    assert sorted(df["C"].unique()) == [1.25e16 * 2**k for k in range(12)]
    first = df.iloc[0]
    assert first["config"] == "rw/base/long/kaplan/kaplan/train"
    assert (first["N"], first["loss"]) == (331776.0, 4.709075572)
    np.testing.assert_allclose(df["D"], df["C"] / (6 * df["N"]), rtol=1e-9)
    fits = load("porian_compute_optimal", d, table="fits")
    basic = fits[(fits["config"] == "rw/base/long/kaplan/kaplan/train")
                 & (fits["variant"] == "basic")]
    assert math.isclose(basic["n_exponent"].iloc[0], 0.833768, abs_tol=1e-6)
    opt = load("porian_compute_optimal", d / "optimal_pairs.csv")
    assert len(opt) == 177 and opt["N"].isna().sum() == 4


@pytest.mark.data
def test_pythia_values():
    df = load("pythia_evals", folder("pythia_evals"))
    assert (df["D"] == df["step"] * df["tokens_per_step"]).all()
    lam = df[(df["task"] == "lambada_openai") & (df["num_fewshot"] == 0)
             & (df["variant"] == "standard")]
    final = lam.loc[lam.groupby("size")["step"].idxmax()].set_index("size")
    expected = {"70m": 142.4, "160m": 38.1, "410m": 10.8, "1.4b": 6.09, "2.8b": 5.04,
                "6.9b": 4.45, "12b": 3.92}
    for size, ppl in expected.items():
        assert round(final.loc[size, "ppl"], 2 if ppl < 10 else 1) == ppl, size
    assert final.loc["70m", "N"] == 70_426_624 and final.loc["70m", "N_nonembedding"] == 18_915_328
    assert final.loc["12b", "N"] == 11_846_072_320
    np.testing.assert_allclose(lam["loss"], np.log(lam["ppl"]))
    assert df.loc[df["task"] != "lambada_openai", "loss"].isna().all()


@pytest.mark.data
def test_openathena_values():
    d = folder("openathena_isoflops")
    df = load("openathena_isoflops", d)
    assert df.groupby("source").size().to_dict() == {
        "epochai_chinchilla": 123, "llama_3": 266, "marin_202603": 258, "misfitting": 176,
        "ml_scalefit": 124}
    assert df["outlier"].sum() == 197 and df["experiment"].nunique() == 8
    row = df[(df["experiment"] == "marin_202603__comma__llama_2") & (df["C"] == 3e20)
             & (df["N"] == 272513792.0)]
    assert len(row) == 1 and math.isclose(row["loss"].iloc[0], 3.425632, rel_tol=1e-6)
    assert math.isclose(row["D"].iloc[0], 222593800000.0, rel_tol=1e-6)
    llama = load("openathena_isoflops", d, source="llama_3")
    assert len(llama) == 266 and set(llama["condition"]) == {"raw_loss", "exp_loss"}
    assert len(load("openathena_isoflops", d / "isoflops_combined.csv")) == 947
    per_source = load("openathena_isoflops", d / "isoflops_marin_202603.csv")
    assert len(per_source) == 258 and "provenance" in per_source.columns
    with pytest.raises(ValueError, match="isoflops_combined.csv"):
        load("openathena_isoflops", d / "isoflops_combined.csv", drop_outliers=True)


@pytest.mark.data
def test_steplaw_values():
    d = folder("steplaw_li2025")
    df = load("steplaw_li2025", d)
    assert df.groupby(["N", "D"]).ngroups == 17 and df["N"].nunique() == 5
    row = df[(df["N"] == 214663680) & (df["D"] == 1e11) & (df["bs"] == 736)
             & np.isclose(df["lr"], 0.0003453, rtol=1e-3)]
    assert len(row) == 1
    assert row["loss"].iloc[0] == 2.413517
    assert math.isclose(row["smooth_loss"].iloc[0], 2.3976109618296744)
    # N is non-embedding: numl (4 h^2 + 3 h ffnh)
    h, ffnh = df["h"], df["ffnh"]
    np.testing.assert_array_equal(df["N"], df["numl"] * (4 * h**2 + 3 * h * ffnh))
    assert (df["batch_tokens"] == df["bs"] * 2048).all()
    moe = load("steplaw_li2025", d, table="moe")
    assert moe.groupby(["N", "D"]).ngroups == 12 and (moe["Na"] < moe["N"]).all()


@pytest.mark.data
def test_misfitting_values():
    d = folder("misfitting_li2025")
    df = load("misfitting_li2025", d)
    first = df.iloc[0]
    assert first["model"] == "misfitting_35m" and first["N"] == 93940416.0
    assert first["N_no_emb"] == 35842752.0 and first["D"] == 134217728.0
    assert math.isclose(first["loss"], 5.939757396001369)
    assert first["C"] == 75650815224446976.0
    counts = df["model"].value_counts().to_dict()
    assert counts["misfitting_100m"] == 768 and counts["misfitting_12m"] == 174
    assert df["run"].nunique() == 263
    # a run is one sweep/model/lr/length with increasing steps
    for _, run in df.groupby("run"):
        assert run["step"].is_monotonic_increasing
        assert run[["sweep", "model", "peak_lr", "total_steps"]].nunique().max() == 1
    final = load("misfitting_li2025", d, final_only=True)
    released = load("misfitting_li2025", d / "scaling_results_last_ckpt_only.csv")
    cols = ["model", "sweep", "peak_lr", "N", "D", "loss"]
    pd = pytest.importorskip("pandas")
    pd.testing.assert_frame_equal(final[cols].sort_values(cols).reset_index(drop=True),
                                  released[cols].sort_values(cols).reset_index(drop=True))
    assert final["run"].is_unique


@pytest.mark.data
def test_obsscaling_values():
    d = folder("obsscaling_ruan2024")
    df = load("obsscaling_ruan2024", d)
    assert df["family"].nunique() == 47 and df["model"].nunique() == 148
    r = df[(df["model"] == "meta-llama/Llama-2-7b-hf") & (df["benchmark"] == "MMLU")]
    assert len(r) == 1
    assert (r["N"].iloc[0], r["D"].iloc[0], r["C"].iloc[0]) == (7e9, 2e12, 84.0 * 1e21)
    assert r["score"].iloc[0] == 0.4379609636092418
    wide = load("obsscaling_ruan2024", d, wide=True)
    assert wide["D"].isna().sum() == 25 and wide["C"].isna().sum() == 25
    emergent = load("obsscaling_ruan2024", d / "base_llm_emergent_capability_eval.csv")
    assert emergent["family"].notna().all() and emergent["model"].nunique() == 84
    agent = load("obsscaling_ruan2024", d, table="instruct_agent", wide=True)
    assert len(agent) == 27 and agent["family"].notna().all()


@pytest.mark.data
def test_laion_values():
    d = folder("laion_clip_mammut")
    df = load("laion_clip_mammut", d)
    assert df["run"].is_unique
    assert df.groupby("family").size().to_dict() == {"clip": 581, "mammut": 850}
    r = df[(df["model"] == "mammut_ViT-L-16") & (df["D"] == 1.28e9)
           & (df["global_batch_size"] == 90624)]
    assert len(r) == 1
    assert r["C"].iloc[0] == 211673600000.0 * 1e9
    assert r["miou"].iloc[0] == 0.4632717967033386 and r["acc1"].iloc[0] == 0.74636
    np.testing.assert_allclose(df["C"], df["D"] * df["flops_per_sample"], rtol=1e-12)
    assert df.loc[df["family"] == "clip", "caption_loss"].isna().all()
    assert df.loc[df["family"] == "mammut", "caption_loss"].notna().all()


# ---------------------------------------------------------------------------
# wrong paths and arguments: clear errors that name the path (no data needed)


@pytest.mark.parametrize("name", list(ds.DATASETS))
def test_missing_path_is_named(name, tmp_path):
    bad = tmp_path / "no_such_folder"
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        load(name, bad)


@pytest.mark.parametrize("name", list(ds.DATASETS))
def test_empty_folder_names_expected_file(name, tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load(name, tmp_path)
    assert str(tmp_path / ds.DATASETS[name].files[0]) in str(err.value)


@pytest.mark.parametrize("name", list(ds.DATASETS))
def test_wrong_file_is_a_value_error(name, tmp_path):
    pytest.importorskip("pandas")
    if name in PARQUET:
        pytest.importorskip("pyarrow")
    bad = tmp_path / "other.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other.csv"):
        load(name, bad)


def test_unknown_table_and_split(tmp_path):
    with pytest.raises(ValueError, match="unknown table"):
        ds.load_porian_compute_optimal(tmp_path, table="nope")
    d = folder("gadre_overtraining")
    with pytest.raises(ValueError, match="split"):
        ds.load_gadre_overtraining(d, split="nope")


def test_lawfit_data_unset(monkeypatch):
    monkeypatch.delenv("LAWFIT_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="LAWFIT_DATA"):
        ds.load_epoch_chinchilla()


def test_lawfit_data_without_the_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("LAWFIT_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        ds.load_steplaw_li2025()
    assert str(tmp_path / "steplaw_li2025") in str(err.value)
    monkeypatch.setenv("LAWFIT_DATA", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="missing"):
        ds.load_steplaw_li2025()


@pytest.mark.data
@pytest.mark.parametrize("name", list(ds.DATASETS))
def test_lawfit_data_resolution(name, monkeypatch):
    d = folder(name)
    pd = pytest.importorskip("pandas")
    monkeypatch.setenv("LAWFIT_DATA", str(ROOT))
    pd.testing.assert_frame_equal(load(name), load(name, d))
    pd.testing.assert_frame_equal(ds.load_dataset(name), load(name, d))


# ---------------------------------------------------------------------------
# registry and the optional pandas dependency


def test_registry():
    names = ds.list_datasets()
    assert names == list(ds.DATASETS) and len(names) == 12
    for name in names:
        info = ds.DATASETS[name]
        loader = getattr(ds, info.loader)
        assert info.loader == f"load_{name}" and info.loader in ds.__all__
        doc = loader.__doc__
        assert "Returns" in doc and "Examples" in doc
    with pytest.raises(ValueError, match="unknown dataset"):
        ds.load_dataset("nope")
    with pytest.raises(ValueError, match="unknown dataset 'hitchhiker'; did you mean 'hitchhiker_colpret'\\?"):
        ds.load_dataset("hitchhiker")  # the collection's short name: the error names the registered one
    assert ds.list_datasets(available=True, root=Path("/nonexistent")) == []
    if ROOT.is_dir():
        present = ds.list_datasets(available=True, root=ROOT)
        assert present == [n for n in names if (ROOT / n).is_dir()]


def test_nist_exports_unchanged():
    for name in ("NIST_PROBLEMS", "NistProblem", "load_nist_strd", "lre", "nist_data_dir",
                 "nist_problem_names", "passes", "score_fit"):
        assert name in ds.__all__ and hasattr(ds, name)


def test_import_without_pandas(tmp_path):
    """lawfit.datasets imports without pandas; a loader then says how to install it."""
    (tmp_path / "svg_extracted_data.csv").write_text("x\n")
    code = (
        "import sys\n"
        "sys.modules['pandas'] = None\n"
        "import lawfit.datasets as ds\n"
        "assert len(ds.list_datasets()) == 12\n"
        "try:\n"
        f"    ds.load_epoch_chinchilla({str(tmp_path)!r})\n"
        "except ImportError as e:\n"
        "    print(e)\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert "pip install lawfit[pandas]" in out.stdout
