"""Verify a sweep store: read every chunk of every point, find the damaged and the missing ones.

Every array of a store (schema 2) carries zarr's ``crc32c`` checksum codec, so a flipped bit or a
garbage chunk fails to decode instead of reading back as another number. A point whose ``done`` flag
(or status) says it is complete must have every one of its chunks on disk (points write even all-NaN
chunks): a missing chunk would otherwise read back as NaN, silently. Points not yet done may lack
chunks, but a chunk of theirs that exists must decode. Damage outside the points (coordinates,
``data_samples``) is reported separately. See docs/faults.md.

``chaossim sweep-verify STORE`` prints the result; ``chaossim sweep SWEEP.toml --store STORE`` uses it to
re-run the damaged points (:func:`chaossim.sweep.cluster.run_sweep`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StoreError
from .store import DONE_VARIABLE, MARKER, check_zarr_folder, quiet_zarr, runs_dir

CHECKSUM_CODEC = "crc32c"


@dataclass
class ChunkProblem:
    variable: str
    key: str  # the chunk's key inside the variable, e.g. "c/0/1/0"
    problem: str  # "missing" or "damaged (<why>)"

    def __str__(self) -> str:
        return f"{self.variable} chunk {self.key}: {self.problem}"


@dataclass
class VerifyReport:
    """What :func:`verify_store` found. Point indices are flat (C order over the grid)."""

    store: Path
    grid_dims: tuple = ()
    grid_shape: tuple = ()
    labels: list = field(default_factory=list)  # "g=1, T=20" per point
    n_chunks: int = 0  # chunks read
    claimed_done: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    problems: dict = field(default_factory=dict)  # point -> [ChunkProblem]
    store_wide: list = field(default_factory=list)  # problems outside the points
    unchecked: list = field(default_factory=list)  # arrays without a checksum codec

    @property
    def n_points(self) -> int:
        return int(np.prod(self.grid_shape)) if self.grid_shape else 0

    @property
    def damaged_points(self) -> list[int]:
        return sorted(self.problems)

    @property
    def intact_done(self) -> np.ndarray:
        """Flat flags: the point is done and every chunk of it is present and decodes."""
        flags = self.claimed_done.copy()
        flags[self.damaged_points] = False
        return flags

    @property
    def ok(self) -> bool:
        return not self.problems and not self.store_wide

    def label(self, index: int) -> str:
        return self.labels[index] if index < len(self.labels) else f"point {index}"

    def lines(self, limit: int | None = None) -> list[str]:
        """One line per damaged or missing chunk (at most ``limit`` per point), by point."""
        out = [f"store-wide array {p}" for p in self.store_wide]
        for i in self.damaged_points:
            probs = self.problems[i]
            shown = probs if limit is None else probs[:limit]
            state = "done" if self.claimed_done[i] else "not done"
            for p in shown:
                out.append(f"point {i} ({self.label(i)}, {state}): {p}")
            if len(probs) > len(shown):
                out.append(f"point {i} ({self.label(i)}): ... and {len(probs) - len(shown)} more")
        return out


def _chunk_files(var_dir: Path) -> set[str]:
    """Keys ("c/0/1/0") of the chunk files of one array (zarr's half-written .partial files excluded)."""
    root = var_dir / "c"
    keys: set[str] = set()
    for dirpath, _, files in os.walk(root):
        rel = Path(dirpath).relative_to(var_dir).as_posix()
        keys.update(f"{rel}/{f}" for f in files if not f.endswith(".partial"))
    return keys


def _describe(exc: BaseException) -> str:
    text = str(exc).split("\n")[0][:160]
    if "checksum" in text.lower():
        return "damaged (checksum mismatch: the bytes on disk changed)"
    return f"damaged (cannot be decoded: {type(exc).__name__}: {text})"


def verify_store(path, variables=None) -> VerifyReport:
    """Read every chunk of the sweep store ``path`` (or of ``variables`` only, plus ``done`` and
    ``status``) and report damaged and missing ones. Raises StoreError when the store cannot be opened."""
    import zarr

    path = Path(path)
    if not path.is_dir():
        raise StoreError(f"sweep store {path} does not exist (or is not a folder).")
    check_zarr_folder(path)
    try:
        with quiet_zarr():
            root = zarr.open_group(str(path), mode="r", use_consolidated=False)
            attrs: dict[str, Any] = dict(root.attrs)
    except Exception as exc:
        raise StoreError(
            f"{path} is not a readable zarr store ({type(exc).__name__}: {exc}); its metadata is "
            "damaged. Move it away and run the sweep again (the checkpoints in "
            f"{runs_dir(path).name}/ are reused)."
        ) from None
    if MARKER not in attrs:
        raise StoreError(f"{path} is a zarr store but not a chaossim sweep (no '{MARKER}' attribute).")
    grid_dims = tuple(attrs.get("grid_dims", []))
    every_chunk_written = attrs.get(MARKER, 0) >= 2  # schema 1 skipped all-NaN chunks: absence proves nothing
    names = sorted(p.name for p in path.iterdir() if (p / "zarr.json").is_file())
    report = VerifyReport(store=path, grid_dims=grid_dims)
    arrays: dict[str, Any] = {}  # name -> zarr.Array
    for name in names:
        try:
            with quiet_zarr():
                arrays[name] = root[name]
        except Exception as exc:
            report.store_wide.append(ChunkProblem(name, "zarr.json", f"damaged metadata ({type(exc).__name__})"))
    missing_dims = [d for d in grid_dims if d not in arrays]
    if missing_dims or DONE_VARIABLE not in arrays:
        raise StoreError(
            f"{path} is a damaged sweep store: {missing_dims or [DONE_VARIABLE]} cannot be read. Move "
            f"it away and run the sweep again (completed checkpoints in {runs_dir(path)}/ are reused)."
        )
    report.grid_shape = tuple(int(arrays[DONE_VARIABLE].shape[i]) for i in range(len(grid_dims)))
    n = report.n_points
    ng = len(grid_dims)
    present: dict[int, set] = {}  # point -> variables with their chunk present
    expected = []  # point variables (checked for presence at done points)
    values: dict[str, np.ndarray] = {}
    wanted = None if variables is None else set(variables) | {DONE_VARIABLE, "status"}
    for name, arr in arrays.items():
        dims = tuple(arr.metadata.dimension_names or ())
        is_point = ng > 0 and dims[:ng] == grid_dims
        if wanted is not None and (name not in wanted and is_point):
            continue
        if not any(c.to_dict().get("name") == CHECKSUM_CODEC for c in _codecs(arr)):
            report.unchecked.append(name)
        files = _chunk_files(path / name)
        if is_point:
            expected.append(name)
        report.n_chunks += len(files)
        bad = _read_chunks(arr, files, keep=name in (DONE_VARIABLE, "status"), out=values, name=name)
        for coords, problem in bad:
            key = arr.metadata.encode_chunk_key(coords)
            if is_point:
                point = int(np.ravel_multi_index(coords[:ng], report.grid_shape))
                report.problems.setdefault(point, []).append(ChunkProblem(name, key, problem))
            else:
                report.store_wide.append(ChunkProblem(name, key, problem))
        if is_point:
            for coords in np.ndindex(*arr.cdata_shape):
                if arr.metadata.encode_chunk_key(coords) in files:
                    point = int(np.ravel_multi_index(coords[:ng], report.grid_shape))
                    present.setdefault(point, set()).add((name, coords[ng:]))
    # which points say they are done
    claimed = np.zeros(n, dtype=bool)
    if DONE_VARIABLE in values:
        claimed |= np.asarray(values[DONE_VARIABLE], dtype=bool).reshape(-1)
    if "status" in values:
        claimed |= np.asarray(values["status"]).reshape(-1) == "done"
    report.claimed_done = claimed
    for flat in np.flatnonzero(claimed if every_chunk_written else np.zeros_like(claimed)):
        point = int(flat)
        idx = tuple(int(i) for i in np.unravel_index(point, report.grid_shape))
        have = present.get(point, set())
        for name in expected:
            arr = arrays[name]
            for rest in np.ndindex(*arr.cdata_shape[ng:]):
                if (name, rest) not in have:
                    key = arr.metadata.encode_chunk_key(idx + rest)
                    report.problems.setdefault(point, []).append(ChunkProblem(name, key, "missing"))
    report.labels = _labels(arrays, grid_dims, report.grid_shape)
    return report


def _codecs(arr):
    try:
        return list(arr.metadata.codecs)
    except AttributeError:  # pragma: no cover - zarr v2 arrays
        return []


def _read_chunks(arr, files: set, *, keep: bool, out: dict, name: str) -> list:
    """Read ``arr`` slab by slab along its first axis (one slab: all chunks sharing the first chunk
    index); where a slab fails, chunk by chunk. Returns [(chunk coords, problem)] of the chunks that
    exist but do not decode. With ``keep`` the values are stored in ``out[name]`` (damaged: fill)."""
    bad: list = []
    if arr.ndim == 0:
        try:
            value = arr[...]
        except Exception as exc:
            return [((), _describe(exc))]
        if keep:
            out[name] = value
        return bad
    chunk0 = arr.chunks[0]
    data: Any = np.full(arr.shape, arr.fill_value, dtype=arr.dtype) if keep else None
    for c0 in range(arr.cdata_shape[0]):
        sel = slice(c0 * chunk0, min((c0 + 1) * chunk0, arr.shape[0]))
        slab_keys = [(c0, *rest) for rest in np.ndindex(*arr.cdata_shape[1:])]
        if not any(arr.metadata.encode_chunk_key(c) in files for c in slab_keys):
            continue
        try:
            with quiet_zarr():
                block = arr[sel]
            if keep:
                data[sel] = block
            continue
        except Exception:
            pass
        for coords in slab_keys:
            if arr.metadata.encode_chunk_key(coords) not in files:
                continue
            try:
                with quiet_zarr():
                    block = arr.get_block_selection(coords)
                if keep:
                    data[tuple(slice(c * s, c * s + b) for c, s, b in zip(coords, arr.chunks, block.shape))] = block
            except Exception as exc:
                bad.append((coords, _describe(exc)))
    if keep:
        out[name] = data
    return bad


def _labels(arrays: dict, grid_dims: tuple, shape: tuple) -> list[str]:
    coords: dict[str, Any] = {}
    for d in grid_dims:
        try:
            with quiet_zarr():
                coords[d] = list(arrays[d][...])
        except Exception:
            coords[d] = None
    out = []
    for idx in np.ndindex(*shape):
        parts = []
        for d, i in zip(grid_dims, idx):
            vals = coords[d]
            parts.append(f"{d}={_fmt(vals[i])}" if vals is not None else f"{d}[{i}]")
        out.append(", ".join(parts))
    return out


def _fmt(v) -> str:
    """As :meth:`SweepSpec.point_label` writes values (2.0, "digits")."""
    return str(v.item() if isinstance(v, np.generic) else v)


def checkpoint_state(store, spec, index: int) -> str:
    """How a re-run of point ``index`` will start: from its intact checkpoint, or from scratch."""
    from ..io import load_npz

    run = runs_dir(store) / spec.point_key(index)
    ck = run / "checkpoint.npz"
    if not ck.is_file():
        return "no checkpoint: it will be trained from scratch"
    if not (run / "config.toml").is_file():
        return "its checkpoint has no config.toml: it will be set aside and the point trained from scratch"
    try:
        step = int(load_npz(ck)["step"])
    except Exception:
        return "its checkpoint is damaged too: it will be set aside and the point trained from scratch"
    return f"checkpoint intact at step {step}: training continues from there"


def summary_line(report: VerifyReport) -> str:
    n_done = int(report.intact_done.sum())
    text = (
        f"{report.n_points} points, {n_done} done and intact, {len(report.damaged_points)} damaged; "
        f"{report.n_chunks} chunks read"
    )
    if report.store_wide:
        text += f"; {len(report.store_wide)} store-wide array chunk(s) damaged"
    return text
