import io

import matplotlib.image
import numpy as np
from matplotlib.figure import Figure


def rendered(fig) -> np.ndarray:
    """The figure as an RGB(A) image (rendered to PNG in memory, read back): it draws without error and is
    not a blank canvas."""
    assert isinstance(fig, Figure)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    buf.seek(0)
    img = matplotlib.image.imread(buf)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    assert img[..., :3].std() > 0.01  # not a blank canvas
    return img


def line_data(ax) -> list[tuple[np.ndarray, np.ndarray]]:
    """(x, y) of the data lines of an axes (reference lines, drawn with two points at the axes' limits by
    axhline/axvline, are the ones whose transform is not the data transform)."""
    return [(np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)) for ln in ax.get_lines()
            if ln.get_transform() is ax.transData]
