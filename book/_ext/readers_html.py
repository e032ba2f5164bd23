"""HTML fixes for readers: each <script> of a page once.

Jupyter Book 1 on Sphinx 7 runs sphinx-thebe's and sphinx-togglebutton's set-up twice (their
`env-before-read-docs` handlers fire on each read pass), so every page declares `const THEBE_JS_URL`
twice, which Chromium reports as "Uncaught SyntaxError: Identifier 'THEBE_JS_URL' has already been
declared" (found by tests/test_browser.py). Drop exact duplicates from the builder's script list.
"""


def _key(script):
    # the same inline script is added once with filename None and once with "": the same for the page
    return (str(getattr(script, "filename", script) or ""),
            tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in list(context.get("script_files", [])):
        if _key(script) not in seen:
            seen.add(_key(script))
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    # priority 900: after the themes' own html-page-context handlers
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
