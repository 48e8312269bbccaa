"""Process records: this process is alive, a finished one is dead, another host is unknowable."""
import subprocess
import sys

from chaossim.process import describe, is_alive, this_process


def test_this_process_is_alive():
    rec = this_process()
    assert rec["pid"] > 0 and rec["host"] and is_alive(rec) is True
    assert describe(rec).startswith(f"pid {rec['pid']} on host {rec['host']} (started ")


def test_a_finished_process_is_dead():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert is_alive({**this_process(), "pid": proc.pid, "proc_start": ""}) is False


def test_a_reused_pid_and_another_boot_are_dead():
    rec = this_process()
    if rec["proc_start"]:
        assert is_alive({**rec, "proc_start": "1"}) is False  # same pid, started at another time
    if rec["boot_id"]:
        assert is_alive({**rec, "boot_id": "another-boot"}) is False


def test_another_host_cannot_be_checked():
    assert is_alive({**this_process(), "host": "elsewhere.invalid"}) is None
    assert is_alive({"host": this_process()["host"], "pid": "?"}) is False
