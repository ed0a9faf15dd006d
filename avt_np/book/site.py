"""mkdocs + mkdocs-material turn the Markdown pages into the static site: contents sidebar,
previous / next links in the footer, highlighted code, search. Configured to need nothing from
outside the site folder, from disk or from a server:

- `theme.font: false`: no Google Fonts (the system's fonts are used);
- `use_directory_urls: false` (set by the offline plugin too): links end in .html and resolve
  under file://;
- the offline plugin inlines the search index into a script (a file:// page cannot fetch it),
  and its web-worker shim (iframe-worker, which the plugin would load from a CDN) is our
  vendored copy in assets/;
- formulas: pymdownx.arithmatex marks `$...$` and `$$...$$` (generic mode) and KaTeX, vendored
  from npm in assets/katex/, renders them in the browser (assets/katex-init.js);
- 404.html links its styles relative to the site's root instead of as /assets/...: it then
  keeps them opened from disk.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ASSETS = Path(__file__).parent / "assets"
SHIM = "iframe-worker-shim.js"       # its name must contain "iframe-worker": the offline plugin
                                     # then keeps it instead of adding the CDN's copy
KATEX = "katex"                      # assets/katex/: KaTeX from npm, see its README.md
STYLE = """\
/* room for the lessons' 100-character lines */
.md-grid { max-width: 90rem; }
/* what a cell printed (class "output", templates/lesson.md.j2): white, with a rule on the left */
.md-typeset .output.highlight pre { border-left: 0.2rem solid var(--md-default-fg-color--lighter); }
.md-typeset .output.highlight pre > code { background: var(--md-default-bg-color); }
/* nothing cut off at the right edge: code and output wrap at any width (a phone's too), a
   wrapped line indented so that it reads as a continuation */
.md-typeset pre > code { white-space: pre-wrap; overflow-wrap: anywhere; }
.md-typeset img { display: block; margin: 0.4em 0 1em; max-width: 100%; height: auto; }
/* a display formula wider than the page scrolls inside itself (KaTeX cannot wrap it) */
.md-typeset .arithmatex { max-width: 100%; overflow-x: auto; overflow-y: hidden; }
"""


class SiteBuildFailed(Exception):
    """mkdocs refused to build (in strict mode: a link that does not resolve, for example)."""


def config(pages, nav):
    """The mkdocs configuration, as a dict (written as JSON, which YAML reads)."""
    return {
        "site_name": "avt_np: the lessons and the docs",
        "docs_dir": str(pages),
        "use_directory_urls": False,
        "nav": nav,
        "theme": {"name": "material", "font": False,
                  # footer: previous / next; indexes: lessons/README.md opens "Lessons"
                  "features": ["navigation.footer", "navigation.indexes", "navigation.top",
                               "content.code.copy", "toc.follow"]},
        "plugins": ["search", "offline"],
        "extra": {"polyfills": [f"assets/{SHIM}"], "generator": False},
        "extra_css": [f"assets/{KATEX}/katex.min.css", "assets/book.css"],
        "extra_javascript": [f"assets/{KATEX}/katex.min.js",
                             f"assets/{KATEX}/auto-render.min.js", "assets/katex-init.js"],
        "markdown_extensions": [
            "admonition", "attr_list", "tables", {"toc": {"permalink": True}},
            "pymdownx.highlight", "pymdownx.superfences", "pymdownx.details",
            {"pymdownx.arithmatex": {"generic": True}}],
        "validation": {"nav": {"omitted_files": "info"},
                       "links": {"not_found": "warn", "unrecognized_links": "warn",
                                 "absolute_links": "warn", "anchors": "info"}},
    }


def build_site(pages, nav, out, workdir):
    """Build the site from the Markdown folder `pages` into `out` (created; must not exist) with
    mkdocs --strict: any warning, such as a link that does not resolve, is a SiteBuildFailed
    naming it."""
    pages = Path(pages)
    (pages / "assets").mkdir(exist_ok=True)
    shutil.copy(ASSETS / SHIM, pages / "assets" / SHIM)
    shutil.copytree(ASSETS / KATEX, pages / "assets" / KATEX, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.md", "LICENSE"))
    (pages / "assets" / "book.css").write_text(STYLE, encoding="utf-8")
    shutil.copy(ASSETS / "katex-init.js", pages / "assets" / "katex-init.js")
    config_file = Path(workdir) / "mkdocs.yml"
    config_file.write_text(json.dumps(config(pages, nav), indent=1), encoding="utf-8")
    # not --quiet: it hides the warnings from --strict, which then passes them
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "--config-file", str(config_file), "--site-dir", str(out)],
                          cwd=workdir, capture_output=True, text=True,
                          env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    if done.returncode != 0:
        said = (done.stderr + done.stdout).splitlines()
        problems = [" ".join(line.split()) for line in said
                    if line.startswith(("WARNING", "ERROR"))]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise SiteBuildFailed("mkdocs: " + (problems[0] + more if problems else
                                            said[-1] if said else "failed"))
    relative_404(Path(out) / "404.html")


def relative_404(path):
    """404.html (at the site's root) with its /assets/... links made relative: mkdocs writes
    them from the root of a server, which a page opened from disk does not have."""
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        for attribute in ("href", "src"):
            text = text.replace(f'{attribute}="/', f'{attribute}="./')
        # mkdocs-material's page configuration: the site's root and the search worker
        text = text.replace('"base": "/"', '"base": "."').replace('"search": "/assets/',
                                                                  '"search": "./assets/')
        path.write_text(text.replace('"./"', '"./index.html"'), encoding="utf-8")
