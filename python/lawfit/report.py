"""Reports of a fit: a self-contained HTML page (tables and plots embedded as base64
PNGs, no external files) or Markdown (plots written beside it in ``<name>_files/``).

Sections: what was fitted (law, formula, citation, columns, loss, intervals,
status summary), the parameters with their intervals, per-group fit quality
and status, the law's scalar derived quantities, the compute-optimal frontier
for laws that define one, and the plots of :mod:`lawfit.plot`.

A saved table (``FitResult.to_parquet``) can be rendered without the data
(:func:`write_table_report`; ``lawfit report results.parquet``): tables only.
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

__all__ = ["write_report", "write_table_report", "read_results"]

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1150px;
color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:1.8em}
table{border-collapse:collapse;font-size:.82em;margin:.6em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td.l,th.l{text-align:left}
code{background:#f4f4f4;padding:1px 4px;border-radius:3px}
.meta td{text-align:left;white-space:normal}.bad{color:#b00}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}.muted{color:#777;font-size:.85em}
"""

_FRONTIER_C = [1e20, 1e21, 1e22, 1e23, 1e24, 1e25]


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return "–"
        return f"{v:.4g}"
    return str(v)


def _interval(est, lo, hi) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return _fmt(est)
    return f"{_fmt(est)} [{_fmt(lo)}, {_fmt(hi)}]"


# --------------------------------------------------------------------------
# Tables as (header, rows) -> HTML or Markdown


