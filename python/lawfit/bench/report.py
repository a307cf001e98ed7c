"""Writing a run down: the Markdown table, the JSON record and the throughput plot."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

from .core import COST_RTOL, PARAM_RTOL, Row


def add_speedups(rows: Sequence[Row]) -> None:
    """Each row's speed-up: the first row of its (benchmark, problem, size) group over this row.

    The first row of a group is lawfit (or, in the GPU section, lawfit on the
    GPU), so a peer's speed-up is lawfit's fits/s over the peer's, same run.
    """
    first = {}
    for r in rows:
        key = (r.benchmark, r.problem, r.size)
        if key not in first:
            first[key] = r
            r.speedup = None
            continue
        base = first[key]
        r.speedup = base.fits_per_s / r.fits_per_s if r.fits_per_s > 0 else math.inf


def _num(v: float) -> str:
    if v is None or not math.isfinite(v):
        return str(v)
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _seconds(r: Row) -> str:
    s = r.seconds
    text = f"{s:.3g}" if s < 100 else f"{s:,.0f}"
    return ("~" + text) if r.extrapolated else text


def _accuracy(r: Row) -> str:
    if r.accuracy_metric.startswith("median LRE"):
        return f"LRE {r.accuracy:.1f}"
    if not math.isfinite(r.accuracy):
        return "none"
    return f"{r.accuracy:.1e}"


def _speedup(r: Row) -> str:
    if r.speedup is None:
        return ""
    return f"{r.speedup:,.0f}x" if r.speedup >= 10 else f"{r.speedup:.2g}x"


COLUMNS = ("benchmark", "problem", "size", "tool", "fits/s", "time (s)", "speed-up", "accuracy", "agree",
           "status", "check")


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def simple_table(rows: Sequence[dict], cols: Sequence[str]) -> str:
    """A Markdown table of dict rows (the stand-alone bench scripts' tables)."""
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(_cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def markdown_table(rows: Sequence[Row]) -> str:
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(["---"] * 3 + ["---"] + ["--:"] * 3 + ["---"] * 4) + "|"]
    for r in rows:
        cells = [r.benchmark, r.problem, r.size, r.tool, _num(r.fits_per_s), _seconds(r), _speedup(r),
                 _accuracy(r), f"{r.agree}/{r.compared}", r.status, "ok" if r.check == "ok" else "**FAIL**"]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def machine_line(info: dict) -> str:
    gpu = info.get("gpu") or "no GPU"
    threads = info.get("lawfit_threads")
    v = info.get("versions", {})
    libs = ", ".join(f"{k} {v[k]}" for k in ("lawfit", "numpy", "scipy", "lmfit") if v.get(k))
    return (f"{info.get('cpu_model', '?')}, {info.get('cores', '?')} cores (lawfit used {threads} threads; "
            f"peers run single-threaded), {gpu}; Python {info.get('python', '?')}, {libs}"
            + (f"; {info['blas']}" if info.get("blas") else ""))


NOTES = f"""\
How to read it:
- Every tool fits the same data from the same starts in the same run. lawfit fits the whole batch;
  a peer is timed on a sample (evenly spread; random over the Approach-3 grid) and `~` marks its
  time extrapolated per fit (per point where laws differ in size). Peers and their BLAS run one
  thread. speed-up: the fits/s of the group's first row (lawfit; in the GPU section lawfit on the
  GPU) over this row's, measured in the same run.
- accuracy: the largest relative parameter difference to the reference (the lowest-cost minimum any
  tool reached, polished by scipy least_squares with tolerances 1e-14), over the compared problems
  where the tool returned parameters; NIST rows give the median LRE (digits) to NIST's certified values.
- agree: problems whose answer matches the reference (every parameter within {PARAM_RTOL:g} relative, or
  cost within {COST_RTOL:g} relative); NIST: fits with LRE >= 6 (parameters) and >= 4 (std. deviations).
- check: FAIL when more than 1% of the compared problems (NIST: 10%) count against the tool: a wrong
  answer returned as converged, or a failure where another tool solved the problem. Speed on a FAIL
  row does not count.
- status: the tool's own convergence report (lawfit: counts of its status codes)."""


def markdown(rows: Sequence[Row], info: dict, cfg, wall: float, skipped, errors) -> str:
    lines = [f"# lawfit bench ({info['scale']}), {info['date']}", "",
             f"Machine: {machine_line(info)}.  ",
             f"Command: `{info['command']}`; seed {info['seed']}; wall time {wall:.0f} s.", "",
             markdown_table(rows), "", NOTES]
    nist = cfg.extra.get("nist_lre")
    if nist:
        tools = list(next(iter(nist.values())))
        lines += ["", "## NIST StRD: LRE of the parameters (start 1 / start 2)", "",
                  "| problem | " + " | ".join(tools) + " |", "|---|" + "---|" * len(tools)]
        for name, per in nist.items():
            cells = [f"{per[t][0]} / {per[t][1]}" if t in per else "" for t in tools]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    a3 = cfg.extra.get("approach3")
    if a3:
        ref, pub = a3["reference"], a3["published"]
        lines += ["", "## Approach 3 on the Epoch data", "",
                  "Reference (polished best of all tools): " + ", ".join(f"{k}={v:.4g}" for k, v in ref.items())
                  + "; published (Besiroglu et al. 2024): " + ", ".join(f"{k}={v:g}" for k, v in pub.items())
                  + f"; data: {a3['data']}."]
    ci = cfg.extra.get("bootstrap_ci95")
    if ci:
        lines += ["", "Bootstrap 95% intervals (lawfit, percentile): "
                  + ", ".join(f"{k} [{lo:.4g}, {hi:.4g}]" for k, (lo, hi) in ci.items()) + "."]
    if skipped:
        lines += ["", "## Skipped", ""] + [f"- {what}: {why}" for what, why in skipped]
    if errors:
        lines += ["", "## Errors", ""] + [f"- {name}: {msg}" for name, msg in errors]
    return "\n".join(lines) + "\n"


def write_json(path: Path, rows, info, cfg, wall, skipped, errors) -> None:
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if hasattr(v, "item"):  # numpy scalar
            return clean(v.item())
        return v

    record = {"info": info, "wall_seconds": wall, "rows": [r.as_dict() for r in rows],
              "skipped": [{"what": w, "why": y} for w, y in skipped],
              "errors": [{"benchmark": n, "error": m} for n, m in errors], "details": cfg.extra}
    path.write_text(json.dumps(clean(record), indent=1))


def plot(path: Path, rows: Sequence[Row], info: dict) -> bool:
    """Throughput vs batch size per tool (Chinchilla ladders); False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels = [("chinchilla_laws", "laws in the batch (40 points each)", lambda r: r.n_fits),
              ("chinchilla_points", "points per law", lambda r: r.points)]
    gpu_rows = [r for r in rows if r.benchmark == "gpu" and r.problem == "Chinchilla 5p"]
    panels = [p for p in panels if any(r.benchmark == p[0] for r in rows)]
    if gpu_rows:
        panels.insert(1, ("gpu", "laws in the batch (50 points each)", lambda r: r.n_fits))
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 5.4), squeeze=False)
    styles = {"lawfit": ("C0", "o", "-"), "scipy curve_fit lm": ("C1", "s", "--"),
              "scipy curve_fit trf": ("C2", "^", "--"), "lmfit leastsq": ("C3", "D", "--"),
              "lawfit cuda": ("C4", "o", "-"), "lawfit cpu": ("C0", "o", ":")}
    handles = {}
    for ax, (bench, xlabel, xof) in zip(axes[0], panels):
        sel = [r for r in rows if r.benchmark == bench and (bench != "gpu" or r.problem == "Chinchilla 5p")]
        for tool in dict.fromkeys(r.tool for r in sel):
            pts = sorted((xof(r), r.fits_per_s, r.check) for r in sel if r.tool == tool)
            color, marker, ls = styles.get(tool, (None, "o", "-"))
            sampled = any(r.extrapolated for r in sel if r.tool == tool)
            label = tool + (" (timed on a sample)" if sampled and tool != "lawfit cpu" else "")
            (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, linestyle=ls, color=color,
                              linewidth=2, markersize=6)
            handles.setdefault(label, line)
            bad = [p for p in pts if p[2] != "ok"]
            if bad:
                (cross,) = ax.plot([p[0] for p in bad], [p[1] for p in bad], "x", color="red", markersize=13, mew=2.5)
                handles.setdefault("accuracy check FAIL", cross)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel, fontsize=11)
        ax.set_ylabel("fits per second (higher is better)", fontsize=11)
        title = {"chinchilla_laws": "Chinchilla laws: throughput vs batch size",
                 "chinchilla_points": "Chinchilla laws: throughput vs points per law",
                 "gpu": "GPU vs CPU back end"}[bench]
        ax.set_title(title, fontsize=12)
        ax.grid(True, which="major", alpha=0.4)
        ax.grid(True, which="minor", alpha=0.15)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(3, len(handles)), fontsize=10,
               frameon=False)
    threads = info.get("lawfit_threads")
    fig.suptitle(f"lawfit bench ({info['scale']}) on {info.get('cpu_model', '?')}, {info.get('cores', '?')} cores"
                 + (f", {info['gpu']}" if info.get("gpu") else "")
                 + f"; lawfit on {threads} threads, peers single-threaded", fontsize=12)
    fig.tight_layout(rect=(0, 0.07 * (1 + (len(handles) - 1) // 3), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
