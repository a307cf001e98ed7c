"""The type stub of the compiled module, generated from the module itself.

``python -m lawfit.engine.stubgen`` imports :mod:`lawfit._core` and writes
``python/lawfit/_core.pyi``: the constants with their types, every enum with
all its members, the bound classes with their typed attributes and methods,
and every function with the signature pybind11 writes on the first line(s) of
its docstring (``name(arg: type = default, ...) -> type``).  pybind11's type
names are turned into the ones a type checker reads: numpy arrays into
``npt.NDArray[np.<dtype>]``, ``typing.SupportsInt | typing.SupportsIndex``
into ``int``, ``X | None`` into ``Optional[X]``, the module's own classes
into their bare names.

``--check`` writes nothing: it exits with status 1 and prints a diff when the
checked-in stub differs from what the built module gives
(``tests/engine/test_stub.py`` runs it, so a binding change without a regenerated
stub fails the tests).
"""
from __future__ import annotations

import argparse
import ast
import difflib
import enum
import inspect
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["generate", "stub_path", "main"]

MODULE = "lawfit._core"
LINE = 110  # longer signatures are written one parameter per line


def stub_path() -> Path:
    """Where the checked-in stub lives: next to the module, in the package."""
    return Path(__file__).resolve().parent.parent / "_core.pyi"


# --------------------------------------------------------------------------
# pybind11 type names -> stub type names


@dataclass
class _Imports:
    """What the rendered types need imported."""

    typing: set[str] = field(default_factory=set)  # names from typing
    abc: set[str] = field(default_factory=set)  # names from collections.abc
    extensions: set[str] = field(default_factory=set)  # names from typing_extensions
    numpy: bool = False
    npt: bool = False
    enum: bool = False


_TOKEN = re.compile(r"\s*(?:(?P<str>'[^']*'|\"[^\"]*\")|(?P<name>\.\.\.|[A-Za-z_][\w.]*|-?\d[\w.+-]*)"
                    r"|(?P<op>[\[\],|]))")


@dataclass
class _Type:
    """A parsed type expression: a name with arguments, a union, a bracketed list, or a literal."""

    kind: str  # 'name', 'union', 'list', 'literal'
    name: str = ""
    args: list[_Type] = field(default_factory=list)


class _TypeParser:
    def __init__(self, text: str):
        self.tokens = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ValueError(f"cannot read the type {text!r} at {text[pos:]!r}")
            self.tokens.append(m.group("str") or m.group("name") or m.group("op"))
            pos = m.end()
        self.i = 0

    def parse(self) -> _Type:
        t = self._union()
        if self.i != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.i]!r} in a type")
        return t

    def _peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> str:
        tok = self._peek()
        if tok is None or (expected is not None and tok != expected):
            raise ValueError(f"expected {expected or 'more'} in a type, got {tok!r}")
        self.i += 1
        return tok

    def _union(self) -> _Type:
        terms = [self._term()]
        while self._peek() == "|":
            self._take("|")
            terms.append(self._term())
        return terms[0] if len(terms) == 1 else _Type("union", args=terms)

    def _list(self, close: str) -> list[_Type]:
        items = []
        if self._peek() != close:
            items.append(self._union())
            while self._peek() == ",":
                self._take(",")
                items.append(self._union())
        self._take(close)
        return items

    def _term(self) -> _Type:
        tok = self._take()
        if tok == "[":
            return _Type("list", args=self._list("]"))
        if tok[0] in "'\"" or tok[0].isdigit() or tok[0] == "-":
            return _Type("literal", name=tok)
        node = _Type("name", name=tok)
        if self._peek() == "[":
            self._take("[")
            node.args = self._list("]")
        return node


_NUMBER_PROTOCOLS = {
    frozenset({"typing.SupportsInt", "typing.SupportsIndex"}): "int",
    frozenset({"typing.SupportsFloat", "typing.SupportsIndex"}): "float",
    frozenset({"typing.SupportsComplex", "typing.SupportsFloat", "typing.SupportsIndex"}): "complex",
}
_SINGLE_NAMES = {
    "typing.SupportsInt": "int", "typing.SupportsIndex": "int", "typing.SupportsFloat": "float",
    "typing.SupportsComplex": "complex", "capsule": "CapsuleType",
}
_BARE_GENERICS = {"dict": "dict[str, Any]", "tuple": "tuple[Any, ...]", "list": "list[Any]",
                  "Callable": "Callable[..., Any]"}
