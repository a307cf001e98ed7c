"""Smoke test of the benchmark suite (``lawfit.bench``): it runs, and every row carries an accuracy.

One benchmark at toy size, the user-call rows at toy size (on the released
data where present) and the runner end to end; a few seconds.  Speed is
measured by ``lawfit bench``, never asserted here.
"""
import json
import math

import pytest

pytest.importorskip("scipy")

from lawfit.bench import core, main, report  # noqa: E402
from lawfit.bench.core import ROW_FIELDS, Config  # noqa: E402
from lawfit.bench.suite import REGISTRY, select  # noqa: E402

from _env import HAS_GPU, data_root  # noqa: E402


def _check_schema(rows):
    assert rows
    for r in rows:
        d = r.as_dict()
        assert set(ROW_FIELDS) <= set(d)
        assert d["accuracy_metric"]
        assert isinstance(d["accuracy"], float) and math.isfinite(d["accuracy"])
        assert 0 < d["compared"] and 0 <= d["agree"] <= d["compared"]
        assert d["check"] in ("ok", "FAIL")
        assert d["fits_per_s"] > 0 and d["seconds"] > 0 and d["n_fits"] >= d["timed_fits"] > 0
        assert d["status"]


def test_powerlaw_toy_rows():
    cfg = Config(scale="toy", peers=("scipy",))
    rows = REGISTRY["powerlaw"][1](cfg)
    _check_schema(rows)
    assert [r.tool for r in rows] == ["lawfit", "scipy curve_fit lm", "scipy curve_fit trf"]
    lawfit_row = rows[0]
    assert not lawfit_row.extrapolated and lawfit_row.check == "ok"
    assert all(r.extrapolated for r in rows[1:])  # peers timed on a sample


def test_single_law_toy_rows():
    rows = REGISTRY["single_law"][1](Config(scale="toy"))
    _check_schema(rows)
    assert {r.tool for r in rows} == {"lawfit", "lawfit formula", "scipy curve_fit lm"}
    assert all(r.check == "ok" for r in rows)
    assert all("of scipy's" in r.note for r in rows if r.tool.startswith("lawfit"))


def test_million_row_measures_memory_in_a_child_process():
    rows = REGISTRY["chinchilla_1e6"][1](Config(scale="toy"))
    _check_schema(rows)
    (row,) = rows
    assert row.check == "ok" and row.agree == row.compared == 2_000
    assert row.shape["peak_rss_bytes"] > 0 and "peak RSS" in row.note


def test_missing_peer_is_skipped_with_reason(monkeypatch):
    real = core.have_module
    monkeypatch.setattr(core, "have_module", lambda name: False if name == "lmfit" else real(name))
    cfg = Config(scale="toy")
    rows = REGISTRY["powerlaw"][1](cfg)
    assert "lmfit leastsq" not in {r.tool for r in rows}
    assert any(what == "lmfit leastsq" and "not installed" in why for what, why in cfg.skipped)


def test_gpu_section_skips_cleanly_without_a_gpu():
    if HAS_GPU:
        pytest.skip("a GPU is usable here")
    cfg = Config(scale="toy")
    assert select(["gpu"]) == ["gpu_epoch", "gpu_ladders", "gpu_layouts"]
    assert all(REGISTRY[name][1](cfg) == [] for name in select(["gpu"]))
    assert cfg.skipped and cfg.skipped[0][0] == "gpu"


def test_select():
    assert select(["chinchilla"]) == ["chinchilla_laws", "chinchilla_points", "chinchilla_1e6"]
    assert select(["nist,powerlaw"]) == ["powerlaw", "nist"]
    assert select(["curve_fit"]) == ["single_law"]
    assert select(["userflow"]) == ["user_hitchhiker", "user_evaluate", "user_epoch", "user_groups"]
    with pytest.raises(ValueError, match="unknown benchmark"):
        select(["nope"])


def test_runner_writes_table_json(tmp_path, capsys):
    rc = main(["--toy", "--only", "powerlaw", "--no-plot", "--out", str(tmp_path)])
    assert rc == 0
    md = list(tmp_path.glob("bench_toy_*.md"))
    js = list(tmp_path.glob("bench_toy_*.json"))
    assert len(md) == 1 and len(js) == 1
    text = md[0].read_text()
    assert "| accuracy |" in text and "| lawfit |" in text
    record = json.loads(js[0].read_text())
    assert {"cpu_model", "cores", "versions", "seed"} <= set(record["info"])
    assert record["rows"] and all("accuracy" in r for r in record["rows"])
    assert "accuracy" in capsys.readouterr().out


