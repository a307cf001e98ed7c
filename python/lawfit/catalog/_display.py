"""Plain-text rendering of one law (in full) and of the catalog (one row per law)."""
from __future__ import annotations

import textwrap

import numpy as np

_WIDTH = 100


def _fmt(v: float) -> str:
    if v == np.inf:
        return "inf"
    if v == -np.inf:
        return "-inf"
    return f"{v:.6g}"


def _fit_line(law) -> str:
    delta = "" if law.loss_delta is None else f" (delta={law.loss_delta:g})"
    return f"{law.loss}{delta} on {law.residual} residuals"


def _block(label: str, lines: list[str]) -> list[str]:
    if not lines:
        return []
    pad = " " * 12
    return [f"  {label:<10}{lines[0]}"] + [pad + line for line in lines[1:]]


def _wrap(text: str) -> list[str]:
    out = []
    for para in text.strip().split("\n"):
        out += textwrap.wrap(para, _WIDTH - 12) or [""]
    return out


def describe_law(law) -> str:
    """Every field of a law, for ``print(laws["chinchilla"])``."""
    title = law.name or "(unnamed law)"
    lines = [f"{title}: {law.output}" if law.output else title]
    if getattr(law, "display", ""):
        lines += _block("formula", _wrap(law.display)
                        + [f"(compiled from a generated formula of {len(law.formula):,} characters, "
                           f"{law.program.code.shape[0]:,} instructions)"])
    else:
        lines += _block("formula", [law.formula])
    width = max([len(n) for n in law.inputs] + [1])
    lines += _block("inputs", [f"{n:<{width}}  {h}".rstrip() for n, h in law.inputs.items()])
    width = max(len(n) for n in law.params)
    mwidth = max(len(m) for m in law.param_help.values())
    grid = {} if callable(law.starts) else law.starts
    rows = []
    for name, meaning in law.param_help.items():
        lo, hi = law.bounds.get(name, (-np.inf, np.inf))
        parts = [f"{name:<{width}}"]
        if mwidth:
            parts.append(f"{meaning:<{mwidth}}")
        parts.append(f"bounds [{_fmt(lo)}, {_fmt(hi)}]")
        if name in law.fixed:
            parts.append(f"fixed = {_fmt(law.fixed[name])}")
        elif name in grid:
            parts.append("starts " + ", ".join(_fmt(float(v)) for v in grid[name]))
        rows.append("  ".join(parts))
    lines += _block("params", rows)
    if callable(law.starts):
        how = (law.starts.__doc__ or "").strip().split("\n")[0]
        lines += _block("starts", [f"grid computed from the data ({how})"])
    lines += _block("natural", [f"{k} = {v}" for k, v in law.natural.items()])
    lines += _block("derived", [f"{k} = {v}" for k, v in law.derived.items()])
    lines += _block("shared", [", ".join(law.shared)] if law.shared else [])
    lines += _block("fit", [_fit_line(law) + " (default)"])
    if getattr(law, "recipe", None) is not None:
        lines += _block("recipe", _wrap(law.recipe.describe()))
    if law.reference:
        lines += _block("reference", _wrap(", ".join(f"{k} = {_fmt(v)}" for k, v in law.reference.items())))
    for label, values in getattr(law, "references", {}).items():
        lines += _block("reference", _wrap(f"{label}: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in values.items())))
    if law.citation is not None:
        lines += _block("source", _wrap(str(law.citation)))
        if law.citation.checked:
            lines += _block("checked", _wrap(law.citation.checked))
    if law.notes:
        lines += _block("notes", _wrap(law.notes))
    return "\n".join(lines)


def catalog_table(laws) -> str:
    """One row per law: name, formula (shortened), inputs, source."""
    header = ("name", "formula", "inputs", "source")
    rows = []
    for name, law in laws.items():
        shown = getattr(law, "display", "") or law.formula
        formula = shown if len(shown) <= 46 else shown[:45] + "…"
        source = law.citation.short() if law.citation is not None else "user law"
        ins = ", ".join(law.inputs)
        if len(ins) > 30:
            ins = ins[:29] + "…"
        rows.append((name, formula, ins, source))
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(3)]

    def fmt(r):
        return "  ".join(f"{c:<{w}}" for c, w in zip(r[:3], widths)) + "  " + r[3]

    lines = [fmt(header), fmt(tuple("-" * w for w in widths) + ("-" * 6,))]
    lines += [fmt(r) for r in rows]
    lines.append(f"{len(rows)} laws; laws['name'] shows one in full.")
    return "\n".join(lines)
