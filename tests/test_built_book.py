"""Checks on a built HTML book (run by `make test` after the smoke build; `make book` output also works:
set BUILT_HTML=_build/html)."""
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BUILT_HTML", ROOT / "_build_smoke" / "_build" / "html"))
pytestmark = pytest.mark.build


def _pages():
    if not HTML.is_dir():
        pytest.fail(f"no built book at {HTML}: run `make book-smoke` (or set BUILT_HTML)")
    return sorted(HTML.rglob("*.html"))


TAG = re.compile(r"<(script|link|img|iframe)\b[^>]*>", re.I)
ATTR = re.compile(r"""\b(src|href)\s*=\s*["']([^"']+)["']""", re.I)


def test_no_page_loads_anything_from_outside():
    offenders = []
    for page in _pages():
        for tag in TAG.finditer(page.read_text(errors="replace")):
            kind = tag.group(1).lower()
            for attr, url in ATTR.findall(tag.group(0)):
                if kind == "link" and not re.search(r"rel=[\"'](stylesheet|preload|modulepreload|icon)", tag.group(0)):
                    continue  # a plain hyperlink-like <link rel="next"> loads nothing
                if re.match(r"^(https?:)?//", url):
                    offenders.append(f"{page.relative_to(HTML)}: {url}")
    assert not offenders, "pages load resources from outside the book:\n" + "\n".join(offenders[:20])


def test_local_javascript_is_served():
    for rel in ("_static/vendor/mathjax/tex-chtml.js", "_static/vendor/require.js",
                "_static/vendor/html-manager/embed-amd.js"):
        assert (HTML / rel).is_file(), f"{rel} missing from the build"
    pages = [p.read_text() for p in _pages()]
    assert any("vendor/mathjax/tex-chtml.js" in p for p in pages), "no page loads the local MathJax"


def test_every_chapter_page_was_built():
    import yaml
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    for f in files:
        assert (HTML / f"{f}.html").is_file(), f"{f}.html was not built"


def test_no_execution_errors_in_pages():
    for page in _pages():
        text = page.read_text(errors="replace")
        assert "Traceback (most recent call last)" not in text, f"{page.name} shows a traceback"
