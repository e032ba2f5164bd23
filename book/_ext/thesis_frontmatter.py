"""Front matter of the thesis from one configuration file (book/thesis.yml), for the PDF and the HTML.

* LaTeX (``jupyter-book build . --builder pdflatex``): the title page, the abstracts in English and in the
  local language, the declaration, the acknowledgements (``latex_elements["maketitle"]``), the table of
  contents, the lists of figures, tables and abbreviations (``latex_elements["tableofcontents"]``).
  A post-transform arranges the assembled document as a thesis: the HTML front-matter pages are dropped
  (the LaTeX front matter replaces them), the root page becomes the unnumbered "Introduction", the
  chapters listed as ``unnumbered`` get no number, the bibliography page's own heading gives way to the
  bibliography's, and the appendices follow the bibliography after ``\\appendix``.
* HTML: the directive ``{thesis-frontmatter} abstract`` (title block, abstracts, keywords, declaration,
  acknowledgements) and ``{thesis-frontmatter} abbreviations`` render the same fields as docutils nodes.

Register it in _config.yml::

    sphinx:
      local_extensions:
        thesis_frontmatter: book/_ext
      config:
        thesis_config: book/thesis.yml
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

REQUIRED = ("university", "faculty", "study_programme", "title", "author", "supervisor", "place", "date",
            "abstract", "abstract_local", "keywords", "keywords_local", "declaration", "acknowledgements",
            "abbreviations", "labels", "layout")


class ThesisConfigError(ValueError):
    """thesis.yml is missing or lacks a field."""


def load_thesis_config(path: str | Path) -> dict[str, Any]:
    """Read thesis.yml and check that every field the front matter prints is there."""
    path = Path(path)
    if not path.is_file():
        raise ThesisConfigError(f"thesis configuration {path} not found (set thesis_config in _config.yml)")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    missing = [key for key in REQUIRED if not data.get(key)]
    if missing:
        raise ThesisConfigError(f"{path}: missing field(s) {', '.join(missing)}")
    return data


def paragraphs(data: dict[str, Any], key: str) -> list[str]:
    """A long field as a list of paragraphs; {title}, {author}, ... stand for the other fields."""
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    text = str(data[key]).format(**fields)
    return [" ".join(block.split()) for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]


# ---------------------------------------------------------------------------------------------- LaTeX
_TEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
                "%": r"\%", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex(text: str) -> str:
    """Escape plain text for LaTeX (xelatex reads the Unicode itself: č, ř, β need no escaping)."""
    return "".join(_TEX_SPECIAL.get(char, char) for char in str(text))


def tex_paragraphs(data: dict[str, Any], key: str) -> str:
    return "\n\n".join(tex(p) for p in paragraphs(data, key))


def latex_maketitle(d: dict[str, Any]) -> str:
    """Title page, abstracts, declaration and acknowledgements (replaces ``\\sphinxmaketitle``)."""
    lab = d["labels"]
    local = lambda key: tex(d.get(key + "_local", ""))  # noqa: E731
    return rf"""
\begin{{titlepage}}
  \hypersetup{{pageanchor=false}}
  \centering
  {{\Large\bfseries {tex(d["university"])}\par}}
  {{\large {local("university")}\par}}
  \vspace{{0.6cm}}
  {{\large {tex(d["faculty"])}\par}}
  {{\normalsize {local("faculty")}\par}}
  \vspace*{{\fill}}
  {{\huge\bfseries {tex(d["title"])}\par}}
  \vspace{{0.5cm}}
  {{\large {local("title")}\par}}
  \vspace{{1.2cm}}
  {{\Large\scshape {tex(d.get("thesis_type", ""))}\par}}
  \vspace*{{\fill}}
  \begin{{tabular}}{{@{{}}ll@{{}}}}
    {tex(lab["study_programme"])}: & {tex(d["study_programme"])} \\
    {tex(lab["author"])}: & {tex(d["author"])} \\
    {tex(lab["supervisor"])}: & {tex(d["supervisor"])} \\
  \end{{tabular}}
  \par\vspace{{1.5cm}}
  {{\large {tex(d["place"])}, {tex(d["date"])}\par}}
\end{{titlepage}}
\hypersetup{{pageanchor=true}}
\pagenumbering{{roman}}\setcounter{{page}}{{2}}
\pagestyle{{plain}}
\thesisfrontchapter{{{tex(lab["declaration"])}}}
{tex_paragraphs(d, "declaration")}

\vspace{{1.5cm}}
\noindent {tex(d["place"])}, {tex(d["date"])} \hfill \makebox[6cm]{{\dotfill}}\\
\mbox{{}}\hfill \makebox[6cm]{{{tex(d["author"])}}}
\thesisfrontchapter{{{tex(lab["acknowledgements"])}}}
{tex_paragraphs(d, "acknowledgements")}
\thesisfrontchapter{{{tex(lab["abstract"])}}}
{tex_paragraphs(d, "abstract")}

