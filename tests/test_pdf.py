"""The submission PDF: built with the smoke profile (`make pdf-smoke`) and read back with poppler.

Slow (it executes the notebooks unless `make book-smoke` already cached them, then runs xelatex three
times): the PDF tests carry the mark ``pdf``. Run them with

    .venv/bin/python -m pytest tests/test_pdf.py -m pdf -q

The fixture runs `make pdf-smoke` itself; set THESIS_PDF_PREBUILT=1 to check an existing
_build_smoke/_build/latex/thesis.pdf without rebuilding. A missing xelatex or poppler is a failure, never
a skip: a thesis that cannot be printed is broken. The unmarked tests at the end are fast (no TeX).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LATEX_DIR = Path(os.environ.get("BUILT_LATEX", ROOT / "_build_smoke" / "_build" / "latex"))
PDF = LATEX_DIR / "thesis.pdf"
TEX = LATEX_DIR / "thesis.tex"
POPPLER = ("pdftotext", "pdffonts", "pdfimages", "pdfinfo")


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def _squash(text: str) -> str:
    """Text without whitespace or hyphenation breaks, so titles wrapped across lines still match."""
    return re.sub(r"-\s*\n|\s+", "", text)


@pytest.fixture(scope="module")
def built_pdf() -> Path:
    if os.environ.get("THESIS_PDF_PREBUILT") != "1":
        env = {k: v for k, v in os.environ.items() if k not in ("THESIS_CACHE_DIR", "THESIS_PROFILE")}
        proc = subprocess.run(["make", "pdf-smoke"], cwd=ROOT, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"`make pdf-smoke` failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n"
                        f"{proc.stderr[-4000:]}", pytrace=False)
    missing = [tool for tool in ("xelatex", *POPPLER) if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not on PATH: install the TeX set with `make pdf-smoke` (as root) "
                    "or apt-get install --no-install-recommends texlive-latex-recommended texlive-xetex "
                    "texlive-fonts-recommended fonts-freefont-otf latexmk poppler-utils", pytrace=False)
    if not PDF.is_file():
        pytest.fail(f"{PDF} was not built", pytrace=False)
    return PDF


@pytest.fixture(scope="module")
def text(built_pdf) -> str:
    return _run("pdftotext", "-layout", str(built_pdf), "-")


@pytest.fixture(scope="module")
def thesis() -> dict:
    return yaml.safe_load((ROOT / "book" / "thesis.yml").read_text(encoding="utf-8"))


def _toc_files() -> list[Path]:
    """Every page of the book in _toc.yml order (globs expanded as Jupyter Book does: sorted)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    names: list[str] = []

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                names.append(entry["file"])
            if "glob" in entry:
                names.extend(sorted(str(p.relative_to(ROOT).with_suffix(""))
                                    for p in ROOT.glob(entry["glob"].rstrip("*") + "*") if p.suffix in (".md", ".ipynb")))
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    files = []
    for name in names:
        for suffix in (".md", ".ipynb"):
            if (ROOT / (name + suffix)).is_file():
                files.append(ROOT / (name + suffix))
    return files


def _first_heading(path: Path) -> str | None:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    else:
        source = path.read_text(encoding="utf-8")
    match = re.search(r"^#\s+(.+?)\s*$", source, flags=re.M)
    return match.group(1) if match else None


@pytest.mark.pdf
def test_page_count_and_metadata(built_pdf, thesis):
    info = _run("pdfinfo", str(built_pdf))
    pages = int(re.search(r"^Pages:\s+(\d+)", info, flags=re.M).group(1))
    # front matter (~10 pages) + chapters + the source-code appendix; a runaway build gives thousands
    assert 25 <= pages <= 1500, f"{pages} pages"
    assert "A4" in info
    assert thesis["title"] in info and thesis["author"] in info


@pytest.mark.pdf
def test_front_matter_from_thesis_yml(text, thesis):
    flat = _squash(text)
    labels = thesis["labels"]
    for key in ("university", "university_local", "faculty", "study_programme", "title", "author",
                "supervisor", "place", "date", "title_local"):
        assert _squash(thesis[key]) in flat, f"{key} ({thesis[key]!r}) missing from the PDF"
    for key in ("abstract", "abstract_local", "keywords", "keywords_local", "declaration",
                "acknowledgements", "abbreviations"):
        assert _squash(labels[key]) in flat, f"heading {labels[key]!r} missing"
    # the first sentence of each abstract (Czech diacritics included), the keywords, the abbreviations
    for key in ("abstract", "abstract_local"):
        first = re.split(r"(?<=\.)\s", " ".join(thesis[key].split()))[0]
        assert _squash(first) in flat, f"{key}: {first!r} missing"
    for word in thesis["keywords"] + thesis["keywords_local"]:
        assert _squash(word) in flat
    for short, long in thesis["abbreviations"].items():
        assert re.search(rf"{re.escape(short)}\s+{re.escape(long.split()[0])}", text), short
    for heading in ("Contents", labels["figures"], labels["tables"], "Bibliography"):
        assert heading in text, heading


