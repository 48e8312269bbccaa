"""The schema record of a sweep store: what arrays it must hold, and checksums where zarr has none
(docs/store.md "Integrity", docs/faults.md).

zarr's ``crc32c`` codec guards the chunks; nothing guards the metadata. So when a store is laid out it
records, in its root attributes:

* ``arrays``: every array it holds, with the part of its metadata that gives its values their meaning and
  does not depend on how it is chunked or sharded: dimension names, shape, data type, fill value and a hash
  of its attributes (:func:`array_record`);
* ``attributes_sha256``: a hash of every other root attribute (the spec, the grid's order, the schema version,
  the record above).

:func:`check_metadata` compares, in bulk and without decoding any chunk, each array's own ``zarr.json`` and
its entry in the consolidated metadata (what ``xarray.open_zarr`` reads) with that record. An array's metadata
that is missing or differs is damage the sweep's re-run repairs: it rebuilds the metadata from the spec and
consolidates again (:func:`chaossim.sweep.repair.repair_store`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import StoreError

ARRAYS_ATTR = "arrays"
CHECKSUM_ATTR = "attributes_sha256"
MARKER = "chaossim_sweep"
SCHEMA_VERSION = 4
"""1: the first stores; 2: crc32c checksums on every array, every chunk of a done point written; 3: the schema
record and the attributes' checksum, each point's data fingerprint and package versions, the grid's order in
the spec's identity; 4: chunks of several grid points (each task writes whole chunks), CF attributes
(``long_name`` on every variable and coordinate, ``units`` on every time axis)."""
READABLE_SCHEMAS = (1, 2, 3, 4)  # read by the report and notebooks; only SCHEMA_VERSION stores are resumed
RECORDED_SCHEMAS = (3, 4)  # schemas with a schema record


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]


def array_record(meta: dict) -> dict:
    """The chunk-independent part of an array's zarr v3 metadata (its ``zarr.json``, or its entry in the
    consolidated metadata): dims, shape, data type, fill value, and a hash of its attributes."""
    return {
        "dims": list(meta.get("dimension_names") or []),
        "shape": list(meta.get("shape") or []),
        "data_type": meta.get("data_type"),
        "fill_value": meta.get("fill_value"),
        "attributes": _sha(meta.get("attributes") or {}),
    }


def attributes_checksum(attrs: dict) -> str:
    """The hash of a store's root attributes, the checksum itself left out."""
    return _sha({k: v for k, v in attrs.items() if k != CHECKSUM_ATTR})


def read_json(path: Path) -> dict:
    """A metadata file as JSON (raises OSError or ValueError)."""
    obj = json.loads(Path(path).read_text())
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj


def schema_version(attrs: dict, path) -> int:
    """The store's schema version, checked by type and value: an int in :data:`READABLE_SCHEMAS`."""
    if MARKER not in attrs:
        raise StoreError(
            f"{path} is a zarr store but not a chaossim sweep (no '{MARKER}' attribute); choose another --store path."
        )
    v = attrs[MARKER]
    if type(v) is not int or v not in READABLE_SCHEMAS:
        raise StoreError(
            f"{path} has sweep schema version {v!r} ({type(v).__name__}); this chaossim reads the integers "
            f"{list(READABLE_SCHEMAS)}. Its attributes were changed, or it was made by another chaossim: use that "
            "version, or a new --store (the checkpoints in PATH.runs/ can be moved along)."
        )
    return v


def record_schema(path) -> None:
    """Write the schema record and the attributes' checksum into a freshly laid-out store (before it is
    consolidated)."""
    import zarr

    path = Path(path)
    root = read_json(path / "zarr.json")
    arrays = {}
    for meta_file in sorted(path.glob("*/zarr.json")):
        meta = read_json(meta_file)
        if meta.get("node_type") == "array":
            arrays[meta_file.parent.name] = array_record(meta)
    attrs = dict(root.get("attributes") or {})
    attrs[ARRAYS_ATTR] = arrays
    attrs.pop(CHECKSUM_ATTR, None)
    attrs = json.loads(json.dumps(attrs))  # as it reads back
    group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    group.attrs.update({ARRAYS_ATTR: arrays, CHECKSUM_ATTR: attributes_checksum(attrs)})


@dataclass
class MetadataProblem:
    """An array's metadata that is missing or differs from the schema record. ``where``: 'zarr.json' (the
    array's own metadata; 'array' when its whole folder is gone) or 'consolidated'."""

    variable: str
    where: str
    problem: str

    def __str__(self) -> str:
        place = {"array": "", "zarr.json": f" ({self.variable}/zarr.json)", "consolidated": " (consolidated metadata)"}
        return f"{self.variable} metadata{place.get(self.where, '')}: {self.problem}"


def _differences(found: dict, recorded: dict) -> str:
    out = []
    for key in ("dims", "shape", "data_type", "fill_value", "attributes"):
        if found.get(key) != recorded.get(key):
            a, b = found.get(key), recorded.get(key)
            if key == "attributes":
                out.append("attributes changed")
            else:
                out.append(f"{key} {_show(a)} where the schema records {_show(b)}")
    return "; ".join(out)


def _show(v) -> str:
    return f"({', '.join(map(str, v))})" if isinstance(v, list) else json.dumps(v)


def check_metadata(path, root: dict, files=None) -> tuple[list[MetadataProblem], list[str], dict]:
    """Compare every recorded array's own metadata and its consolidated entry with the record of ``root``
    (the parsed root ``zarr.json`` of a store with a schema record). Returns (problems, store-wide problems
    (the attributes' checksum), the recorded arrays). ``files``: the store's
    :class:`chaossim.sweep.location.Files` (listed and read in bulk; made here if not given)."""
    from .location import Files

    files = files if files is not None else Files(path)
    attrs = dict(root.get("attributes") or {})
    store_wide = []
    if attrs.get(CHECKSUM_ATTR) != attributes_checksum(attrs):
        store_wide.append(
            "the store's attributes (spec, schema version, schema record) do not match their checksum: they "
            "were changed after the store was laid out"
        )
    recorded = attrs.get(ARRAYS_ATTR)
    if not isinstance(recorded, dict):
        return [], [*store_wide, "the store's schema record (attribute 'arrays') is missing"], {}
    problems = []
    consolidated = ((root.get("consolidated_metadata") or {}).get("metadata")) or {}
    files.prefetch([f"{name}/zarr.json" for name in recorded])
    for name, rec in recorded.items():
        if not any(n.startswith(name + "/") for n in files.names):
            problems.append(MetadataProblem(name, "array", "the array is missing"))
        else:
            try:
                found = array_record(files.read_json(f"{name}/zarr.json"))
            except FileNotFoundError:
                problems.append(MetadataProblem(name, "zarr.json", "missing"))
            except (OSError, ValueError) as exc:
                problems.append(MetadataProblem(name, "zarr.json", f"damaged ({type(exc).__name__})"))
            else:
                diff = _differences(found, rec)
                if diff:
                    problems.append(MetadataProblem(name, "zarr.json", diff))
        entry = consolidated.get(name)
        if entry is None:
            problems.append(MetadataProblem(name, "consolidated", "missing"))
        elif not isinstance(entry, dict):
            problems.append(MetadataProblem(name, "consolidated", "damaged"))
        else:
            diff = _differences(array_record(entry), rec)
            if diff:
                problems.append(MetadataProblem(name, "consolidated", diff))
    return problems, store_wide, recorded
