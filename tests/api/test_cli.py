"""The command line, run as a user would: ``python -m lawfit ...`` in a subprocess."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

import lawfit as _lawfit_package

# The folder holding the lawfit package this test imported (site-packages after
# `pip install`, or the source tree in development), so the subprocess runs the
# same build.
PACKAGE_ROOT = Path(_lawfit_package.__file__).resolve().parents[1]


def lawfit(*args, cwd=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PACKAGE_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([sys.executable, "-m", "lawfit", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    rows = []
    for fam, dE in (("a", 0.0), ("b", 0.1)):
        for N in [5e7, 1e8, 2e8, 4e8]:
            D = np.geomspace(1e9, 80 * N, 10)
            L = (1.69 + dE + 406.4 * N**-0.34 + 410.7 * D**-0.28) * (1 + 0.003 * rng.standard_normal(D.size))
            rows.append(pd.DataFrame({"family": fam, "N": N, "D": D, "loss": L}))
    path = tmp_path_factory.mktemp("cli") / "runs.csv"
    pd.concat(rows, ignore_index=True).to_csv(path, index=False)
    return path


def test_fit_writes_the_parameter_table(csv, tmp_path):
    out = tmp_path / "results.csv"
    r = lawfit("fit", csv, "--law", "chinchilla", "--x", "N,D", "--y", "loss", "--by", "family",
               "--bootstrap", "50", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "lawfit: 2 laws, 2 converged" in r.stderr and f"wrote {out}" in r.stderr
    table = pd.read_csv(out)
    assert table["family"].tolist() == ["a", "b"]
    assert {"E", "E_stderr", "E_low", "E_high", "beta_high", "status", "reason", "n_points",
            "basin_count", "n_resamples"} <= set(table.columns)
    assert table["converged"].all() and (table["E_low"] < table["E"]).all()


def test_fit_prints_the_table_and_frontier_without_out(csv, capsys):
    code, out, err = run_main(capsys, "fit", csv, "--law", "chinchilla", "--y", "loss", "--by", "family",
                              "--frontier", "1e21,1e23", "-q")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["family", "E", "E_stderr"]
    assert any(line.split()[:1] == ["family"] and "N_opt" in line for line in lines[1:])


@pytest.mark.slow
def test_fit_with_jit_prints_the_same_table(csv, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LAWFIT_CACHE", str(tmp_path))  # compiled laws (or nothing, without a compiler)
    args = ("fit", csv, "--law", "chinchilla", "--y", "loss", "--by", "family", "-q")
    code, plain, _ = run_main(capsys, *args)
    code_jit, compiled, err = run_main(capsys, *args, "--jit")
    assert code == code_jit == 0 and err == ""
    assert compiled == plain  # the compiled law gives the interpreter's bits


def run_main(capsys, *args):
    """The same entry point in-process (faster than a subprocess for the many small cases)."""
    from lawfit.__main__ import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_usage_and_data_errors_exit_2_with_a_message(csv, tmp_path, capsys):
    code, _, err = run_main(capsys, "fit", csv, "--law", "chinchilla", "--y", "los")
    assert code == 2 and "lawfit fit: error: column 'los' (y) is not in the data" in err
    assert "Traceback" not in err
    code, _, err = run_main(capsys, "fit", tmp_path / "missing.csv", "--law", "chinchilla", "--y", "loss")
    assert code == 2 and "no such file" in err
    code, _, err = run_main(capsys, "fit", csv, "--law", "chinchilla")
    assert code == 2 and "--y" in err
    code, _, err = run_main(capsys, "fit", csv, "--y", "loss")  # argparse: --law is required
    assert code == 2 and "--law" in err
    code, _, err = run_main(capsys, "fit", csv, "--law", "chinchilla", "--y", "loss", "--fixed", "E")
    assert code == 2 and "name=value" in err
    code, _, err = run_main(capsys, "fit", csv, "--law", "chinchilla", "--y", "loss", "--out", tmp_path / "x.xlsx")
    assert code == 2 and "unknown format" in err
    assert "converged" not in err  # refused before the fit: a typo in --out or --frontier costs no fit
    code, _, err = run_main(capsys, "fit", csv, "--law", "chinchilla", "--y", "loss", "--frontier", "1e21,big")
    assert code == 2 and "--frontier takes numbers" in err and "converged" not in err
    code, _, err = run_main(capsys, "fit", csv, "--law", "chinchilla", "--y", "loss", "--frontier", "1e21,-1")
    assert code == 2 and "--frontier takes positive compute budgets" in err and "converged" not in err
    code, _, err = run_main(capsys, "report", csv, "--law", "chinchilla", "--y", "loss", "--out", tmp_path / "r.pdf")
    assert code == 2 and "a report is .html or .md, got '.pdf'" in err and "converged" not in err
    code, _, err = run_main(capsys, "fit", csv, "--law", "chinchila", "--y", "loss")
    assert code == 2 and "did you mean chinchilla" in err
    # A formula without --x: the error names its symbols that are columns of the file.
    code, _, err = run_main(capsys, "fit", csv, "--law", "E + A/N**alpha", "--y", "loss")
    assert code == 2 and "needs its input columns: x=['N']" in err
    code, _, err = run_main(capsys, "fit", csv, "--law", "chinchilla", "--y", "loss", "--prune", "fast")
    assert code == 2 and "'auto', 'race' or 'none'" in err


def test_prune_race_from_the_command_line(csv, capsys, tmp_path):
    out = tmp_path / "raced.csv"
    code, _, _ = run_main(capsys, "fit", csv, "--law", "chinchilla", "--y", "loss", "--by", "family", "--quiet",
                          "--prune", "race", "--out", out)
    assert code == 0
    api = _lawfit_package.fit(pd.read_csv(csv), "chinchilla", y="loss", by="family", prune="race", progress=False)
    written = pd.read_csv(out)
    assert (written["n_starts"].to_numpy() == api.params["n_starts"].to_numpy()).all()
    np.testing.assert_allclose(written["E"], api.params["E"], rtol=1e-12)


def test_some_laws_failing_exits_1_and_still_writes(csv, tmp_path):
    df = pd.read_csv(csv)
    bad = pd.concat([df, df.head(2).assign(family="tiny")])
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    out = tmp_path / "bad.parquet"
    r = lawfit("fit", path, "--law", "chinchilla", "--y", "loss", "--by", "family", "--out", out)
    assert r.returncode == 1
    assert "warning: 2 converged, 1 BAD_INPUT" in r.stderr
    table = pd.read_parquet(out)
    assert table.set_index("family").loc["tiny", "reason"] == "too few points: 2 for 5 free parameters"


@pytest.mark.slow
def test_report_from_data_and_from_a_saved_table(csv, tmp_path):
    html = tmp_path / "report.html"
    r = lawfit("report", csv, "--law", "chinchilla", "--y", "loss", "--by", "family", "--plots", "fit,params",
               "--out", html)
    assert r.returncode == 0, r.stderr
    text = html.read_text()
    assert "<table" in text and text.count("data:image/png;base64,") == 2
    saved = tmp_path / "fit.parquet"
    assert lawfit("fit", csv, "--law", "chinchilla", "--y", "loss", "--by", "family", "-q",
                  "--out", saved).returncode == 0
    md = tmp_path / "report.md"
    r = lawfit("report", saved, "--out", md)
    assert r.returncode == 0, r.stderr
    text = md.read_text()
    assert "| **law** | chinchilla |" in text and "CONVERGED" in text


def test_report_needs_out(csv, capsys):
    code, _, err = run_main(capsys, "report", csv)
    assert code == 2 and "--out" in err


def test_help_and_the_existing_commands(capsys):
    code, out, _ = run_main(capsys, "--help")
    assert code == 0 and "examples:" in out and "lawfit fit runs.csv" in out
    code, out, _ = run_main(capsys, "fit", "--help")
    assert code == 0 and "--bootstrap" in out and "exit status" in out
    code, out, _ = run_main(capsys, "report", "--help")
    assert code == 0 and "fit.parquet" in out
    code, out, _ = run_main(capsys, "laws", "chinchilla")
    assert code == 0 and "E + A/N**alpha + B/D**beta" in out
    code, out, _ = run_main(capsys, "demo", "--help")
    assert code == 0 and "--scipy-sample" in out
    code, out, err = run_main(capsys, "bench", "--help")
    assert code in (0, 2) and ("bench" in out or "not available" in err)