# numpy scalar types under names every numpy (1.x and 2.x) has.
_NUMPY_NAMES = {"numpy.bool": "numpy.bool_"}


class _Renderer:
    def __init__(self, module_name: str, imports: _Imports):
        self.prefix = module_name + "."
        self.imports = imports

    def type(self, text: str) -> str:
        return self._render(_TypeParser(text).parse())

    def _render(self, t: _Type) -> str:
        if t.kind == "literal":
            return t.name
        if t.kind == "list":
            return "[" + ", ".join(self._render(a) for a in t.args) + "]"
        if t.kind == "union":
            return self._union(t.args)
        return self._name(t)

    def _union(self, terms: list[_Type]) -> str:
        plain = {a.name for a in terms if a.kind == "name" and not a.args}
        for protocols, number in _NUMBER_PROTOCOLS.items():
            if protocols <= plain:  # int-like or float-like protocols: the number type
                terms = [a for a in terms if not (a.kind == "name" and a.name in protocols)]
                terms.insert(0, _Type("name", name=number))
        rendered: list[str] = []
        for a in terms:
            r = self._render(a)
            if r not in rendered:
                rendered.append(r)
        if "None" in rendered and len(rendered) > 1:
            rendered.remove("None")
            self.imports.typing.add("Optional")
            return f"Optional[{' | '.join(rendered)}]"
        return " | ".join(rendered)

    def _name(self, t: _Type) -> str:
        name, args = t.name, t.args
        if name == "typing.Annotated" and args:
            base = args[0]
            if base.kind == "name" and base.name == "numpy.typing.ArrayLike" and len(args) > 1:
                return self._array(args[1])
            return self._render(base)
        if name in ("numpy.typing.NDArray", "numpy.ndarray"):
            return self._array(args[0] if args else None)
        if name == "numpy.typing.ArrayLike":
            self.imports.npt = True
            return "npt.ArrayLike"
        if name in _SINGLE_NAMES and not args:
            name = _SINGLE_NAMES[name]
        name = _NUMPY_NAMES.get(name, name)
        if name.startswith(self.prefix):
            name = name[len(self.prefix):]
        elif name.startswith("numpy."):
            self.imports.numpy = True
            name = "np." + name[len("numpy."):]
        elif name.startswith("collections.abc."):
            name = name[len("collections.abc."):]
            self.imports.abc.add(name)
        elif name.startswith("typing."):
            name = name[len("typing."):]
            self.imports.typing.add(name)
        elif name in ("typing_extensions.CapsuleType", "types.CapsuleType", "CapsuleType"):
            name = "CapsuleType"
        if name == "CapsuleType":
            self.imports.extensions.add("CapsuleType")
        if not args:
            if name in _BARE_GENERICS:
                self.imports.typing.add("Any")
                return _BARE_GENERICS[name]
            return name
        return f"{name}[{', '.join(self._render(a) for a in args)}]"

    def _array(self, dtype: _Type | None) -> str:
        self.imports.npt = True
        if dtype is None:
            self.imports.typing.add("Any")
            return "npt.NDArray[Any]"
        return f"npt.NDArray[{self._render(dtype)}]"


# --------------------------------------------------------------------------
# pybind11 docstrings -> signatures


