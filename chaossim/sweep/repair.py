"""Repairing a sweep store's metadata and store-wide arrays from its spec (docs/faults.md, "Repair").

A store's layout is a function of its spec and its data: laid out again from the same spec (in a temporary
folder beside it), every array gets the same metadata, and the coordinates and ``data_samples`` the same
values. So what :func:`chaossim.sweep.verify.verify_store` finds missing or changed there is rebuilt from
such a template: an array's ``zarr.json`` (its chunks are then read and checked by their checksums like
any other), a whole missing array (its points, which lost their chunks, are re-run or re-read from their
intact checkpoints), a coordinate or ``data_samples`` whose chunks are damaged; then the metadata is
consolidated again, which also repairs a consolidated metadata that differs from the schema record.
The template's schema record must equal the store's: otherwise the spec or the data differ and nothing
is touched. The root attributes (the spec itself, guarded by their checksum) are not rebuilt: a store whose
attributes changed is refused with the way out.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import StoreError
from .schema import ARRAYS_ATTR, read_json
from .store import consolidate, create_store, runs_dir
from .verify import VerifyReport


def repair_store(store, spec, report: VerifyReport, backend: str = "numpy") -> list[str]:
    """Rebuild the metadata and store-wide arrays ``report`` lists as missing, changed or damaged (see the
    module docstring), then consolidate. Returns one line per repair. Call while holding the store's lock."""
    from .location import target

    if not target(store).local:
        if any(p.where != "consolidated" for p in report.metadata) or report.store_wide or report.attributes:
            raise StoreError(
                f"{target(store).url} is damaged outside its points ({'; '.join(report.lines()[:3])}); on an object "
                "store chaossim repairs only the consolidated metadata. Move the store's objects away (keep "
                "PATH.zarr.runs/) and run the same command: the store is laid out again and every point continues "
                "from its checkpoint."
            )
        consolidate(store)
        return ["consolidated metadata written again from the arrays' own metadata"] if report.metadata else []
    store = Path(store)
    if report.attributes:
        raise StoreError(
            f"{store} cannot be repaired: {'; '.join(report.attributes)}. Move it away and run the same command: "
            f"the store is laid out again and every point continues from its checkpoint in {runs_dir(store).name}/."
        )
    own = {p.variable: p for p in report.metadata if p.where != "consolidated"}
    wide = sorted({p.variable for p in report.store_wide})
    done: list[str] = []
    if own or wide:
        tmp = store.with_name(f".{store.name}.template-{os.getpid()}")
        if tmp.exists():
            shutil.rmtree(tmp)
        try:
            create_store(tmp, spec, backend=backend)
            fresh = read_json(tmp / "zarr.json")["attributes"][ARRAYS_ATTR]
            recorded = read_json(store / "zarr.json")["attributes"].get(ARRAYS_ATTR) or {}
            for name in [*own, *wide]:
                if name not in fresh or (name in recorded and fresh[name] != recorded[name]):
                    raise StoreError(
                        f"the metadata of {name} in {store} cannot be rebuilt from the spec: laid out again, it "
                        "differs from the store's schema record (the spec or the data are not those of the store). "
                        "Move the store away and run the same command; every point continues from its checkpoint."
                    )
            for name, problem in own.items():
                if problem.where == "array" or not (store / name).is_dir():
                    shutil.copytree(tmp / name, store / name)
                    done.append(f"{name}: the missing array laid out again (its points are re-run)")
                else:
                    _replace_file(tmp / name / "zarr.json", store / name / "zarr.json")
                    done.append(f"{name}: metadata rebuilt from the spec ({problem.problem})")
            for name in wide:
                if name in own:
                    continue
                aside = store / f".{name}.damaged-{os.getpid()}"
                os.replace(store / name, aside)
                shutil.copytree(tmp / name, store / name)
                shutil.rmtree(aside, ignore_errors=True)
                done.append(f"{name}: rewritten from the spec (its chunks were damaged)")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if report.metadata or done:
        consolidate(store)
        if any(p.where == "consolidated" for p in report.metadata):
            done.append("consolidated metadata written again from the arrays' own metadata")
    return done


def _replace_file(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