@pytest.mark.pdf
def test_chapter_and_section_titles(text):
    flat = _squash(text)
    titles = [_first_heading(p) for p in _toc_files()
              if "frontmatter" not in p.parts and p.stem != "references"]
    titles = [t for t in titles if t and not re.search(r"[$`{\\]", t)]   # markup renders differently
    assert len(titles) >= 4
    missing = [t for t in titles if _squash(t) not in flat]
    assert not missing, f"titles missing from the PDF: {missing}"
    assert re.search(r"Chapter\s+1\b", text) and re.search(r"Appendix\s+A\b", text)


@pytest.mark.pdf
def test_references_resolve(text):
    assert "??" not in text, "unresolved reference (??) in the PDF"
    log = (LATEX_DIR / "thesis.log").read_text(encoding="utf-8", errors="replace")
    assert "undefined references" not in log
    warnings = re.findall(r"LaTeX Warning: (?:Citation|Reference) .*", log)
    assert not warnings, "\n".join(warnings[:10])
    # numbered equations and a bibliography with entries
    assert re.search(r"\(\d+\.\d+\)", text), "no numbered equation"
    assert re.search(r"Bibliography.*?\n.*\b(19|20)\d\d\b", text, flags=re.S)


@pytest.mark.pdf
def test_fonts_embedded(built_pdf):
    rows = _run("pdffonts", str(built_pdf)).splitlines()[2:]
    assert rows, "no fonts"
    not_embedded = [r for r in rows if r.split()[-5] != "yes"]
    assert not not_embedded, "fonts not embedded:\n" + "\n".join(not_embedded)
    names = " ".join(r.split()[0] for r in rows)
    assert "FreeSerif" in names, "the body font is not FreeSerif"


@pytest.mark.pdf
def test_figures_present_and_vector(built_pdf, text):
    tex = TEX.read_text(encoding="utf-8")
    n_figures = tex.count(r"\begin{figure}")
    # Sphinx writes \sphinxincludegraphics[opts]{{name}.ext} (or {name.ext})
    graphics = ["".join(m) for m in re.findall(
        r"\\sphinxincludegraphics(?:\[[^]]*\])?\{(?:\{([^}]+)\}([^}]*)|([^}]+))\}", tex)]
    assert graphics, "no figure in the PDF"
    for name in graphics:
        assert (LATEX_DIR / name).is_file(), f"figure file {name} missing"
    # every figure environment has its entry in the list of figures
    lof = (LATEX_DIR / "thesis.lof").read_text(encoding="utf-8", errors="replace")
    assert lof.count(r"\contentsline {figure}") == n_figures
    # matplotlib figures are embedded as PDF (vector), not PNG: the notebooks emit application/pdf
    assert any(g.endswith(".pdf") for g in graphics), f"no vector figure among {graphics[:5]}"
    assert "DejaVu" in _run("pdffonts", str(built_pdf)), "no text of a vector matplotlib figure"
    _run("pdfimages", "-list", str(built_pdf))   # poppler can read every image stream
    # widgets appear as their static figures, never as their text repr
    assert not re.search(r"\b(VBox|HBox|interactive|IntSlider|FloatSlider|Output)\(", text)


@pytest.mark.pdf
def test_appendix_prints_the_package(text):
    flat = _squash(text)
    for path in _appendix_modules():
        assert _squash(f"thesis_code/{path}") in flat, f"appendix lacks thesis_code/{path}"
        source = (ROOT / "thesis_code" / path).read_text(encoding="utf-8")
        defs = re.findall(r"^(?:class|def) (\w+)", source, flags=re.M)
        for name in defs[:3]:
            assert name in text, f"{name} of {path} not printed"


# ------------------------------------------------------------------------------ fast, no TeX needed
def _appendix_modules() -> list[str]:
    source = (ROOT / "book" / "appendix_source.md").read_text(encoding="utf-8")
    return re.findall(r"```\{literalinclude\}\s+\.\./thesis_code/(\S+)", source)


def test_appendix_lists_the_core_modules():
    listed = set(_appendix_modules())
    core = {f"models/{p.name}" for p in (ROOT / "thesis_code" / "models").glob("*.py")}
    core |= {name for name in ("objectives.py", "train.py") if (ROOT / "thesis_code" / name).is_file()}
    assert core <= listed, f"book/appendix_source.md lacks {sorted(core - listed)}"
    for path in listed:
        assert (ROOT / "thesis_code" / path).is_file(), f"appendix includes missing thesis_code/{path}"


def test_thesis_yml_drives_the_latex_front_matter(tmp_path):
    """The extension turns every field into LaTeX, escaping TeX specials, and rejects a missing field."""
    import sys
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import thesis_frontmatter as tf

    data = tf.load_thesis_config(ROOT / "book" / "thesis.yml")
    title_page = tf.latex_maketitle(data) + tf.latex_tableofcontents(data)
    for key in ("university", "faculty", "study_programme", "title", "author", "supervisor", "place", "date"):
        assert tf.tex(data[key]) in title_page, key
    assert tf.tex("50% & $x_1$ #2") == r"50\% \& \$x\_1\$ \#2"
    assert data["title"] in tf.paragraphs(data, "declaration")[0]   # {title} is substituted
    broken = dict(data)
    del broken["supervisor"]
    bad = tmp_path / "thesis.yml"
    bad.write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
    with pytest.raises(tf.ThesisConfigError, match="supervisor"):
        tf.load_thesis_config(bad)
