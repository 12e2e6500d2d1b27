"""Write docs/api.md from the code itself: every public name, its signature and summary.

Usage::

    python scripts/gen_api_docs.py            # writes docs/api.md
    python scripts/gen_api_docs.py --check    # exit 1 if docs/api.md is out of date

A module's public API is its ``__all__`` where it defines one; otherwise
every public (no leading underscore) function and class defined in the
module and every public module-level constant assigned in it. The summary
of a name is the first paragraph of its docstring (attribute docstrings for
constants and dataclass fields, read from the source). ``tests/test_docs.py``
fails when a public name is missing from docs/api.md: re-run this script.
Imports the modules (TensorFlow included); trains nothing.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import os
import re
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API_MD = os.path.join(ROOT, "docs", "api.md")

MODULES = (
    "representation",
    "layout",
    "midi",
    "meter",
    "data",
    "shards",
    "metrics",
    "pop909",
    "pop_evaluation",
    "config",
    "models",
    "artifact",
    "generation",
    "inference",
    "training",
    "monitoring",
    "accompanist",
    "evaluation",
    "judge",
    "visualization",
    "compat",
    "errors",
)
"""The documented modules of ``deepaccomp`` (``cli`` and ``io_utils`` are internal)."""


# ---------------------------------------------------------------------- discovery
def _module_source_tree(module) -> ast.Module:
    return ast.parse(inspect.getsource(module))


def attribute_docs(tree_body) -> dict:
    """``{name: docstring}`` of assignments followed by a string literal (attribute docstrings)."""
    docs = {}
    for node, nxt in zip(tree_body, list(tree_body[1:]) + [None]):
        targets = []
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        if not targets:
            continue
        if (isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)):
            for t in targets:
                docs[t] = inspect.cleandoc(nxt.value.value)
    return docs


def _assigned_constants(tree: ast.Module) -> list:
    names = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [n for n in names if not n.startswith("_") and n.isupper()]


def public_names(module) -> list:
    """The public API of ``module`` (see the module docstring), in source order."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    tree = _module_source_tree(module)
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            names.append(node.name)
    for name in _assigned_constants(tree):
        if name not in names:
            names.append(name)
    return names


def all_public_names() -> dict:
    """``{module name: [public names]}`` for ``deepaccomp`` itself and every module in MODULES."""
    import deepaccomp

    out = {"deepaccomp": list(deepaccomp.__all__)}
    for name in MODULES:
        out[f"deepaccomp.{name}"] = public_names(importlib.import_module(f"deepaccomp.{name}"))
    return out


# ---------------------------------------------------------------------- formatting
_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):`~?([^`]+)`")


def _clean(text: str) -> str:
    text = _ROLE.sub(r"`\1`", text)
    text = text.replace("``", "`")
    return text


def summary(doc: str | None) -> str:
    """First paragraph of a docstring on one line, reST roles turned into code spans."""
    if not doc:
        return ""
    para = inspect.cleandoc(doc).split("\n\n")[0]
    return _clean(" ".join(line.strip() for line in para.splitlines()))


def _signature(obj) -> str:
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"
    sig = re.sub(r" at 0x[0-9a-f]+", "", sig)
    # annotations are strings under `from __future__ import annotations`: drop their quotes
    sig = re.sub(r"""-> "'([^']*)'"$""", r"-> \1", sig)
    sig = re.sub(r"(: |-> )'([^']*)'", r"\1\2", sig)
    return sig


def _value_repr(value) -> str:
    if isinstance(value, (set, frozenset)):
        value = sorted(value)  # a stable order
    text = re.sub(r"\s+", " ", repr(value))
    text = re.sub(r"<function (<lambda>|[\w.]+) at 0x[0-9a-f]+>", r"\1", text)
    if len(text) > 90:
        text = text[:87] + "..."
    return text


def _doc_of_class_member(cls, name, member) -> str:
    doc = member.__doc__ if not isinstance(member, property) else member.fget.__doc__
    return summary(doc)


def _class_lines(cls, undocumented: list, qualname: str) -> list:
    lines = []
    own = vars(cls)
    # dataclass fields with their attribute docstrings
    if dataclasses.is_dataclass(cls):
        try:
            body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
            field_docs = attribute_docs(body)
        except (OSError, TypeError, IndentationError):
            field_docs = {}
        for f in dataclasses.fields(cls):
            if f.name.startswith("_"):
                continue
            if f.default is not dataclasses.MISSING:
                default = f" = `{_value_repr(f.default)}`"
            elif f.default_factory is not dataclasses.MISSING:
                default = f" = `{f.default_factory.__name__}()`"
            else:
                default = ""
            doc = summary(field_docs.get(f.name))
            lines.append(f"  - field `{f.name}`{default}" + (f": {doc}" if doc else ""))
    for name, member in own.items():
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            kind, sig = "property", ""
        elif isinstance(member, (classmethod, staticmethod)):
            kind, sig = ("classmethod" if isinstance(member, classmethod) else "staticmethod",
                         _signature(getattr(cls, name)))
        elif inspect.isfunction(member):
            kind, sig = "method", _signature(member)
        else:
            continue
        doc = _doc_of_class_member(cls, name, member)
        if not doc:
            undocumented.append(f"{qualname}.{name}")
        label = f"`.{name}{sig}`"
        lines.append(f"  - {label} ({kind})" + (f": {doc}" if doc else ""))
    return lines


