"""The documentation stays true: links resolve, and docs/api.md lists every public name.

* Every relative link (and image) in README.md and docs/*.md points to a file
  that exists in the repository; a ``#anchor`` must match a heading of the
  target page (GitHub's heading ids). Links are relative: no absolute local
  paths. Web links (http, https, mailto) are not fetched.
* docs/api.md mentions every public name of ``deepaccomp`` and of each module
  documented by scripts/gen_api_docs.py, in that module's section: a new public
  function without docs fails here (re-run ``python scripts/gen_api_docs.py``).
"""

from __future__ import annotations

import glob
import importlib
import importlib.util
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")

LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
FENCE = re.compile(r"^\s*(```|~~~)")
EXTERNAL = ("http://", "https://", "mailto:", "ftp://")


def markdown_files() -> list:
    files = sorted(glob.glob(os.path.join(DOCS, "*.md")))
    readme = os.path.join(ROOT, "README.md")
    if os.path.exists(readme):
        files.insert(0, readme)
    return files


def _strip_code(text: str) -> str:
    """Text without fenced code blocks and inline code spans (links there are not links)."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            out.append("")
            continue
        out.append("" if fenced else re.sub(r"`+[^`]*`+", "", line))
    return "\n".join(out)


def links_of(path: str) -> list:
    with open(path, encoding="utf-8") as fh:
        text = _strip_code(fh.read())
    return LINK.findall(text) + REF_LINK.findall(text)


def github_slug(heading: str) -> str:
    """The id GitHub gives a Markdown heading (before de-duplication)."""
    text = re.sub(r"`", "", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors_of(path: str) -> set:
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    seen: dict = {}
    anchors = set()
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        m = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fenced or not m:
            continue
        slug = github_slug(m.group(1))
        n = seen.get(slug, 0)
        anchors.add(slug if n == 0 else f"{slug}-{n}")
        seen[slug] = n + 1
    anchors |= set(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", text))
    return anchors


def test_there_are_docs():
    names = {os.path.basename(p) for p in markdown_files()}
    for page in ("index.md", "representation.md", "architecture.md", "training.md",
                 "comparison.md", "api.md", "monitoring.md", "metrics.md"):
        assert page in names, f"docs/{page} is missing"


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_relative_links_resolve(page):
    problems = []
    for target in links_of(page):
        if target.startswith(EXTERNAL):
            continue
        if target.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", target) or target.startswith("file:"):
            problems.append(f"{target}: an absolute path; use a relative link")
            continue
        file_part, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(page), file_part)) if file_part else page
        if not os.path.exists(dest):
            problems.append(f"{target}: {os.path.relpath(dest, ROOT)} does not exist")
            continue
        if not os.path.abspath(dest).startswith(ROOT + os.sep):
            problems.append(f"{target}: points outside the repository")
            continue
        if anchor and dest.endswith(".md") and anchor not in anchors_of(dest):
            problems.append(f"{target}: no heading #{anchor} in {os.path.relpath(dest, ROOT)}")
    assert not problems, f"{os.path.relpath(page, ROOT)}:\n  " + "\n  ".join(problems)


def _gen_api_docs():
    path = os.path.join(ROOT, "scripts", "gen_api_docs.py")
    spec = importlib.util.spec_from_file_location("gen_api_docs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _api_sections() -> dict:
    """``{module name: section text}`` of docs/api.md, split at its ``## `module` `` headings."""
    with open(os.path.join(DOCS, "api.md"), encoding="utf-8") as fh:
        text = fh.read()
    sections = {}
    parts = re.split(r"^## `([\w.]+)`\s*$", text, flags=re.M)
    for name, body in zip(parts[1::2], parts[2::2]):
        sections[name] = body
    return sections


def test_api_md_lists_every_public_name():
    gen = _gen_api_docs()
    sections = _api_sections()
    missing = []
    for module, names in gen.all_public_names().items():
        body = sections.get(module)
        if body is None:
            missing.append(f"{module}: no section")
            continue
        for name in names:
            if not re.search(r"`" + re.escape(name) + r"[`(]", body):
                missing.append(f"{module}.{name}")
    assert not missing, ("docs/api.md does not document: " + ", ".join(missing)
                         + "; run `python scripts/gen_api_docs.py`")


def test_public_names_detects_an_undocumented_function(tmp_path, monkeypatch):
    """The check above really sees new public functions of a module without ``__all__``."""
    gen = _gen_api_docs()
    mod = tmp_path / "fake_docs_module.py"
    mod.write_text('"""A module."""\n\nLIMIT = 3\n"""A limit."""\n\n\ndef shiny(x):\n    return x\n\n\n'
                   "def _hidden():\n    pass\n\n\nclass Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("fake_docs_module")
    assert gen.public_names(module) == ["shiny", "Thing", "LIMIT"]


@pytest.mark.slow
def test_every_public_function_class_and_method_has_a_docstring():
    _, undocumented = _gen_api_docs().render()
    assert not undocumented, "public names without a docstring: " + ", ".join(undocumented)


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_tables_are_whole(page):
    """Every Markdown table row belongs to a table: it follows a row, or starts a table (header + ``|---|``)."""
    with open(page, encoding="utf-8") as fh:
        lines = _strip_code(fh.read()).splitlines()
    stray = []
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            continue
        follows_row = i > 0 and lines[i - 1].startswith("|")
        starts_table = i + 1 < len(lines) and re.match(r"^\|\s*:?-+", lines[i + 1])
        if not (follows_row or starts_table):
            stray.append(f"line {i + 1}: {line[:60]}")
    assert not stray, f"{os.path.relpath(page, ROOT)}: table rows outside a table:\n  " + "\n  ".join(stray)
