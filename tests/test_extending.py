"""docs/extending.md runs as written: its first python block saved as my_arch.py in a fresh folder, its first bash
block run there (train, evaluate, plot, doctor, a sweep grouped and one ungrouped), with no edit of the package."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def _first_block(text: str, lang: str) -> str:
    m = re.search(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)
    assert m, f"docs/extending.md has no ```{lang} block"
    return m.group(1)


@pytest.mark.slow
def test_the_page_runs_as_written(tmp_path):
    text = PAGE.read_text()
    (tmp_path / "my_arch.py").write_text(_first_block(text, "python"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")  # this environment's chaossim
    env.pop("PYTHONPATH", None)  # the user's folder is found because the commands run from it
    run = subprocess.run(["bash", "-e", "-c", _first_block(text, "bash")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "all checks passed" in run.stdout and "my_arch:Chain4 single" in run.stdout  # the doctor checked it
    assert (tmp_path / "figures" / "fig5_training.png").is_file()
    header = (tmp_path / "runs" / "chain4" / "history.csv").read_text().split("\n")[0]
    assert header == "t_age,E2,Es,EAAI,ER"

    import xarray as xr

    grouped, alone = xr.open_zarr(tmp_path / "chain4.zarr"), xr.open_zarr(tmp_path / "chain4_alone.zarr")
    assert grouped.done.values.all() and alone.done.values.all()
    assert (grouped.group_size.values == 4).all() and (alone.group_size.values == 1).all()
    assert grouped.param_A3.dims == ("g", "seed", "hidden2", "hidden3")  # the architecture's dimension names
    assert np.isfinite(grouped.param_A3.values).all() and np.abs(grouped.param_A3.values).max() > 0
    bookkeeping = {"wall_time", "completed_at", "run_id", "group_size"}
    for name in grouped.data_vars:  # the points are the same trained together or alone (to the bit on NumPy)
        if name not in bookkeeping:
            np.testing.assert_array_equal(grouped[name].values, alone[name].values, err_msg=name)