def describe(module, name: str, undocumented: list, const_docs: dict) -> list:
    """Markdown list item(s) for ``module.name``."""
    obj = getattr(module, name)
    qual = f"{module.__name__}.{name}"
    home = getattr(obj, "__module__", None)
    elsewhere = (inspect.isclass(obj) or inspect.isfunction(obj)) and home and home != module.__name__
    if elsewhere:
        return [f"- `{name}`: re-exported from `{home}`; see [`{home}.{name}`](#{_anchor(home)})."]
    if inspect.isclass(obj):
        doc = summary(obj.__doc__)
        if not doc:
            undocumented.append(qual)
        if issubclass(obj, BaseException):
            bases = ", ".join(b.__name__ for b in obj.__bases__)
            head = f"- **`{name}`** (exception; bases {bases})"
        else:
            sig = _signature(obj)
            sig = sig[: -len(" -> None")] if sig.endswith(" -> None") else sig
            head = f"- **`{name}{sig}`** (class)"
        return [head + (f": {doc}" if doc else "")] + _class_lines(obj, undocumented, qual)
    if callable(obj):
        doc = summary(obj.__doc__)
        if not doc:
            undocumented.append(qual)
        return [f"- **`{name}{_signature(obj)}`**" + (f": {doc}" if doc else "")]
    # a constant
    doc = summary(const_docs.get(name))
    value = "" if name == "__version__" else f" = `{_value_repr(obj)}`"
    if name == "__version__":
        value = f" = `{obj!r}`"
        doc = doc or "The package version."
    return [f"- `{name}`{value}" + (f": {doc}" if doc else "")]


def _anchor(module_name: str) -> str:
    """GitHub-style anchor of a ``## `module` `` heading."""
    return re.sub(r"[^a-z0-9_\- ]", "", module_name.lower()).replace(" ", "-")


def render() -> tuple[str, list]:
    import deepaccomp

    undocumented: list = []
    out = [
        "# API reference",
        "",
        "<!-- generated by scripts/gen_api_docs.py from the docstrings: do not edit by hand;",
        "     run `python scripts/gen_api_docs.py` after changing a public name. -->",
        "",
        "Every public name of `deepaccomp`, with its signature and the first paragraph of its",
        "docstring. A module's public API is its `__all__` where it defines one, otherwise",
        "every public function, class and UPPER_CASE constant defined in it.",
        "`tests/test_docs.py` fails when a public name is missing here.",
        "The internal modules `deepaccomp.cli` (the `deepaccomp` command, see",
        "[index.md](index.md)) and `deepaccomp.io_utils` (atomic file writes) are not listed.",
        "",
        "Modules: " + ", ".join(f"[`deepaccomp.{m}`](#{_anchor('deepaccomp.' + m)})" for m in MODULES),
        "",
        "## `deepaccomp`",
        "",
        summary(deepaccomp.__doc__),
        "",
        "`deepaccomp.__all__` (TensorFlow is imported only when `Accompanist`, `train` or",
        "`evaluate_generator` is first used):",
        "",
    ]
    for name in deepaccomp.__all__:
        obj = getattr(deepaccomp, name)
        if name == "__version__":
            out.append(f"- `__version__` = `{obj!r}`: the package version.")
            continue
        home = obj.__module__
        out.append(f"- `{name}`: [`{home}.{name}`](#{_anchor(home)}): {summary(obj.__doc__)}")
    out.append("")
    for mod_name in MODULES:
        module = importlib.import_module(f"deepaccomp.{mod_name}")
        tree = _module_source_tree(module)
        const_docs = attribute_docs(tree.body)
        out += [f"## `deepaccomp.{mod_name}`", "", summary(module.__doc__), ""]
        for name in public_names(module):
            out += describe(module, name, undocumented, const_docs)
        out.append("")
    return "\n".join(out).rstrip() + "\n", undocumented


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, ROOT)
    text, undocumented = render()
    if "--check" in argv:
        try:
            with open(API_MD, encoding="utf-8") as fh:
                current = fh.read()
        except FileNotFoundError:
            current = ""
        if current != text:
            print("docs/api.md is out of date: run python scripts/gen_api_docs.py", file=sys.stderr)
            return 1
        return 0
    with open(API_MD, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"wrote {API_MD}")
    if undocumented:
        print("public names without a docstring: " + ", ".join(undocumented), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
