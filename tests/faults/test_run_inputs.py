"""Issue 18, the rows about run directories: a run is bound to its inputs. Its checkpoint records the settings and
a fingerprint of the data it was trained on, its config.toml holds every setting, and a resume on a config.toml
cut short, another run's checkpoint or changed data is refused with one line naming the input that changed.

The commands run in this process through ``chaossim.cli.app.main`` (the line a user sees is what they print)."""
import json
import shutil

import numpy as np
import pytest

from chaossim.cli.app import main
from chaossim.config import RunConfig
from chaossim.errors import ChaossimWarning, StoreError
from chaossim.runs.rundir import load_checkpoint
from chaossim.runs.training import train

from .conftest import snapshot

TINY = {"model.n_hidden": 16, "training.steps": 10, "training.batch_size": 50, "training.log_every": 5,
        "training.checkpoint_every": 5, "training.n_eval": 100, "dynamics.T": 20.0, "training.k": 0.01}


def tiny(**extra):
    return RunConfig().replace(**{**TINY, **extra})


def resume(run, capsys, *extra):
    """``chaossim train --run RUN --resume --steps 20``: (exit status, the error lines it printed)."""
    code = main(["train", "--run", str(run), "--resume", "--steps", "20", "--no-progress", *map(str, extra)])
    err = capsys.readouterr().err
    return code, [ln for ln in err.splitlines() if ln.startswith("chaossim train: error:")]


def refused(run, capsys):
    """The resume is refused with one error line and writes nothing; returns the line."""
    before = snapshot(run)
    code, lines = resume(run, capsys)
    assert code == 1 and len(lines) == 1, lines
    assert snapshot(run) == before
    return lines[0]


@pytest.fixture
def run(tmp_path):
    d = tmp_path / "r"
    train(tiny(), d, progress=False)
    return d


def user_data(path, n=300, features=64, seed=0):
    np.save(path, np.random.default_rng(seed).random((n, features)))
    return path


