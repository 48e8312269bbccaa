"""Issue 11, case 10: one exit-status convention for every subcommand, documented in `chaossim --help`:
0 success, 1 error (one line "chaossim COMMAND: error: ..."), 2 command-line usage, 130/143 interrupted
(SIGINT/SIGTERM; tested in test_run_dir.py)."""
from pathlib import Path

import pytest

from chaossim.cli import main

from .conftest import chaossim

ROOT = Path(__file__).resolve().parents[2]


def test_help_documents_the_exit_statuses(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "exit status (every subcommand):" in out
    for line in ("  0    success", "  1    error, reported in one line on stderr", "  2    the command line itself",
                 "  130  interrupted by Ctrl-C (SIGINT), 143 by SIGTERM"):
        assert line in out


@pytest.mark.parametrize("argv", [
    ["train", "--run", "{tmp}/r", "--set", "model.g=-1"],
    ["train", "--run", "{tmp}/r", "--resume"],
    ["sample", "{tmp}/nope"],
    ["evaluate", "{tmp}/nope"],
    ["plot", "samples", "{tmp}/nope", "--out", "{tmp}/fig"],
    ["sweep", "{tmp}/nope.toml"],
    ["sweep-report", "{tmp}/nope.zarr"],
    ["sweep-verify", "{tmp}/nope.zarr"],
])
def test_every_subcommand_reports_an_error_in_one_line_with_status_1(argv, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith(f"chaossim {argv[0]}: error: "), err


@pytest.mark.parametrize("argv", [["train"], ["sweep"], ["bogus"], ["train", "--run", "r", "--steps", "many"],
                                  ["sweep-verify"], ["sweep", "s.toml", "--workers", "0"],
                                  ["sweep", "s.toml", "--group-size", "0"], ["sweep", "s.toml", "--retries", "-1"]])
def test_command_line_usage_errors_have_status_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "usage: chaossim" in capsys.readouterr().err


def test_no_subcommand_is_a_usage_error(capsys):
    assert main([]) == 2


def test_the_sweep_module_entry_point_follows_the_same_convention(tmp_path):
    res = chaossim(tmp_path / "nope.toml", module="chaossim.sweep")
    assert res.returncode == 1
    assert res.stderr.startswith("chaossim sweep: error: ")
    res = chaossim("sweep-verify", tmp_path / "nope.zarr", module="chaossim.sweep")
    assert res.returncode == 1 and res.stderr.startswith("chaossim sweep-verify: error:")


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_a_bad_worker_count_is_refused_before_the_store_is_laid_out(workers, tmp_path):
    """Issue 22: --workers 0 ran 2 workers and --workers -1 was refused only after the store was made."""
    store = tmp_path / "q.zarr"
    res = chaossim("sweep", ROOT / "sweeps" / "quickstart.toml", "--store", store, "--workers", workers, cwd=tmp_path)
    assert res.returncode == 2
    assert f"chaossim sweep: error: argument --workers: must be an integer >= 1 (local worker processes), got " \
           f"'{workers}'" in res.stderr.splitlines()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no store, no lock, no runs folder


def test_text_for_a_number_on_the_grid_is_refused_in_one_line(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text((ROOT / "sweeps" / "quickstart.toml").read_text().replace("g = [0.5, 1.0, 1.5, 2.0]",
                                                                             '"model.g" = ["0.8", "2.0"]'))
    assert main(["sweep", str(spec), "--store", str(tmp_path / "q.zarr")]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln]
    assert err == ['chaossim sweep: error: [grid] model.g: model.g is a number, got "0.8" in ["0.8", "2.0"]; write '
                   'the numbers without quotes: "model.g" = [0.8, 2.0].']
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


@pytest.mark.parametrize("command", ["sweep", "sweep-report", "sweep-verify"])
def test_a_folder_that_is_no_zarr_store_gets_one_line(command, tmp_path, capsys):
    """Issue 22: a plain folder as --store printed zarr's GroupNotFoundError and spoke of PATH.runs/."""
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    argv = ([command, str(ROOT / "sweeps" / "quickstart.toml"), "--store", str(folder), "--no-progress",
             "--dashboard", "none"] if command == "sweep" else [command, str(folder)])
    assert main(argv) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln and not ln.startswith("sweep quickstart:")]
    assert len(err) == 1 and err[0].startswith(f"chaossim {command}: error: {folder} is a folder but not a zarr "
                                               "store"), err
    assert "GroupNotFoundError" not in err[0] and "PATH.runs" not in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"] and [p.name for p in folder.iterdir()] == \
        ["notes.txt"]