def _scan(text: str, start: int = 0):
    """(index, character, bracket depth after it) for characters outside quotes."""
    depth, quote = 0, ""
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
            continue
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        yield i, ch, depth


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Splits at `sep` outside brackets and quotes."""
    parts, start = [], 0
    for i, ch, depth in _scan(text):
        if ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    tail = text[start:]
    if tail.strip():
        parts.append(tail)
    return [p.strip() for p in parts]


def _closing_paren(text: str, open_at: int) -> int:
    for i, ch, depth in _scan(text, open_at):
        if ch in "])" and depth == 0:
            return i
    raise ValueError(f"unbalanced parentheses in {text!r}")


@dataclass
class _Signature:
    params: list[str]  # rendered parameters
    returns: str
    doc: str


def _default(text: str) -> str:
    """A default kept when it is a plain literal (number, string, bool, None), else ``...``."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return "..."
    if isinstance(value, str) and not any(c in value for c in "\"'\\\n"):
        return f'"{value}"'
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    return "..."


def _signature(line: str, name: str, render: _Renderer, method: bool) -> _Signature:
    """One pybind11 signature line ``name(params) -> returns``."""
    line = line.strip()
    if not line.startswith(name + "("):
        raise ValueError(f"{name}: no signature line in its docstring ({line!r})")
    close = _closing_paren(line, len(name))
    params_text, rest = line[len(name) + 1:close], line[close + 1:].strip()
    returns = render.type(rest[2:].strip()) if rest.startswith("->") else "None"
    params = []
    for k, raw in enumerate(_split_top(params_text)):
        if raw in ("*", "/") or raw.startswith("*"):
            star, _, annotation = raw.partition(":")
            params.append(star.strip() + (f": {render.type(annotation)}" if annotation.strip() else ""))
            continue
        head, eq, default = raw.partition("=")
        pname, colon, annotation = head.partition(":")
        pname = pname.strip()
        if method and k == 0:  # self (pybind11 writes self: Class, or arg0 for lambdas)
            params.append("self")
            continue
        text = pname + (f": {render.type(annotation)}" if colon else "")
        if eq:
            text += f" = {_default(default.strip())}"
        params.append(text)
    return _Signature(params, returns, "")


def _signatures(obj, name: str, render: _Renderer, method: bool = False) -> list[_Signature]:
    """Every signature pybind11 wrote in ``obj``'s docstring (several for overloads), with its text."""
    doc = inspect.cleandoc(obj.__doc__ or "")
    lines = doc.splitlines()
    if len(lines) > 1 and lines[1].strip() == "Overloaded function.":
        chunks = re.split(rf"^\d+\. (?={re.escape(name)}\()", doc, flags=re.M)[1:]
    else:
        chunks = [doc]
    out = []
    for chunk in chunks:
        first, _, rest = chunk.partition("\n")
        sig = _signature(first, name, render, method)
        sig.doc = textwrap.dedent(rest).strip()
        out.append(sig)
    return out


# --------------------------------------------------------------------------
# Writing the stub


def _docstring(text: str, indent: str) -> list[str]:
    text = inspect.cleandoc(text or "").replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if not text:
        return []
    lines = text.splitlines()
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    return [f'{indent}"""{lines[0]}', *[(indent + ln) if ln else "" for ln in lines[1:]], f'{indent}"""']


def _def(name: str, sig: _Signature, indent: str, overload: bool) -> list[str]:
    out = [f"{indent}@overload"] if overload else []
    one_line = f"{indent}def {name}({', '.join(sig.params)}) -> {sig.returns}:"
    if len(one_line) <= LINE:
        out.append(one_line)
    else:
        out.append(f"{indent}def {name}(")
        out += [f"{indent}    {p}," for p in sig.params]
        out.append(f"{indent}) -> {sig.returns}:")
    body = _docstring(sig.doc, indent + "    ")
    if body:
        out += body
    else:
        out[-1] += " ..."
    return out


def _functions(obj, name: str, render: _Renderer, indent: str, method: bool) -> list[str]:
    sigs = _signatures(obj, name, render, method)
    if len(sigs) > 1:
        render.imports.typing.add("overload")
    out: list[str] = []
    for sig in sigs:
        out += _def(name, sig, indent, len(sigs) > 1)
    return out


def _is_enum(obj) -> bool:
    return isinstance(obj, type) and issubclass(obj, enum.Enum)


