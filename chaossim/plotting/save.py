"""Saving a figure: PNG and PDF side by side, each written atomically (a crash never leaves half a file)."""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.figure import Figure

from ..io import atomic_write_bytes

PNG_DPI = 150
"""Resolution of the PNG files (the PDF is vector)."""


def save_figure(fig: Figure, path: str | Path) -> list[Path]:
    """Write ``path.png`` and ``path.pdf`` (a ``.png`` or ``.pdf`` suffix of ``path`` is replaced), each
    atomically, creating the folder if needed. Returns the two paths written.

    The figure is rendered by matplotlib's file writers for each format; the caller's backend and pyplot's
    figures are left alone.
    """
    path = Path(path)
    if path.suffix.lower() in (".png", ".pdf"):
        path = path.with_suffix("")
    written = []
    for fmt in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=PNG_DPI if fmt == "png" else None)
        out = path.parent / f"{path.name}.{fmt}"
        atomic_write_bytes(out, buf.getvalue())
        written.append(out)
    return written
