"""Issue 11, case 10: one exit-status convention for every subcommand, documented in `chaossim --help`:
0 success, 1 error (one line "chaossim COMMAND: error: ..."), 2 command-line usage, 130/143 interrupted
(SIGINT/SIGTERM; tested in test_run_dir.py)."""
import pytest

from chaossim.cli import main

from .conftest import chaossim


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
                                  ["sweep-verify"]])
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