def _enum(cls, render: _Renderer) -> list[str]:
    render.imports.enum = True
    base = "enum.IntEnum" if issubclass(cls, int) else "enum.Enum"
    out = [f"class {cls.__name__}({base}):"]
    out += _docstring(cls.__doc__ or "", "    ")
    for name, member in cls.__members__.items():
        out.append(f"    {name} = {member.value!r}")
    return out


def _property_type(prop, cls_name: str, name: str, render: _Renderer) -> str:
    first = inspect.cleandoc(prop.fget.__doc__ or "").splitlines()
    head = first[0] if first else ""
    if "->" not in head:
        raise ValueError(f"{cls_name}.{name}: its getter has no signature")
    return render.type(head.rpartition("->")[2])


# Special methods a bound class may define that belong in its stub (private
# names, such as pybind11's _pybind11_conduit_v1_, do not).
_SPECIAL_METHODS = {"__init__", "__call__", "__repr__", "__len__", "__iter__", "__getitem__", "__setitem__",
                    "__contains__", "__eq__", "__ne__", "__hash__", "__getstate__", "__setstate__"}


def _class(cls, render: _Renderer) -> list[str]:
    out = [f"class {cls.__name__}:"]
    out += _docstring(cls.__doc__ or "", "    ")
    members = []
    for name, value in vars(cls).items():
        if isinstance(value, property):
            kind = _property_type(value, cls.__name__, name, render)
            doc = value.__doc__ if value.__doc__ != value.fget.__doc__ else ""  # the getter's: no doc of its own
            members += [f"    #: {ln}" for ln in inspect.cleandoc(doc or "").splitlines()]
            if value.fset is None:
                members += ["    @property", f"    def {name}(self) -> {kind}: ..."]
            else:
                members.append(f"    {name}: {kind}")
        elif callable(value) and (not name.startswith("_") or name in _SPECIAL_METHODS):
            members += _functions(value, name, render, "    ", method=True)
    return out + (members or ["    ..."])


def generate(module=None) -> str:
    """The stub text for ``module`` (default: the built lawfit._core)."""
    if module is None:
        from .. import _core as module
    render = _Renderer(module.__name__, _Imports())
    constants, enums, classes, functions = [], [], [], []
    for name in sorted(vars(module)):
        if name.startswith("__"):
            continue
        obj = getattr(module, name)
        if _is_enum(obj):
            enums.append(_enum(obj, render))
        elif isinstance(obj, type):
            classes.append(_class(obj, render))
        elif isinstance(obj, (bool, int, float, str)):
            constants.append(f"{name}: {type(obj).__name__}")
        elif callable(obj):
            functions.append(_functions(obj, name, render, "", method=False))
    im = render.imports
    header = [f'"""Type stubs for {module.__name__} (written by python -m lawfit.engine.stubgen: do not edit).',
              ""]
    header += inspect.cleandoc(module.__doc__ or "").splitlines() + ['"""']
    imports = []
    if im.enum:
        imports.append("import enum")
    if im.abc:
        imports.append(f"from collections.abc import {', '.join(sorted(im.abc))}")
    if im.typing:
        imports.append(f"from typing import {', '.join(sorted(im.typing))}")
    third = []
    if im.numpy:
        third.append("import numpy as np")
    if im.npt:
        third.append("import numpy.typing as npt")
    if im.extensions:
        third.append(f"from typing_extensions import {', '.join(sorted(im.extensions))}")
    text: list[str] = []
    for block in [header, imports, third, constants, *enums, *classes, *functions]:
        if block:
            text += ([""] if text else []) + block
    return "\n".join(text) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lawfit.engine.stubgen", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 with a diff when the stub differs from the built module's")
    parser.add_argument("--output", type=Path, default=None, help=f"the stub file (default: {stub_path()})")
    args = parser.parse_args(argv)
    path = args.output or stub_path()
    text = generate()
    if args.check:
        current = path.read_text() if path.is_file() else ""
        if current == text:
            print(f"{path}: up to date")
            return 0
        sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), text.splitlines(True),
                                                   f"{path} (checked in)", f"{path} (from {MODULE})"))
        print(f"\n{path} differs from the built module: run python -m lawfit.engine.stubgen", file=sys.stderr)
        return 1
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
