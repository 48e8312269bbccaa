"""MkDocs hook: adds the generated pages (gallery, executed notebooks) to the site.

``python docs/build.py`` writes them into ``build/docs/pages/`` (never committed); this hook adds every file
found there to the files MkDocs builds, at the same relative path (``gallery.md``, ``gallery/*.png``,
``notebooks/*.ipynb``), before the other plugins (mkdocs-jupyter) see the file list.
"""
from __future__ import annotations

from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

GENERATED = Path(__file__).resolve().parent.parent / "build" / "docs" / "pages"


@event_priority(100)  # before mkdocs-jupyter turns the notebooks into pages
def on_files(files, config):
    if not (GENERATED / "gallery.md").is_file():
        raise PluginError(f"the generated pages are missing ({GENERATED}); build the site with "
                          "`python docs/build.py`, which makes them and then runs `mkdocs build --strict`.")
    for path in sorted(p for p in GENERATED.rglob("*") if p.is_file()):
        rel = path.relative_to(GENERATED).as_posix()
        if files.get_file_from_path(rel) is not None:
            raise PluginError(f"generated page {rel} would replace docs/{rel}; remove one of them.")
        files.append(File(rel, str(GENERATED), config["site_dir"], config["use_directory_urls"]))
    return files