def _html_table(header: Sequence[str], rows: Sequence[Sequence], left: int = 0) -> str:
    def cell(tag, v, i):
        cls = ' class="l"' if i < left else ""
        return f"<{tag}{cls}>{html.escape(str(v))}</{tag}>"

    head = "".join(cell("th", h, i) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", v, i) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _md_table(header: Sequence[str], rows: Sequence[Sequence], left: int = 0) -> str:
    def esc(v):
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |",
             "|" + "|".join(":---" if i < left else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(esc(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def _frame_rows(df, left_cols: Sequence[str]):
    header = list(df.columns)
    rows = [[_fmt(v) for v in r] for r in df.itertuples(index=False, name=None)]
    return header, rows, len([c for c in header if c in left_cols])


# --------------------------------------------------------------------------
# The sections of a FitResult


def _sections(result, level_note: bool = True):
    """[(title, kind, payload)]: kind 'meta' (list of (key, value)), 'table' (header, rows, left), 'text'."""
    law = result.law
    st = result.settings
    keys = list(result.by)
    meta = [("law", law.name or "(formula)"), ("formula", law.formula)]
    if law.citation:
        meta.append(("source", str(law.citation)))
    meta.append(("inputs", ", ".join(f"{i} = {c}" if i != c else i for i, c in zip(result.inputs, result.x))))
    meta.append(("y", result.y))
    if keys:
        meta.append(("groups", f"{result.n_groups:,} (by {', '.join(keys)})"))
    loss = st.get("loss", "l2")
    obj = loss if loss == "l2" else f"{loss} (delta = {st.get('delta'):g})"
    meta.append(("objective", f"{obj} on {st.get('residual', 'linear')} residuals"))
    if result.sigma:
        meta.append(("sigma", str(result.sigma)))
    if result.shared:
        meta.append(("shared parameters", ", ".join(result.shared)))
    if result.n_resamples:
        how = f"bootstrap, {result.n_resamples:,} resamples per law ({result.ci})"
        if st.get("bootstrap_by"):
            how += f", resampling whole {st['bootstrap_by']}"
    else:
        how = "covariance (curve_fit's for least squares, sandwich for robust losses)"
    meta.append(("intervals", f"{100 * result.level:g}% from the {how}"))
    meta.append(("status", result.summary))
    if st.get("n_dropped"):
        meta.append(("dropped rows", f"{st['n_dropped']:,} with missing values (nan_policy='omit')"))
    out = [("What was fitted", "meta", meta)]

    p = result.params
    labels = result.group_labels()
    header = (["group"] if keys else []) + [f"{n}" for n in result.param_names]
    est, lo, hi = result.estimates, result.low, result.high
    rows = []
    for g in range(result.n_groups):
        row = [labels[g]] if keys else []
        for j in range(len(result.param_names)):
            row.append(_interval(est[g, j], lo[g, j], hi[g, j]))
        rows.append(row)
    out.append((f"Parameters (estimate [{100 * result.level:g}% interval])", "table", (header, rows, 1 if keys else 0)))

    cols = ["n_points", "r2", "aic", "bic", "cost", "basin_count", "n_starts", "status", "identified", "reason"]
    q = p[keys + cols].copy() if keys else p[cols].copy()
    if keys:
        q.insert(0, "group", labels)
        q = q.drop(columns=keys)
    h, r, left = _frame_rows(q, ["group", "status", "reason"])
    out.append(("Fit quality and status", "table", (h, r, 1 if keys else 0)))

    scalars = [n for n, ins in result.derived_inputs.items() if not ins]
    if scalars:
        header = (["group"] if keys else []) + scalars
        vals = {n: result.derived(n) for n in scalars}
        rows = []
        for g in range(result.n_groups):
            row = [labels[g]] if keys else []
            for n in scalars:
                d = vals[n]
                row.append(_interval(d[n].iloc[g], d[f"{n}_low"].iloc[g], d[f"{n}_high"].iloc[g]))
            rows.append(row)
        out.append(("Derived quantities", "table", (header, rows, 1 if keys else 0)))

    if result.has_frontier:
        fr = result.frontier(C=_FRONTIER_C)
        header = (["group"] if keys else []) + ["C (FLOP)", "N_opt", "D_opt"] + \
            (["L_opt"] if "L_opt" in fr else [])
        rows = []
        for i in range(len(fr)):
            g = i // len(_FRONTIER_C)
            row = [labels[g]] if keys else []
            row.append(f"{fr['C'].iloc[i]:.0e}")
            for n in header[(2 if keys else 1):]:
                row.append(_interval(fr[n].iloc[i], fr[f"{n}_low"].iloc[i], fr[f"{n}_high"].iloc[i]))
            rows.append(row)
        out.append(("Compute-optimal frontier", "table", (header, rows, 2 if keys else 1)))
    return out


def _figures(result, kinds: Sequence[str], dpi: int):
    """[(kind, caption, png bytes or an error text)]."""
    from .plot import figure_png

    captions = {
        "fit": "Data and fitted laws; dashed: extrapolation; band: interval of the fitted curve.",
        "frontier": "IsoFLOP curves of the fitted law and the compute-optimal frontier.",
        "params": "Parameter distributions with the estimate (solid) and interval (dashed).",
        "residuals": "Residuals in the fitted space.",
    }
    out = []
    for kind in kinds:
        if kind == "frontier" and not (result.has_frontier and {"N", "D"} <= set(result.inputs)):
            continue
        try:
            fig = result.plot(kind)
            out.append((kind, captions.get(kind, kind), figure_png(fig, dpi=dpi)))
        except ImportError as exc:
            out.append((kind, captions.get(kind, kind), f"(plot not drawn: {exc})"))
        except Exception as exc:  # a plot must not stop the report
            out.append((kind, captions.get(kind, kind), f"(plot not drawn: {type(exc).__name__}: {exc})"))
    return out


def _stamp() -> str:
    from . import __version__

    return f"lawfit {__version__}, {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}"


def _render_html(title: str, sections, figures) -> str:
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
             f"<p class='muted'>{html.escape(_stamp())}</p>"]
    for name, kind, payload in sections:
        parts.append(f"<h2>{html.escape(name)}</h2>")
        if kind == "meta":
            rows = "".join(f"<tr><th class='l'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                           for k, v in payload)
            parts.append(f"<table class='meta'>{rows}</table>")
        elif kind == "table":
            parts.append(_html_table(*payload))
        else:
            parts.append(f"<p>{html.escape(str(payload))}</p>")
    if figures:
        parts.append("<h2>Plots</h2>")
        for kind, caption, png in figures:
            if isinstance(png, bytes):
                b64 = base64.b64encode(png).decode("ascii")
                parts.append(f"<figure><img alt='{kind}' src='data:image/png;base64,{b64}'>"
                             f"<figcaption class='muted'>{html.escape(caption)}</figcaption></figure>")
            else:
                parts.append(f"<p class='muted'>{html.escape(png)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _render_md(title: str, sections, figures, path: Path) -> str:
    lines = [f"# {title}", "", f"_{_stamp()}_", ""]
    for name, kind, payload in sections:
        lines += [f"## {name}", ""]
        if kind == "meta":
            lines.append(_md_table(["", ""], [(f"**{k}**", v) for k, v in payload], left=2))
        elif kind == "table":
            lines.append(_md_table(*payload))
        else:
            lines.append(str(payload))
        lines.append("")
    if figures:
        lines += ["## Plots", ""]
        folder = path.with_name(path.stem + "_files")
        for kind, caption, png in figures:
            if isinstance(png, bytes):
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{kind}.png").write_bytes(png)
                lines += [f"![{kind}]({folder.name}/{kind}.png)", "", f"_{caption}_", ""]
            else:
                lines += [png, ""]
    return "\n".join(lines)


def write_report(result, path, *, title: Optional[str] = None,
                 plots: Sequence[str] = ("fit", "frontier", "params", "residuals"), dpi: int = 100) -> Path:
    """Write a report of ``result`` to ``path`` (``.html``/``.htm`` or ``.md``).

    The HTML page is self-contained: the plots are embedded PNGs
    (``<img src="data:image/png;base64,...">``).  Markdown writes the PNGs into
    ``<stem>_files/`` beside it.  ``plots=()`` leaves the plots out (no
    matplotlib needed).  Returns the path written.
    """
    path = Path(path)
    fmt = path.suffix.lower()
    if fmt not in (".html", ".htm", ".md", ".markdown"):
        raise ValueError(f"report format from the file name: .html or .md, got {path.name!r}")
    title = title or f"lawfit: {result.law.name or result.law.formula}" + (
        f" by {', '.join(result.by)}" if result.by else "")
    sections = _sections(result)
    figures = _figures(result, plots, dpi) if plots else []
    text = _render_html(title, sections, figures) if fmt in (".html", ".htm") else \
        _render_md(title, sections, figures, path)
    path.write_text(text, encoding="utf-8")
    return path


def read_results(path):
    """A table written by ``FitResult.to_parquet`` (or CSV): (DataFrame, metadata dict or {})."""
    from .result import _pd

    pd = _pd()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        raw = (table.schema.metadata or {}).get(b"lawfit")
        return table.to_pandas(), (json.loads(raw) if raw else {})
    return pd.read_csv(path), {}


def write_table_report(params, meta: dict, path, *, title: Optional[str] = None) -> Path:
    """A report of a saved parameter table (no data, so no plots): ``.html`` or ``.md``."""
    path = Path(path)
    fmt = path.suffix.lower()
    if fmt not in (".html", ".htm", ".md", ".markdown"):
        raise ValueError(f"report format from the file name: .html or .md, got {path.name!r}")
    info = [(k, meta[k]) for k in ("law", "formula", "citation", "x", "y", "by", "shared", "summary")
            if meta.get(k) not in (None, "", [])]
    info = [(k, ", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in info]
    for k, v in (meta.get("settings") or {}).items():
        if v not in (None, ""):
            info.append((k, v))
    sections = [("What was fitted", "meta", info or [("source", "a table without lawfit metadata")])]
    h, r, _ = _frame_rows(params, [])
    by = meta.get("by") or []
    sections.append(("Parameters and status", "table", (h, r, len(by))))
    title = title or f"lawfit: {meta.get('law') or meta.get('formula') or 'results'}"
    text = _render_html(title, sections, []) if fmt in (".html", ".htm") else _render_md(title, sections, [], path)
    path.write_text(text, encoding="utf-8")
    return path
