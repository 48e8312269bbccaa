"""MkDocs hook: adds the generated pages (gallery, executed notebooks) and the math renderer to the site, and
keeps every page free of outside loads.

``python docs/build.py`` writes the generated pages into ``build/docs/pages/`` (never committed); this hook adds
every file found there to the files MkDocs builds, at the same relative path (``gallery.md``, ``gallery/*.png``,
``notebooks/*.ipynb``), before the other plugins (mkdocs-jupyter) see the file list. MathJax 3
(``tex-svg-full.js``, from the django-static-mathjax package of the docs extra) is copied to
``javascripts/mathjax/`` so that the site renders its equations without a network. The notebook pages of
mkdocs-jupyter carry a loader of MathJax 2 from a web CDN (nbconvert's template); it is removed, the site's own
MathJax renders those pages too. A page that would still load a script, style sheet, font, image or frame
from outside fails the build.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

GENERATED = Path(__file__).resolve().parent.parent / "build" / "docs" / "pages"
MATHJAX = "javascripts/mathjax/tex-svg-full.js"

#: nbconvert's base/mathjax.html.j2: a <script src=CDN> and its MathJax 2 configuration, between these comments
_NBCONVERT_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
#: an attribute that makes the browser fetch something: src, href of <link>, srcset, poster, data of <object>,
#: and url(...) in inline styles
_FETCHED = re.compile(
    r"<(?:script|img|iframe|source|audio|video|embed|track)\b[^>]*?\s(?:src|srcset|poster)\s*=\s*[\"']?(?P<a>[^\"'\s>]+)"
    r"|<link\b[^>]*?\shref\s*=\s*[\"']?(?P<b>[^\"'\s>]+)"
    r"|<object\b[^>]*?\sdata\s*=\s*[\"']?(?P<c>[^\"'\s>]+)"
    r"|url\(\s*[\"']?(?P<d>(?:https?:)?//[^\"')\s]+)",
    re.I,
)


def mathjax_file() -> Path:
    """The MathJax 3 component the site serves (from the installed django-static-mathjax package)."""
    try:
        import mathjax
    except ImportError:
        mathjax = None
    path = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5" / "tex-svg-full.js" if mathjax else None
    if path is None or not path.is_file():
        raise PluginError(
            "MathJax is not installed (the site serves it, so that it works without a network); install the "
            'docs extra: python -m pip install -e ".[docs]"'
        )
    return path


def outside_loads(html: str) -> list[str]:
    """The URLs on other hosts that the page ``html`` would load (scripts, styles, fonts, images, frames)."""
    urls = [m.group(m.lastgroup) for m in _FETCHED.finditer(html) if m.lastgroup]
    return [u for u in urls if re.match(r"^(?:[a-z][a-z0-9+.-]*:)?//", u, re.I) and not u.startswith("file:")]


@event_priority(100)  # before mkdocs-jupyter turns the notebooks into pages
def on_files(files, config):
    if not (GENERATED / "gallery.md").is_file():
        raise PluginError(
            f"the generated pages are missing ({GENERATED}); build the site with "
            "`python docs/build.py`, which makes them and then runs `mkdocs build --strict`."
        )
    for path in sorted(p for p in GENERATED.rglob("*") if p.is_file()):
        rel = path.relative_to(GENERATED).as_posix()
        if files.get_file_from_path(rel) is not None:
            raise PluginError(f"generated page {rel} would replace docs/{rel}; remove one of them.")
        files.append(File(rel, str(GENERATED), config["site_dir"], config["use_directory_urls"]))
    files.append(File.generated(config, MATHJAX, abs_src_path=str(mathjax_file())))
    return files


def on_post_page(output, page, config):
    output = _NBCONVERT_MATHJAX.sub("", output)
    outside = outside_loads(output)
    if outside:
        raise PluginError(
            f"page {page.file.src_uri} loads from outside the site: {', '.join(sorted(set(outside)))}; the site "
            "must work without a network (serve the file from the site, or drop it)."
        )
    return output
