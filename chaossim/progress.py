"""What a run tells while it runs and when it ends (docs/faults.md, "Run directories").

* :func:`log_line`: at each logged step (``training.log_every``) one line is appended to ``history.csv`` and
  ``meta.json`` is rewritten with the last indices, so ``tail -f RUN/history.csv`` or a notebook follows a run.
* :func:`describe_size` and :func:`estimate_duration`: before training, the run's size and its duration
  estimated from a few timed steps, with a warning when it is long for the backend.
* :func:`summary`: at the end of a command, the paths written, the change of each index from step 0 and the
  next command to run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .evaluation import INDEX_NAMES

HISTORY_FILE = "history.csv"


def history_header() -> str:
    return ",".join(("t_age", *INDEX_NAMES))


def history_row(history: dict, i: int) -> str:
    return ",".join([str(int(history["t_age"][i]))] + [f"{history[c][i]:.6g}" for c in INDEX_NAMES])


def log_line(run_dir, history: dict) -> None:
    """Append the last logged row of ``history`` to ``run_dir/history.csv`` (the header first when the file is
    new), flushed at once. The checkpoint rewrites the whole file atomically (so after a crash the file is
    rebuilt from the checkpoint on resume, never left with rows the resumed run repeats)."""
    path = Path(run_dir) / HISTORY_FILE
    head = "" if path.is_file() and path.stat().st_size else history_header() + "\n"
    with open(path, "a") as f:
        f.write(head + history_row(history, len(history["t_age"]) - 1) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_history_csv(path) -> dict[str, np.ndarray]:
    """The columns of a ``history.csv`` (also while the run writes it: a partly written last line is left out)."""
    text = Path(path).read_text()
    lines = [ln for ln in text.split("\n")[1:] if ln]
    if not text.endswith("\n") and lines:
        lines = lines[:-1]
    cols = ("t_age", *INDEX_NAMES)
    rows = [ln.split(",") for ln in lines]
    out = {c: np.array([float(r[i]) for r in rows]) for i, c in enumerate(cols)}
    out["t_age"] = out["t_age"].astype(np.int64)
    return out
