"""What a running sweep tells its user, and how it stops (docs/sweeps.md "While a sweep runs").

Inside a task (worker side): :func:`step_reporter` sends the training step of the task's points to the client,
at most once a second (a Dask worker event on :data:`TOPIC`); :func:`captured_warnings` keeps the warnings a
point raises, returned with its summary instead of printed by the worker process with their source lines.

In the client: :class:`SweepProgress` is the progress bar, finished points plus the fraction of its training
steps each running point has done, so that the time left is estimated after the first steps rather than after
the first task; :class:`StopRelay` relays the client's Ctrl-C (or SIGTERM) to the worker processes, whose
points then stop at their next step with a checkpoint (:mod:`chaossim.interrupts`) and report
``"interrupted"``; :class:`WarningsOnce` prints each distinct warning of the points once per sweep, one line.
A local cluster's worker processes ignore the terminal's SIGINT (:func:`ignore_terminal_interrupts`): the
client decides when and how they stop.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager

from .. import interrupts

TOPIC = "chaossim-sweep-progress"
REPORT_EVERY_S = 1.0


# ---------------------------------------------------------------------------------------------- worker side
def step_reporter(points, every: float = REPORT_EVERY_S):
    """A callable for the training loop's ``on_step`` that sends ``{"points": points, "step": step}`` to the
    sweep's client at most every ``every`` seconds; None outside a Dask worker (a point run from Python)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    members = [int(i) for i in points]
    last = [-float("inf")]

    def report(step: int) -> None:
        now = time.monotonic()
        if now - last[0] < every:
            return
        last[0] = now
        try:
            worker.log_event(TOPIC, {"points": members, "step": int(step)})
        except Exception:  # noqa: BLE001 - progress is a courtesy: never fail a point for it
            pass

    return report


@contextmanager
def captured_warnings(into: list):
    """Collect the warnings raised in the block as one-line texts into ``into`` (each text once)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        text = f"{w.message}"
        if text not in into:
            into.append(text)


def stop_requested() -> int | None:
    """The stop a client relayed to this worker process (or a signal it received), if any."""
    return interrupts.requested()


def _request_stop(signum: int) -> None:
    interrupts.request(signum)


def _clear_stop() -> None:
    interrupts.clear()


def _ignore_sigint() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def ignore_terminal_interrupts(client) -> None:
    """Make the worker processes of a local cluster (now and after a restart) ignore SIGINT: a Ctrl-C in the
    terminal reaches every process of its group, and a worker killed by it loses its points' last steps. The
    client relays the stop instead (:class:`StopRelay`)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class IgnoreSigint(WorkerPlugin):
        name = "chaossim-ignore-sigint"

        def setup(self, worker):
            _ignore_sigint()

    try:
        client.register_plugin(IgnoreSigint())
    except Exception:  # noqa: BLE001 - older distributed: at least the workers there now
        client.run(_ignore_sigint)


# ---------------------------------------------------------------------------------------------- client side
class StopRelay:
    """While active, watches for a stop request of the client process (:func:`chaossim.interrupts.requested`,
    set by the command line's first Ctrl-C or SIGTERM) and relays it once to every worker; on exit the workers'
    requests are cleared (workers of an external cluster run other sweeps afterwards)."""

    def __init__(self, client, poll_s: float = 0.1):
        self.client, self.poll_s = client, poll_s
        self.relayed: int | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="chaossim-stop-relay", daemon=True)

    def _watch(self) -> None:
        while not self._done.wait(self.poll_s):
            signum = interrupts.requested()
            if signum is None:
                continue
            self.relayed = signum  # the handler of chaossim.interrupts has said what happens now
            try:
                self.client.run(_request_stop, signum)
            except Exception:  # noqa: BLE001 - a worker gone: its points are not done, the re-run resumes them
                pass
            return

    def __enter__(self) -> StopRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        if self.relayed is not None:
            try:
                self.client.run(_clear_stop)
            except Exception:  # noqa: BLE001
                pass


class WarningsOnce:
    """Prints each distinct warning text of the sweep's points once, one line: ``sweep: warning: ...``."""

    def __init__(self, say):
        self.say = say
        self.seen: set[str] = set()

    def show(self, texts) -> None:
        for text in texts or ():
            line = " ".join(str(text).split())
            if line not in self.seen:
                self.seen.add(line)
                self.say(f"sweep: warning: {line}")


def steps_per_point(spec):
    """A function point index -> its training steps (a grid over ``training.steps`` included)."""
    for axis, dim in enumerate(spec.grid):
        if dim.key == "training.steps":
            return lambda i: max(1, int(dim.values[spec.multi_index(i)[axis]]))
    steps = max(1, int(spec.base.training.steps))
    return lambda i: steps


class SweepProgress:
    """The sweep's progress bar over points: finished points count 1, a point in training the fraction of its
    steps done (from the workers' events); None-safe when disabled (``enabled=False``: nothing is drawn)."""

    def __init__(self, client, spec, finished: int, enabled: bool):
        self.client, self.spec = client, spec
        self.steps = steps_per_point(spec)
        self.finished = finished
        self.partial: dict[int, float] = {}
        self.lock = threading.Lock()
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=spec.n_points,
                initial=finished,
                desc=f"sweep {spec.name}",
                unit="point",
                dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {n:.1f}/{total_fmt} points [{elapsed}<{remaining}{postfix}]",
            )
            client.subscribe_topic(TOPIC, self._on_event)

    def _on_event(self, event) -> None:
        _, msg = event
        try:
            step = int(msg["step"])
            with self.lock:
                for i in msg["points"]:
                    self.partial[int(i)] = min(1.0, step / self.steps(int(i)))
                self._draw()
        except Exception:  # noqa: BLE001 - a malformed event: ignore it
            pass

    def _draw(self) -> None:
        if self.bar is not None:
            self.bar.n = self.finished + sum(self.partial.values())
            self.bar.refresh()

    def points_done(self, indices, failed: int) -> None:
        with self.lock:
            self.finished += len(indices)
            for i in indices:
                self.partial.pop(int(i), None)
            if self.bar is not None:
                self.bar.set_postfix(failed=failed, refresh=False)
            self._draw()

    def write(self, line: str) -> None:
        if self.bar is None:
            print(line, file=sys.stderr)
        else:
            self.bar.write(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            try:
                self.client.unsubscribe_topic(TOPIC)
            except Exception:  # noqa: BLE001
                pass
            self.bar.close()