@pytest.mark.slow
def test_gpu_workloads_run_on_the_cpu_at_toy_size(tmp_path, monkeypatch):
    # The GPU benchmark's code runs here with the CPU standing in for the
    # device, so it cannot rot between the rare runs on a GPU.  The 'device'
    # rows then are CPU rows: both layouts and the CPU agree bit for bit.
    from lawfit.bench.suite.gpu import gpu_rows

    monkeypatch.setenv("LAWFIT_CACHE", str(tmp_path))  # compiled laws (the jit rows) go here
    cfg = Config(scale="toy", threads=2)
    rows = gpu_rows(cfg, "cpu", "cpu stand-in")
    _check_schema(rows)
    problems = {r.problem for r in rows}
    assert {"power law 2p", "Chinchilla 5p", "Farseer-like 9p", "Chinchilla 5p layouts",
            "Epoch full analysis (grid + bootstrap x grid)"} <= problems
    assert "Farseer-like 9p layouts" in problems
    layout_notes = [r.note for r in rows if r.problem.endswith(" layouts") and r.tool != "lawfit cpu"]
    assert layout_notes and all(n.endswith("laws: True") for n in layout_notes)
    epoch = [r for r in rows if r.problem.startswith("Epoch")][0]
    assert "alpha" in epoch.note and epoch.shape["resamples_used"] >= 1
    # The CPU row is timed on the full fit and some resamples, extrapolated
    # once per fit from the measured stages (not from an extrapolated time).
    cpu = [r for r in rows if r.problem == epoch.problem and r.note.startswith("CPU timed")][0]
    measured = sum(cpu.shape["cpu_stage_seconds"])
    assert cpu.extrapolated
    assert cpu.seconds == pytest.approx(measured * cpu.n_fits / cpu.timed_fits, rel=1e-9)
    jit_notes = [r.note for r in rows if r.tool.endswith(" jit")]
    assert all(n.endswith("identical results: True") for n in jit_notes)
    assert all(r.check == "ok" for r in rows if not r.problem.startswith("Farseer")), [
        (r.problem, r.tool, r.note) for r in rows if r.check != "ok"]


def test_userflow_groups_toy_rows():
    # lawfit.fit on synthetic groups, the core on the same problems and scipy on a sample.
    pytest.importorskip("pandas")
    cfg = Config(scale="toy", peers=("scipy",))
    rows = REGISTRY["user_groups"][1](cfg)
    _check_schema(rows)
    assert [r.tool for r in rows] == ["lawfit.fit", "lawfit.solve_batch (core)", "scipy curve_fit (trf, bounds)"]
    assert all(r.n_fits == 200 for r in rows)
    fit_row, core_row, scipy_row = rows
    assert fit_row.check == "ok" and core_row.check == "ok"
    assert fit_row.status == core_row.status == "200 conv"
    assert "answers identical to fit's: True" in core_row.note
    assert "fit / solve_batch throughput = " in core_row.note
    assert scipy_row.extrapolated and not fit_row.extrapolated
    report.add_speedups(rows)
    assert core_row.speedup > 0 and scipy_row.speedup > 0  # the printed ratios


def test_userflow_skips_without_data():
    cfg = Config(scale="toy", data_dir=None)
    for name in ("user_hitchhiker", "user_evaluate", "user_epoch"):
        assert REGISTRY[name][1](cfg) == []
    assert {what for what, _ in cfg.skipped} == {"user_hitchhiker", "user_evaluate", "user_epoch"}
    assert all("not found" in why for _, why in cfg.skipped)


@pytest.mark.parametrize("name", ["user_hitchhiker", "user_evaluate", "user_epoch"])
@pytest.mark.data
# Epoch's refit with the published recipe (Huber, delta=1e-3) warns, rightly, that the sandwich
# covariance is unreliable there; the benchmark times the call and does not read the intervals.
@pytest.mark.filterwarnings("ignore:.*most residuals exceed the Huber scale:lawfit.LawfitWarning")
def test_userflow_real_data_toy_rows(name):
    root = data_root()
    need = {"user_epoch": "epoch_chinchilla"}.get(name, "hitchhiker_colpret")
    if not (root / need).is_dir():
        pytest.skip(f"{need} not found under {root}")
    pytest.importorskip("pandas")
    cfg = Config(scale="toy", data_dir=str(root), peers=("scipy",))
    rows = REGISTRY[name][1](cfg)
    _check_schema(rows)
    report.add_speedups(rows)
    lawfit_rows = [r for r in rows if r.tool.startswith("lawfit")]
    scipy_rows = [r for r in rows if r.tool.startswith("scipy")]
    assert lawfit_rows and len(scipy_rows) == len(lawfit_rows)
    assert all(r.check == "ok" for r in lawfit_rows), [(r.problem, r.note) for r in lawfit_rows]
    assert all(r.extrapolated and r.speedup > 0 for r in scipy_rows)
    if name == "user_epoch":
        assert "within 5%" in lawfit_rows[0].note  # E, A, B, alpha, beta near Besiroglu et al.'s
