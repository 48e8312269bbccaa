"""Points of the data space drawn as images: grey levels and mosaics of many images."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DataError
from .figure import host


def to_grey(x: Any, image_shape: Sequence[int]) -> np.ndarray:
    """Points in [-1, 1] (rows) as grey images in [0, 1] of shape (..., H, W), white = 1: the inverse of the
    data map x = 2 grey - 1 (docs/model.md, "Notation"), as :meth:`chaossim.data.Dataset.to_image`."""
    a = host(x, np.float32)
    h, w = (int(s) for s in image_shape)
    if a.shape[-1] != h * w:
        raise DataError(
            f"points have {a.shape[-1]} values but the image shape {h}x{w} needs {h * w}; "
            "pass the image_shape of the dataset the run was trained on."
        )
    return np.clip((a + 1.0) * 0.5, 0.0, 1.0).reshape((*a.shape[:-1], h, w))


def mosaic(images: Any, n_cols: int | None = None, gap: int = 1, fill: float = 1.0) -> np.ndarray:
    """Tile images (n x H x W) into one array, row-major with ``n_cols`` columns and ``gap`` pixels of
    ``fill`` between them (NaN fill is drawn as the axes background)."""
    imgs = host(images, float)
    n, h, w = imgs.shape
    n_cols = n if n_cols is None else max(1, int(n_cols))
    n_rows = math.ceil(n / n_cols)
    out = np.full((n_rows * (h + gap) - gap, n_cols * (w + gap) - gap), fill)
    for k in range(n):
        r, c = divmod(k, n_cols)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = imgs[k]
    return out