# ----------------------------------------------------------------------------------- config.toml cut short
@pytest.mark.parametrize("cut", ["T", "batch_size", "half"])
def test_a_config_toml_cut_short_is_refused_naming_the_missing_settings(run, capsys, cut):
    """Row 2: today `--resume` trains on with the defaults of what is missing (T = 100 instead of 20)."""
    cfg = run / "config.toml"
    lines = cfg.read_text().splitlines(keepends=True)
    if cut == "half":
        kept = lines[: len(lines) // 2]
    else:
        kept = [ln for ln in lines if not ln.startswith(f"{cut} =")]
        assert len(kept) == len(lines) - 1
    cfg.write_text("".join(kept))
    line = refused(run, capsys)
    assert f"{cfg} lacks " in line and "edited or cut short" in line and "Nothing was written" in line
    if cut == "T":
        assert "lacks dynamics.T:" in line and "its checkpoint was trained with dynamics.T = 20.0" in line
    if cut == "batch_size":
        assert "lacks training.batch_size:" in line and "training.batch_size = 50" in line
    if cut == "half":
        assert "data.name" in line and "backend.dtype" in line


def test_config_toml_holds_every_setting(run):
    from chaossim.config import missing_settings, tomllib

    assert missing_settings(tomllib.loads((run / "config.toml").read_text())) == []


def test_a_run_written_before_the_record_may_lack_only_the_settings_added_later(run, capsys):
    """A config.toml of an earlier chaossim lacks the settings added since (backend.tf32, ...): with a checkpoint
    from before the record it resumes (the defaults are what it ran with); any other gap is refused."""
    ck = dict(np.load(run / "checkpoint.npz"))
    np.savez(run / "checkpoint.npz", **{k: v for k, v in ck.items() if not k.startswith("run/")})
    cfg = run / "config.toml"
    cfg.write_text("".join(ln for ln in cfg.read_text().splitlines(keepends=True) if not ln.startswith("tf32 =")))
    code, lines = resume(run, capsys)
    assert code == 0 and not lines
    assert load_checkpoint(run)["step"] == 20
    cfg.write_text("".join(ln for ln in cfg.read_text().splitlines(keepends=True) if not ln.startswith("T =")))
    assert "lacks dynamics.T" in refused(run, capsys)


# ----------------------------------------------------------------------------------- another run's checkpoint
def test_the_checkpoint_of_another_run_is_refused_naming_the_settings(tmp_path, capsys):
    """Row 3: today the g = 0.5 checkpoint continues under g = 1.5 with the other run's parameters and history."""
    a, b = tmp_path / "a", tmp_path / "b"
    train(tiny(**{"model.g": 0.5}), a, progress=False)
    train(tiny(**{"model.g": 1.5}), b, progress=False)
    shutil.copy2(a / "checkpoint.npz", b / "checkpoint.npz")
    line = refused(b, capsys)
    assert line.startswith(f"chaossim train: error: {b / 'checkpoint.npz'} was not trained under the settings of "
                           f"{b / 'config.toml'}: model.g = 0.5 in the checkpoint, 1.5 in config.toml.")
    assert "comes from another run" in line and "Nothing was written" in line


def test_another_runs_checkpoint_of_other_shapes_names_the_sizes_not_config_toml(tmp_path, capsys):
    """Row 16 (second half): today the message says config.toml was changed."""
    a, b = tmp_path / "a", tmp_path / "b"
    train(tiny(**{"model.n_hidden": 8}), a, progress=False)
    train(tiny(), b, progress=False)
    shutil.copy2(a / "checkpoint.npz", b / "checkpoint.npz")
    line = refused(b, capsys)
    assert "model.n_hidden = 8 in the checkpoint, 16 in config.toml" in line
    assert "config.toml was changed" not in line


# ----------------------------------------------------------------------------------- the data changed
@pytest.fixture
def npy_run(tmp_path):
    data = user_data(tmp_path / "x.npy")
    d = tmp_path / "r"
    train(tiny(**{"data.name": str(data), "data.value_range": [0, 1], "training.n_eval": 50}), d, progress=False)
    return d, data


def test_user_data_replaced_by_other_data_of_the_same_shape_is_refused(npy_run, capsys):
    """Row 4 (run): today `--resume` continues the run on the new data."""
    run, data = npy_run
    user_data(data, seed=1)  # same shape, other values
    line = refused(run, capsys)
    assert line.startswith(f"chaossim train: error: the data of {run} are not those its checkpoint was trained on: "
                           f"data.name = '{data}' now loads 240 train + 60 test points of 64 features (fingerprint ")
    assert "the checkpoint was trained on 240 train + 60 test points of 64 features" in line
    assert "Restore the data the run was trained on" in line
    user_data(data, seed=0)  # the same data again: the run resumes
    code, lines = resume(run, capsys)
    assert code == 0 and load_checkpoint(run)["step"] == 20


def test_user_data_of_another_shape_on_resume_blames_the_data(npy_run, capsys):
    """Row 16 (first half): today the message says config.toml was changed after the run started."""
    run, data = npy_run
    user_data(data, features=100)
    line = refused(run, capsys)
    assert "of 100 features" in line and "trained on 240 train + 60 test points of 64 features" in line
    assert "config.toml" not in line
    # a checkpoint written before the fingerprint was recorded: the shapes blame the data, not config.toml
    ck = dict(np.load(run / "checkpoint.npz"))
    np.savez(run / "checkpoint.npz", **{k: v for k, v in ck.items() if not k.startswith("run/")})
    line = refused(run, capsys)
    assert f"the data (data.name = '{data}') now have 100 features per point, the checkpoint was trained on 64" \
        in line
    assert "config.toml" not in line


def test_the_checkpoint_records_settings_and_data_fingerprint(npy_run):
    from chaossim.data import load_dataset
    from chaossim.fingerprint import array_fingerprint, settings_of

    run, data = npy_run
    rec = load_checkpoint(run)["run"]
    config = RunConfig.load(run / "config.toml")
    assert json.loads(rec["settings"]) == settings_of(config)
    assert json.loads(rec["settings"])["dynamics.T"] == 20.0 and "training.steps" not in json.loads(rec["settings"])
    ds = load_dataset(str(data), value_range=(0, 1), seed=0)
    assert rec["data_fingerprint"] == array_fingerprint(ds.train, ds.test)
    meta = json.loads((run / "meta.json").read_text())
    assert meta["data_fingerprint"] == rec["data_fingerprint"]


def test_a_fingerprint_is_a_content_hash():
    """Independent of the code: equal content gives equal fingerprints, one changed value another."""
    from chaossim.fingerprint import array_fingerprint

    a = np.random.default_rng(0).random((50, 8)).astype(np.float32)
    b = a.copy()
    assert array_fingerprint(a) == array_fingerprint(b) == array_fingerprint(np.asfortranarray(a))
    b[3, 4] = np.nextafter(b[3, 4], 2)
    assert array_fingerprint(a) != array_fingerprint(b)
    assert array_fingerprint(a) != array_fingerprint(a.reshape(8, 50))  # same bytes, other shape


# ----------------------------------------------------------------------------------- value_range
def test_a_value_range_the_data_barely_use_is_warned_about(tmp_path):
    """Row 15: today values in [0, 1] declared as [0, 255] are accepted without a word."""
    from chaossim.data import load_dataset

    path = user_data(tmp_path / "x.npy")
    lo, hi = float(np.load(path).min()), float(np.load(path).max())
    with pytest.warns(ChaossimWarning) as rec:
        ds = load_dataset(str(path), value_range=(0, 255))
    [w] = rec
    msg = str(w.message)
    assert f"span [{lo:g}, {hi:g}]" in msg and "of the declared value_range [0, 255]" in msg
    assert "fill only [-1, -0.992" in msg and f"data.value_range = [{lo:g}, {hi:g}]" in msg
    assert ds.train.max() < -0.99
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_dataset(str(path), value_range=(0, 1))
        load_dataset(str(path), value_range=(0, 50))  # 2% of the range: used enough


def test_the_value_range_warning_is_one_line_of_chaossim_train(tmp_path, capsys):
    path = user_data(tmp_path / "x.npy")
    code = main(["train", "--run", str(tmp_path / "r"), "--no-progress", "--steps", "5",
                 *[a for k, v in TINY.items() if k != "training.steps" for a in ("--set", f"{k}={v}")],
                 "--set", f"data.name='{path}'", "--set", "data.value_range=[0, 255]"])
    err = capsys.readouterr().err
    assert code == 0
    [line] = [ln for ln in err.splitlines() if "value_range" in ln]
    assert line.startswith(f"chaossim train: warning: the values of {path} span [")


# ----------------------------------------------------------------------------------- evaluate
@pytest.mark.parametrize("broken", ["config.toml", "checkpoint.npz"])
def test_evaluate_names_the_file_it_cannot_read(run, capsys, broken):
    (run / broken).write_bytes(b"\x00garbage [[[\n")
    code = main(["evaluate", str(run), "--times", "10", "--n-eval", "50"])
    err = capsys.readouterr().err
    assert code == 1
    [line] = [ln for ln in err.splitlines() if ln.startswith("chaossim evaluate: error:")]
    assert str(run / broken) in line


def test_evaluate_refuses_a_config_toml_cut_short(run, capsys):
    cfg = run / "config.toml"
    cfg.write_text("".join(ln for ln in cfg.read_text().splitlines(keepends=True) if not ln.startswith("T =")))
    assert main(["evaluate", str(run), "--times", "10", "--n-eval", "50"]) == 1
    assert f"{cfg} lacks dynamics.T" in capsys.readouterr().err
    with pytest.raises(StoreError, match="lacks dynamics.T"):
        from chaossim.runs.rundir import load_run

        load_run(run)