\paragraph*{{{tex(lab["keywords"])}}} {tex(", ".join(d["keywords"]))}
\thesisfrontchapter{{{tex(lab["abstract_local"])}}}
\begin{{thesislocal}}
\noindent\textbf{{{tex(lab["title_local"])}:}} {local("title")}\par\medskip
{tex_paragraphs(d, "abstract_local")}

\paragraph*{{{tex(lab["keywords_local"])}}} {tex(", ".join(d["keywords_local"]))}
\end{{thesislocal}}
"""


def latex_tableofcontents(d: dict[str, Any]) -> str:
    """Contents, lists of figures/tables/abbreviations; arabic page numbers start after them."""
    lab = d["labels"]
    rows = "\n".join(rf"    \textbf{{{tex(k)}}} & {tex(v)} \\" for k, v in d["abbreviations"].items())
    return rf"""
\clearpage
\begingroup
  \parskip 0pt
  \sphinxtableofcontentshook
  \tableofcontents
\endgroup
\clearpage\phantomsection
\addcontentsline{{toc}}{{chapter}}{{\listfigurename}}
\listoffigures
\clearpage\phantomsection
\addcontentsline{{toc}}{{chapter}}{{\listtablename}}
\listoftables
\thesisfrontchapter{{{tex(lab["abbreviations"])}}}
\begin{{longtable}}{{@{{}}p{{2.4cm}}p{{\dimexpr\linewidth-2.4cm-2\tabcolsep\relax}}@{{}}}}
{rows}
\end{{longtable}}
\clearpage
\pagenumbering{{arabic}}
"""


def latex_preamble(d: dict[str, Any]) -> str:
    lab = d["labels"]
    return rf"""
