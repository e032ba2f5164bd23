"""Section numbers of the thesis outline (../shared/seeds/000, the Czech thesis skeleton).

The outline numbers the autoencoder sections 1.3.1-1.3.12 as siblings (1.3.6 Sparse, 1.3.7 Denoising, ...),
although the book splits section 1.3 over three notebooks, and it numbers the extensions of the VAE
2.6.x directly under 2.6, although 2.6 is split over five files. Sphinx numbers a document's top-level
headings as siblings at the level where the document sits in the table of contents, so each file that
continues a section has several top-level (`#`) headings instead of one title with `##` subsections.

Three checks:
- fast (no build): the numbers implied by `_toc.yml` and the heading levels of the sources, computed
  the way Sphinx assigns them, match OUTLINE; and no file carries a `##` heading below its second `#`
  heading (sphinx-external-toc 1.0.1 crashes with KeyError in `assign_section_numbers` on that layout;
  such sub-headings are written as `{rubric}` directives);
- `build`: the headings of the built HTML carry these numbers (`make book-smoke`, or BUILT_HTML);
- `pdf`: the PDF prints them (`make pdf-smoke`; THESIS_PDF_PREBUILT=1 reuses an existing PDF).
"""
from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BUILT_HTML", ROOT / "_build_smoke" / "_build" / "html"))
# The PDF is built (or, with THESIS_PDF_PREBUILT=1, found) by the fixtures of test_pdf.py: one build for both.
from test_pdf import LATEX_DIR, _squash, built_pdf, text  # noqa: E402,F401

# number -> title, as the outline orders them (titles are the book's English ones)
OUTLINE: dict[str, str] = {
    "1.3": "Autoencoders",
    "1.3.1": "A short history",
    "1.3.2": "Undercomplete autoencoders",
    "1.3.3": "Overcomplete autoencoders",
    "1.3.4": "Stacked autoencoders",
    "1.3.5": "Deep autoencoders",
    "1.3.6": "Sparse autoencoders",
    "1.3.7": "Denoising autoencoders",
    "1.3.8": "Contractive autoencoders",
    "1.3.9": "Stochastic encoders and decoders",
    "1.3.10": "Other kinds of autoencoders",
    "1.3.11": "A taxonomy of autoencoders",
    "1.3.12": "Uses of autoencoders",
    "1.4": "Probabilistic models and variational Bayes",
    "2.6": "Extensions and the state of the art",
    "2.6.1": "The β-VAE and the rate–distortion trade-off",
    "2.6.2": "The importance-weighted bound",
    "2.6.3": "Plain autoencoder against VAE",
    "2.6.4": "The conditional VAE",
    "2.6.5": "Generative adversarial networks",
    "2.6.6": "The adversarial autoencoder",
    "2.6.7": "The state of the art: hierarchical and discrete VAEs",
    "2.7": "Observation in latent space",
}
# no stray numbers below these sections (e.g. a "1.3.6.1" would mean a file nests under 1.3.6 again)
EXACT_PREFIXES = ("1.3.", "2.6.")


# ------------------------------------------------------------------------------ source structure
def _markdown(path: Path) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    text = path.read_text(encoding="utf-8")
    return re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)   # front matter


def _headings(path: Path) -> list[tuple[int, str]]:
    """(level, title) of the Markdown headings outside code fences (a `{rubric}` is not a heading)."""
    found, fence = [], None
    for line in _markdown(path).splitlines():
        marker = re.match(r"^\s*(`{3,}|~{3,}|:{3,})", line)
        if marker:
            token = marker.group(1)
            if fence is None:
                fence = token
            elif token.startswith(fence[0]) and len(token) >= len(fence) and line.strip() == token:
                fence = None
            continue
        if fence is None:
            m = re.match(r"^(#{1,6})\s+(.+?)\s*#*\s*$", line)
            if m:
                found.append((len(m.group(1)), m.group(2)))
    return found


def _source(name: str) -> Path:
    for suffix in (".md", ".ipynb"):
        if (ROOT / (name + suffix)).is_file():
            return ROOT / (name + suffix)
    raise FileNotFoundError(f"{name} (listed in _toc.yml) has no .md or .ipynb")


def _number_document(name: str, entry: dict, stack: list[int], out: dict[str, str]) -> None:
    """Sphinx's rule: the top-level headings of a document are siblings at the document's depth (`stack`
    is the parent's number); deeper headings nest below the top-level heading they follow; the documents
    of a nested toctree continue the numbering one level below the document's last top-level heading."""
    level_of_doc = len(stack) + 1
    counters = list(stack) + [0]
    for level, title in _headings(_source(name)):
        depth = level_of_doc + level - 1
        counters = counters[:depth] + [0] * max(0, depth - len(counters))
        counters[depth - 1] += 1
        out[".".join(map(str, counters[:depth]))] = title
    children = entry.get("sections") or []
    if children:
        child_stack = counters[:level_of_doc]
        # continue after the last heading one level below the document's own
        last = [int(k.split(".")[level_of_doc]) for k in out
                if k.count(".") == level_of_doc and k.split(".")[:level_of_doc] == list(map(str, child_stack))]
        running = max(last, default=0)
        for child in children:
            sub: dict[str, str] = {}
            _number_document(child["file"], child, child_stack, sub)
            # renumber the child's siblings so they follow `running`
            tops = sorted({int(k.split(".")[level_of_doc]) for k in sub if k.count(".") >= level_of_doc})
            shift = {old: running + i + 1 for i, old in enumerate(tops)}
            for key, title in sub.items():
                parts = key.split(".")
                parts[level_of_doc] = str(shift[int(parts[level_of_doc])])
                out[".".join(parts)] = title
            running += len(tops)


