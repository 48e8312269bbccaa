"""save_figure: PNG and PDF side by side, atomically, the folder made, a suffix replaced."""
import numpy as np

from chaossim.plotting import save_figure
from chaossim.plotting.figure import new_figure


def _figure():
    fig = new_figure(3, 2)
    fig.subplots().plot(np.arange(5), np.arange(5) ** 2)
    return fig


def test_writes_png_and_pdf_into_a_new_folder(tmp_path):
    paths = save_figure(_figure(), tmp_path / "a" / "b" / "fig")
    assert paths == [tmp_path / "a" / "b" / "fig.png", tmp_path / "a" / "b" / "fig.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-" and paths[1].stat().st_size > 1000
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["fig.pdf", "fig.png"]  # no temp files left


def test_a_png_or_pdf_suffix_is_replaced_other_dots_kept(tmp_path):
    assert [p.name for p in save_figure(_figure(), tmp_path / "x.png")] == ["x.png", "x.pdf"]
    assert [p.name for p in save_figure(_figure(), tmp_path / "x.PDF")] == ["x.png", "x.pdf"]
    assert [p.name for p in save_figure(_figure(), tmp_path / "g1.5")] == ["g1.5.png", "g1.5.pdf"]


def test_overwrites_in_place(tmp_path):
    first = save_figure(_figure(), tmp_path / "f")[0].read_bytes()
    fig = new_figure(6, 2)
    fig.subplots().plot([0, 1], [1, 0])
    second = save_figure(fig, tmp_path / "f")[0].read_bytes()
    assert first != second
