"""Sphinx extension of the course book: pages that work offline with a clean browser console.

Loaded by `_config.yml` (sphinx.local_extensions). It fixes what Jupyter Book 1 (Sphinx 7.4,
sphinx-thebe 0.3, sphinx-togglebutton 0.4) gets wrong for a reader without a network:

- Sphinx registers an inline script added after the builder starts (sphinx-thebe's
  ``const THEBE_JS_URL = ...``, sphinx-togglebutton's selector) twice: once with the file name
  ``None`` and once with ``''``, which its de-duplication treats as different. The second
  ``const`` declaration throws "Identifier 'THEBE_JS_URL' has already been declared" on every
  page. We drop the duplicates from each page's script list.
- The search page fetches each result's page to show a summary under it. A browser refuses a
  fetch() from a page opened as a file (file://), so offline every result raised "Failed to
  fetch". Opened from disk, the search page now lists results without summaries; served over
  http(s) it still shows them.
- MathJax is served from ``book/_static/mathjax`` (see ``mathjax_path`` in `_config.yml`), not a
  CDN; this module checks at build time that the file is really there.

The third fault, "Got invalid theme mode" on a first visit, is fixed in `_config.yml` by giving
pydata-sphinx-theme a ``default_mode``, so an empty localStorage no longer yields the mode "".
"""

from pathlib import Path

from sphinx.errors import ConfigError


def _key(script):
    """What makes two <script> tags the same, whatever spelling of "no file" was used."""
    if isinstance(script, str):
        return (script, None, ())
    attributes = tuple(sorted((name, str(value)) for name, value in script.attributes.items()))
    return (script.filename or "", script.priority, attributes)


def drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # the builder's own list: it restores it after every page


def check_local_mathjax(app, config):
    path = config.mathjax_path
    if "://" in path or path.startswith("//"):
        raise ConfigError(f"mathjax_path must name a file in _static (offline book), not {path!r}")
    static_dirs = [Path(app.confdir, folder) for folder in config.html_static_path]
    if not any((folder / path).is_file() for folder in static_dirs):
        raise ConfigError(
            f"mathjax_path {path!r} is not in any of html_static_path {config.html_static_path}"
        )


SEARCH_SUMMARY_ONLY_WHEN_SERVED = (
    'if (window.location.protocol === "file:") { '
    "DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false; }"
)


def setup(app):
    app.add_js_file(
        None, body=SEARCH_SUMMARY_ONLY_WHEN_SERVED, priority=250
    )  # after documentation_options.js
    app.connect("config-inited", check_local_mathjax)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