% ---- thesis front matter (book/_ext/thesis_frontmatter.py, fields from thesis.yml) ----
\makeatletter
\newcommand{{\thesisfrontchapter}}[1]{{\chapter*{{#1}}\addcontentsline{{toc}}{{chapter}}{{#1}}\markboth{{#1}}{{#1}}}}
\newcommand{{\thesisunnumberedstart}}{{\edef\thesis@secnumdepth{{\the\c@secnumdepth}}\setcounter{{secnumdepth}}{{-1}}}}
\newcommand{{\thesisunnumberedend}}{{\ifdefined\thesis@secnumdepth\setcounter{{secnumdepth}}{{\thesis@secnumdepth}}\fi}}
\makeatother
% polyglossia resets the caption names at \begin{{document}}: hook into its caption set.
\addto\captionsenglish{{\renewcommand{{\listfigurename}}{{{tex(lab["figures"])}}}%
  \renewcommand{{\listtablename}}{{{tex(lab["tables"])}}}\renewcommand{{\figurename}}{{Figure }}}}
% The minimal TeX set has no Czech hyphenation patterns: set the local-language text unhyphenated
% rather than hyphenated by the English patterns.
\newenvironment{{thesislocal}}{{\par\hyphenpenalty=10000\exhyphenpenalty=10000\emergencystretch=3em}}{{\par}}
\linespread{{1.15}}
\hypersetup{{pdftitle={{{tex(d["title"])}}}, pdfauthor={{{tex(d["author"])}}},
  pdfsubject={{{tex(d.get("thesis_type", ""))}, {tex(d["university"])}}},
  pdfkeywords={{{tex(", ".join(d["keywords"]))}}}}}
% ---- end of thesis front matter ----
"""


def configure_latex(app: Sphinx, config: Config) -> None:
    """``config-inited``: read thesis.yml and fill latex_elements (the keys set in _config.yml win)."""
    path = Path(app.confdir) / config.thesis_config
    data = load_thesis_config(path)
    app.thesis = data  # type: ignore[attr-defined]
    elements = dict(config.latex_elements or {})
    user_preamble = elements.get("preamble", "")
    defaults = {"maketitle": latex_maketitle(data), "tableofcontents": latex_tableofcontents(data),
                "printindex": "", "makeindex": ""}
    for key, value in defaults.items():
        elements.setdefault(key, value)
    # sphinx_jupyterbook_latex appends its own preamble in its config-inited handler: keep whatever is there.
    elements["preamble"] = latex_preamble(data) + user_preamble
    config.latex_elements = elements


class ThesisLatexLayout(SphinxPostTransform):
    """Arrange the assembled LaTeX document as a thesis (see the module docstring).

    Runs after sphinx_jupyterbook_latex's LatexRootDocPostTransforms (priority 700), which has already
    moved the toctree wrappers to the top level and the bibliography to the end of the document.
    """

    default_priority = 750
    builders = ("latex",)

    def apply(self, **kwargs: Any) -> None:
        root = self.config.root_doc
        if self.app.project.path2doc(self.document["source"]) != root:
            return
        layout = self.app.thesis["layout"]  # type: ignore[attr-defined]
        frontmatter = set(layout.get("frontmatter", []))
        unnumbered = set(layout.get("unnumbered", []))
        appendices = list(layout.get("appendices", []))
        bibliography = layout.get("bibliography")

        files = {node["docname"]: node for node in self.document.findall(addnodes.start_of_file)}
        for docname in frontmatter | {bibliography}:
            if docname in files:
                files[docname].parent.remove(files[docname])
        for docname in unnumbered:
            node = files.get(docname)
            if node is not None:
                parent = node.parent
                parent.insert(parent.index(node), raw(r"\thesisunnumberedstart"))
                parent.insert(parent.index(node) + 1, raw(r"\thesisunnumberedend"))

        # The root page: its title is the document title, which the writer skips; print it as the
        # unnumbered introduction chapter instead.
        for section in self.document.findall(nodes.section):
            if section.get("docname") == root:
                title = self.env.titles[root].astext()
                index = 1 if section.children and isinstance(section[0], nodes.title) else 0
                section.insert(index, raw(r"\thesisfrontchapter{%s}" % tex(title)))
                break

        moved = [files[name] for name in appendices if name in files]
        if moved:
            # Listings of whole modules: a smaller font, so that a 110-character line rarely wraps.
            self.document.append(raw(r"\appendix\fvset{fontsize=\scriptsize}"))
            for node in moved:
                node.parent.remove(node)
                self.document.append(node)


def raw(text: str) -> nodes.raw:
    return nodes.raw("", text + "\n", format="latex")


# ----------------------------------------------------------------------------------------------- HTML
class ThesisFrontmatter(SphinxDirective):
    """``{thesis-frontmatter} abstract`` or ``{thesis-frontmatter} abbreviations``: thesis.yml as HTML."""

    required_arguments = 1
    has_content = False
    option_spec = {"class": directives.class_option}

    def run(self) -> list[nodes.Node]:
        what = self.arguments[0]
        self.env.note_dependency(str(Path(self.env.app.confdir) / self.config.thesis_config))
        data = self.env.app.thesis  # type: ignore[attr-defined]
        if what == "abstract":
            return self.abstract(data)
        if what == "abbreviations":
            return [self.abbreviations(data)]
        raise self.error(f"thesis-frontmatter: unknown part {what!r} (expected 'abstract' or 'abbreviations')")

    def abstract(self, d: dict[str, Any]) -> list[nodes.Node]:
        lab = d["labels"]
        field_list = nodes.field_list()
        rows = [(lab["study_programme"], d["study_programme"]), (lab["author"], d["author"]),
                (lab["supervisor"], d["supervisor"])]
        for name, value in rows:
            field_list += nodes.field("", nodes.field_name(text=name),
                                      nodes.field_body("", nodes.paragraph(text=value)))
        head = nodes.container(classes=["thesis-titleblock"])
        head += nodes.paragraph("", "", nodes.strong(text=d["university"]))
        head += nodes.paragraph(text=d["faculty"])
        head += nodes.paragraph("", "", nodes.emphasis(text=f"{d.get('thesis_type', '')}, "
                                                             f"{d['place']}, {d['date']}"))
        head += field_list
        out: list[nodes.Node] = [head]
        out += self.rubric_block(lab["abstract"], paragraphs(d, "abstract"))
        out.append(self.keywords(lab["keywords"], d["keywords"]))
        out += self.rubric_block(lab["abstract_local"],
                                 [f"{lab['title_local']}: {d.get('title_local', '')}"]
                                 + paragraphs(d, "abstract_local"))
        out.append(self.keywords(lab["keywords_local"], d["keywords_local"]))
        out += self.rubric_block(lab["declaration"], paragraphs(d, "declaration"))
        out += self.rubric_block(lab["acknowledgements"], paragraphs(d, "acknowledgements"))
        return out

    @staticmethod
    def rubric_block(title: str, texts: list[str]) -> list[nodes.Node]:
        return [nodes.rubric(text=title)] + [nodes.paragraph(text=t) for t in texts]

    @staticmethod
    def keywords(label: str, words: list[str]) -> nodes.paragraph:
        return nodes.paragraph("", "", nodes.strong(text=f"{label}: "), nodes.Text(", ".join(words)))

    @staticmethod
    def abbreviations(d: dict[str, Any]) -> nodes.definition_list:
        dlist = nodes.definition_list(classes=["thesis-abbreviations"])
        for short, long in d["abbreviations"].items():
            dlist += nodes.definition_list_item(
                "", nodes.term(text=short), nodes.definition("", nodes.paragraph(text=long)))
        return dlist


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("thesis_config", "book/thesis.yml", "env")
    # Priority 400 < sphinx_jupyterbook_latex's default 500: our preamble goes first, theirs is appended.
    app.connect("config-inited", configure_latex, priority=400)
    app.add_post_transform(ThesisLatexLayout)
    app.add_directive("thesis-frontmatter", ThesisFrontmatter)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
