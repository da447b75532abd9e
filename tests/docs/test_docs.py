"""The documentation site builds cleanly and documents the public API.

The site is built once per session, into a temporary folder, with the exact
flags of ``make docs`` (``-W --keep-going``: any warning fails the build).
The built HTML is then checked with the standard library's ``html.parser``
against independent sources: the packages' own ``__all__`` and
``inspect.signature`` (every public name has a ``dt`` with its id and its
parameter names), the files on disk (every internal link and asset resolves,
anchors included), and the MathJax containers Sphinx writes for formulas.

Marked ``docs``: the build does not depend on the Keras backend, so CI runs
it once (``pytest tests/docs``), not per backend. Takes about 10-40 s.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import re
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = pytest.mark.docs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PACKAGES = ("smpcore", "smp_keras")
API_DIR = "api/generated"


# --------------------------------------------------------------------------
# Parsing the built HTML
# --------------------------------------------------------------------------


@dataclass
class Page:
    """What the tests need from one HTML file."""

    ids: set[str] = field(default_factory=set)
    dts: dict[str, str] = field(default_factory=dict)  # dt id -> its text
    links: list[str] = field(default_factory=list)  # <a href>
    assets: list[str] = field(default_factory=list)  # script/link/img
    math_inline: list[str] = field(default_factory=list)
    math_display: list[str] = field(default_factory=list)


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._dt: tuple[str, list[str]] | None = None
        self._math: tuple[str, str, list[str]] | None = None  # kind, tag

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        for key in ("id", "name"):
            if attributes.get(key) and (key == "id" or tag == "a"):
                self.page.ids.add(attributes[key])
        if tag == "a" and attributes.get("href") is not None:
            self.page.links.append(attributes["href"])
        for key in ("src", "href"):
            if tag in ("script", "link", "img") and attributes.get(key):
                self.page.assets.append(attributes[key])
        if tag == "dt" and attributes.get("id"):
            self._dt = (attributes["id"], [])
        classes = (attributes.get("class") or "").split()
        if "math" in classes and self._math is None:
            kind = "display" if tag == "div" else "inline"
            self._math = (kind, tag, [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "dt" and self._dt is not None:
            name, text = self._dt
            self.page.dts[name] = "".join(text)
            self._dt = None
        if self._math is not None and tag == self._math[1]:
            kind, _, text = self._math
            target = (
                self.page.math_display
                if kind == "display"
                else self.page.math_inline
            )
            target.append("".join(text).strip())
            self._math = None

    def handle_data(self, data: str) -> None:
        if self._dt is not None:
            self._dt[1].append(data)
        if self._math is not None:
            self._math[2].append(data)


@dataclass
class Site:
    root: Path
    pages: dict[str, Page]  # path relative to root, "/"-separated
    returncode: int = 0
    log: str = ""

    def find_dt(self, ids: list[str]) -> tuple[str, str] | None:
        for path, page in self.pages.items():
            for name in ids:
                if name in page.dts:
                    return path, page.dts[name]
        return None

    def has_id(self, name: str) -> bool:
        return any(name in page.ids for page in self.pages.values())


def _parse_site(root: Path) -> Site:
    """Parses every HTML file of a built site."""
    pages = {}
    for path in sorted(root.rglob("*.html")):
        parser = _PageParser()
        parser.feed(path.read_text(encoding="utf-8"))
        pages[path.relative_to(root).as_posix()] = parser.page
    return Site(root, pages)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """Builds the site once, exactly as ``make docs`` does."""
    out = tmp_path_factory.mktemp("docs")
    env = {**os.environ}
    env.setdefault("KERAS_BACKEND", "jax")
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-b",
        "html",
        "-d",
        str(out / "doctrees"),
        str(DOCS),
        str(out / "html"),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=900
    )
    html = out / "html"
    if not (html / "index.html").is_file():
        pytest.fail(f"sphinx-build wrote no site:\n{result.stderr[-8000:]}")
    built = _parse_site(html)
    built.returncode, built.log = result.returncode, result.stderr
    return built


def test_build_has_no_warnings(site: Site) -> None:
    """``make docs`` runs with ``-W``: any warning fails the build."""
    returncode, log = site.returncode, site.log
    assert returncode == 0, (
        f"sphinx-build -W --keep-going exited {returncode}:\n{log[-8000:]}"
    )


# --------------------------------------------------------------------------
# (a) Every public name is documented with its signature
# --------------------------------------------------------------------------


def _public_submodules(package: ModuleType) -> list[str]:
    return sorted(
        f"{package.__name__}.{info.name}"
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    )


def _parameter_names(obj: object) -> list[str]:
    """Names an object's documented signature must show (independent oracle).

    Classes are introspected through ``__init__``: Keras layers define
    ``__new__(cls, *args, **kwargs)``, which says nothing.
    """
    target = obj
    if inspect.isclass(obj):
        init = inspect.getattr_static(obj, "__init__", None)
        if not inspect.isfunction(init):
            return []
        target = init
    elif not callable(obj):
        return []
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    names = list(signature.parameters)
    if inspect.isclass(obj) and names:
        names = names[1:]  # self
    return names


def _expected_ids(module: ModuleType, name: str) -> list[str]:
    """The ids a name of `module.__all__` may be documented under.

    A subpackage's name that its top-level package also exports (the same
    object) is documented once, under the top-level path.
    """
    ids = [f"{module.__name__}.{name}"]
    package = sys.modules[module.__name__.split(".")[0]]
    obj = getattr(module, name)
    if (
        package is not module
        and name in getattr(package, "__all__", [])
        and getattr(package, name, None) is obj
    ):
        ids.append(f"{package.__name__}.{name}")
    return ids


def _modules_with_pages(site: Site) -> list[str]:
    names = []
    for path in site.pages:
        if path.startswith(API_DIR + "/"):
            names.append(path[len(API_DIR) + 1 : -len(".html")])
    return sorted(names)


def test_every_public_module_has_a_page(site: Site) -> None:
    pages = set(_modules_with_pages(site))
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        expected = {package_name, *_public_submodules(package)}
        missing = sorted(expected - pages)
        assert not missing, f"API pages missing for modules: {missing}"


def _public_api(site: Site) -> list[tuple[ModuleType, str]]:
    """(module, name) for every name of every ``__all__`` with a page."""
    items = []
    for modname in _modules_with_pages(site):
        if modname.split(".")[0] not in PACKAGES:
            continue
        module = importlib.import_module(modname)
        items += [(module, name) for name in getattr(module, "__all__", [])]
    return items


def test_public_api_is_large_enough_to_mean_something(site: Site) -> None:
    # Guards the other checks against passing vacuously.
    import smpcore

    assert len(smpcore.__all__) >= 10
    assert len(_public_api(site)) >= len(smpcore.__all__)


def test_every_public_name_has_its_signature(site: Site) -> None:
    problems = []
    for module, name in _public_api(site):
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            if not site.has_id(f"module-{obj.__name__}"):
                problems.append(f"{module.__name__}.{name}: no module page")
            continue
        ids = _expected_ids(module, name)
        found = site.find_dt(ids)
        if found is None:
            problems.append(f"{ids[0]}: no <dt id> among {ids}")
            continue
        path, text = found
        missing = [
            p
            for p in _parameter_names(obj)
            if not re.search(rf"(?<![\w]){re.escape(p)}(?![\w])", text)
        ]
        if missing:
            problems.append(
                f"{ids[0]} ({path}): parameters {missing} not in {text!r}"
            )
    assert not problems, "\n".join(problems)


def test_references_to_the_api_resolve(site: Site) -> None:
    """Pages and docstrings name only objects that are documented.

    Sphinx runs with ``nitpicky = False``, so a reference such as
    ``{func}`smp_keras.bake``` to a name that does not exist renders as plain
    code without a warning; the docs extension records every such reference
    into ``smpcore``/``smp_keras`` instead.
    """
    dangling = json.loads(
        (site.root / ".smp_docs_unresolved.json").read_text(encoding="utf-8")
    )
    assert not dangling, "unresolved references (page, target):\n" + "\n".join(
        f"  {page}: {target}" for page, target in dangling
    )


# --------------------------------------------------------------------------
# (b) Formulas are MathJax blocks, served from the vendored copy
# --------------------------------------------------------------------------


def test_formulas_are_mathjax_blocks(site: Site) -> None:
    page = site.pages["concepts.html"]
    assert len(page.math_display) >= 10
    assert len(page.math_inline) >= 20
    assert all(
        m.startswith(r"\[") and m.endswith(r"\]") for m in page.math_display
    )
    assert all(
        m.startswith(r"\(") and m.endswith(r"\)") for m in page.math_inline
    )
    display = "\n".join(page.math_display)
    # The formulas the brief names, as written in concepts.md.
    for formula in (
        r"(x^\top \delta) \odot W",
        r"k = \operatorname{round}(v\, n)",
        r"\lambda_t = \lambda_f",
        r"\sigma(S_{W,i})",
        r"T^2",
    ):
        assert formula in display, formula


def test_mathjax_is_vendored_and_loaded(site: Site) -> None:
    page = site.pages["concepts.html"]
    scripts = [urlsplit(a).path for a in page.assets]
    assert "_static/mathjax/tex-chtml.js" in scripts
    fonts = site.root / "_static/mathjax/output/chtml/fonts/woff-v2"
    assert (fonts / "MathJax_Main-Regular.woff").is_file()
    assert (site.root / "_static/mathjax/LICENSE").is_file()
    assert not any(
        "cdn" in a or "://" in a for a in page.assets if "mathjax" in a
    )


# --------------------------------------------------------------------------
# (c) Internal links and assets resolve, anchors included
# --------------------------------------------------------------------------


def _broken_links(site: Site) -> list[str]:
    broken = []
    for path, page in site.pages.items():
        here = (site.root / path).parent
        targets = [(href, True) for href in page.links]
        targets += [(src, False) for src in page.assets]
        for href, check_anchor in targets:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith("mailto:"):
                continue
            target = (
                (here / unquote(parts.path)).resolve()
                if parts.path
                else (site.root / path)
            )
            if not target.exists():
                broken.append(f"{path}: {href} (no file)")
                continue
            anchor = unquote(parts.fragment)
            if not (check_anchor and anchor and target.suffix == ".html"):
                continue
            relative = target.relative_to(site.root.resolve()).as_posix()
            if anchor not in site.pages[relative].ids:
                broken.append(f"{path}: {href} (no anchor)")
    return broken


def test_internal_links_resolve(site: Site) -> None:
    assert len(site.pages) >= 10
    broken = _broken_links(site)
    assert not broken, "\n".join(broken)


def test_link_checker_detects_broken_links(site: Site) -> None:
    # The checker itself must be able to fail.
    fake = Page(links=["concepts.html#no-such-anchor", "nowhere.html"])
    pages = {**site.pages, "fake.html": fake}
    broken = _broken_links(Site(site.root, pages))
    assert "fake.html: concepts.html#no-such-anchor (no anchor)" in broken
    assert "fake.html: nowhere.html (no file)" in broken


# --------------------------------------------------------------------------
# Code in the pages is valid Python that imports existing names
# --------------------------------------------------------------------------

_FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _python_blocks() -> list[tuple[str, int, str]]:
    blocks = []
    for path in sorted(DOCS.rglob("*.md")):
        relative = path.relative_to(DOCS).as_posix()
        if relative.startswith(("_build/", "_static/")):
            continue
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            blocks.append((relative, line, match.group(1)))
    return blocks


def test_code_blocks_parse_and_import_existing_names() -> None:
    import ast

    blocks = _python_blocks()
    assert len(blocks) >= 10
    problems = []
    for path, line, code in blocks:
        try:
            tree = ast.parse(code)
        except SyntaxError as error:
            problems.append(f"{path}:{line}: {error}")
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            if node.module.split(".")[0] not in PACKAGES:
                continue
            try:
                module = importlib.import_module(node.module)
            except ImportError as error:
                problems.append(f"{path}:{line}: {error}")
                continue
            for alias in node.names:
                if not hasattr(module, alias.name):
                    name = f"{node.module}.{alias.name}"
                    problems.append(f"{path}:{line}: {name} does not exist")
    assert not problems, "\n".join(problems)


def test_architecture_lists_every_module():
    # ARCHITECTURE.md is the map of the code: one place per concept, and
    # every module on it.
    text = (ROOT / "ARCHITECTURE.md").read_text()
    missing = []
    for package in ("smpcore", "smp_keras"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name in ("__init__.py", "__main__.py"):
                continue
            if path.name not in text:
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"ARCHITECTURE.md does not list {missing}"