def expected_numbers() -> dict[str, str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    chapter = 0
    for part in toc.get("parts", []):
        if not part.get("numbered", toc.get("options", {}).get("numbered", False)):
            continue
        for entry in part["chapters"]:
            chapter += 1
            sub: dict[str, str] = {}
            _number_document(entry["file"], entry, [], sub)
            for key, title in sub.items():
                parts = key.split(".")
                out[".".join([str(chapter)] + parts[1:])] = title
    return out


def _check(numbers: dict[str, str]) -> list[str]:
    problems = [f"{num}: expected {title!r}, got {numbers.get(num)!r}"
                for num, title in OUTLINE.items() if numbers.get(num) != title]
    for prefix in EXACT_PREFIXES:
        extra = sorted(k for k in numbers if k.startswith(prefix) and k not in OUTLINE)
        problems += [f"{k} ({numbers[k]!r}) is not in the outline" for k in extra]
    return problems


def test_sources_number_sections_as_the_outline():
    problems = _check(expected_numbers())
    assert not problems, "\n".join(problems)


def test_no_subheading_after_a_second_top_level_heading():
    """sphinx-external-toc (multitoc numbering) raises KeyError on a `##` below a document's second `#`."""
    toc_files = re.findall(r"file:\s*(\S+)", (ROOT / "_toc.yml").read_text(encoding="utf-8"))
    offenders = []
    for name in toc_files:
        seen_top = 0
        for level, title in _headings(_source(name)):
            if level == 1:
                seen_top += 1
            elif seen_top >= 2:
                offenders.append(f"{name}: {'#' * level} {title}")
    assert not offenders, "use a {rubric} instead of these headings:\n" + "\n".join(offenders)


# ------------------------------------------------------------------------------ the built HTML
def _html_numbers() -> dict[str, str]:
    if not HTML.is_dir():
        pytest.fail(f"no built book at {HTML}: run `make book-smoke` (or set BUILT_HTML)")
    numbers: dict[str, str] = {}
    pattern = re.compile(r'<h[1-6][^>]*>\s*<span class="section-number">([\d.]+?)\.?\s*</span>(.*?)'
                         r'<a class="headerlink"', re.S)
    for page in HTML.rglob("*.html"):
        for num, title in pattern.findall(page.read_text(errors="replace")):
            text = html.unescape(re.sub(r"<[^>]+>", "", title)).strip()
            numbers.setdefault(num, text)
    return numbers


@pytest.mark.build
def test_html_headings_carry_the_outline_numbers():
    problems = _check(_html_numbers())
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------ the PDF
@pytest.mark.pdf
def test_pdf_headings_carry_the_outline_numbers(text):
    pdf_text = text
    body = _squash(pdf_text)
    missing = [f"{num} {title}" for num, title in OUTLINE.items() if _squash(f"{num}{title}") not in body]
    assert not missing, "headings missing from the PDF with their numbers:\n" + "\n".join(missing)
    for prefix in EXACT_PREFIXES:
        # e.g. "1.3.6.1 Something" would be a level the outline does not have
        deeper = re.findall(rf"^\s*({re.escape(prefix)}\d+\.\d+)\s+[A-Z]", pdf_text, flags=re.M)
        assert not deeper, f"sections below {prefix}x in the PDF: {deeper[:5]}"


@pytest.mark.pdf
def test_latex_levels_match_the_outline():
    """In the LaTeX source the outline's 1.3.x and 2.6.x headings are \\subsection commands, in order."""
    tex = (LATEX_DIR / "thesis.tex").read_text(encoding="utf-8")
    heads = re.findall(r"^\\(chapter|section|subsection|subsubsection)\{(.*?)\}\s*$", tex, flags=re.M)

    def clean(t: str) -> str:
        return re.sub(r"\\sphinxhyphen\{\}", "-", t)

    for parent, prefix in (("Autoencoders", "1.3."), (OUTLINE["2.6"], "2.6.")):
        start = [i for i, (kind, t) in enumerate(heads) if kind == "section" and clean(t) == parent]
        assert start, f"no \\section{{{parent}}}"
        subs = []
        for kind, title in heads[start[0] + 1:]:
            if kind in ("chapter", "section"):
                break
            if kind == "subsection":
                subs.append(clean(title))
        wanted = [t for n, t in OUTLINE.items() if n.startswith(prefix) and n.count(".") == 2]
        assert subs == wanted, f"subsections of {parent}: {subs}"
