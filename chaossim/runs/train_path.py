"""Which implementation runs a training step, and why (docs/gpu.md, "What train and sweep use").

:func:`choose_trainer` picks, for a model or an :class:`~chaossim.ensemble.Ensemble` and the config's
``[backend]`` settings, one of

==================  ==========================================================================================
``"fused-graph"``   the fused schedule on CuPy, each step one captured CUDA graph (``chaossim.kernels.fast_trainer``)
``"fused-eager"``   the same kernels issued one by one (the graph capture failed; the reason says why)
``"fused-host"``    the fused schedule on its NumPy emulator (``backend.trainer = "fused"`` off the GPU; slow)
``"engine"``        the model's own ``train_step`` (NumPy or CuPy array operations)
==================  ==========================================================================================

``backend.trainer = "auto"`` (default) takes the fused CUDA-graph step on CuPy whenever it can run and the
engine otherwise; on NumPy the engine is the fast path (the fused schedule's NumPy executor emulates the
cuBLAS calls and measured about 3 times slower, docs/gpu.md). ``"engine"`` always takes the engine; ``"fused"``
requires the fused schedule (an error on CuPy when it cannot run). All paths draw the same initial states from the
model's generator(s) and apply the same update (paper eqs. 3, 6, 11-15); they differ in rounding only.

The path and its reason are recorded in ``meta.json`` (``train_path``, ``train_path_reason``) and in sweep
stores (variables of the same names). This module imports neither CuPy nor Dask.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..models.protocol import Trainer

PATHS = ("fused-graph", "fused-eager", "fused-host", "engine")
ENGINE_ON_HOST = (
    "backend.trainer = 'auto' off the GPU: the engine is the fast path there (the fused schedule's "
    "host executor emulates the GPU calls and is several times slower)"
)


@dataclass
class TrainPath:
    """A trainer (``train_step`` with the arguments of ``model.train_step``) with its requested setting and the
    reason it was chosen; :attr:`name` is read when recorded, since a CUDA graph capture may fail on the first
    step and leave the fused kernels running eagerly."""

    trainer: Trainer
    reason: str
    tf32: bool = False

    @property
    def name(self) -> str:
        return {"graph": "fused-graph", "eager": "fused-eager", "host": "fused-host"}.get(self.trainer.mode, "engine")

    @property
    def why(self) -> str:
        """The reason, with the graph capture's error when it fell back to eager kernels."""
        error = self.trainer.graph_error
        if self.name == "fused-eager" and error:
            return f"the CUDA graph capture failed ({error}); the fused kernels run eagerly"
        return self.reason

    def meta(self, group_size: int = 1) -> dict:
        """What meta.json records about the path (``group_size``: runs trained together in one Ensemble)."""
        return {
            "train_path": self.name,
            "train_path_reason": self.why,
            "tf32": bool(self.tf32 and self.name in ("fused-graph", "fused-eager")),
            "group_size": int(group_size),
        }

    def train_step(self, batch, dt, tau, T, k, init=None, *, force: bool = False, check: bool = True):
        return self.trainer.train_step(batch, dt, tau, T, k, init, force=force, check=check)

    def rebind(self, model) -> TrainPath:
        """The same path for another model of the same backend (an ensemble with other members): the fused
        trainer keeps its executor (CUDA streams, cuBLAS handles, kernels), the engine is the new model's."""
        return TrainPath(self.trainer.rebind(model), self.reason, self.tf32)


def choose_trainer(model, backend) -> TrainPath:
    """The :class:`TrainPath` for ``model`` (a single model or an Ensemble) under ``backend`` (a
    :class:`chaossim.config.BackendConfig`: ``trainer`` and ``tf32``). Raises :class:`ConfigError` when
    ``backend.trainer = "fused"`` and the fused schedule cannot run."""
    from ..kernels import HostOps, PlainTrainer, ScheduledTrainer, fast_trainer
    from ..kernels.schedule import supports

    want, tf32 = backend.trainer, bool(backend.tf32)
    no_tf32 = "; backend.tf32 has no effect on it" if tf32 else ""
    if want == "engine":
        return TrainPath(PlainTrainer(model, "backend.trainer = 'engine'"), "backend.trainer = 'engine'" + no_tf32)
    ok, why = supports(model)
    if not ok:
        if want == "fused":
            raise ConfigError(
                f"backend.trainer = 'fused' but the fused training schedule cannot train this model: "
                f"{why}. Use backend.trainer = 'auto' or 'engine'."
            )
        return TrainPath(PlainTrainer(model, why), f"the fused schedule does not apply: {why}{no_tf32}")
    name = model.bk.name
    if name == "cupy":
        trainer = fast_trainer(model, tf32=tf32, require=want == "fused")
        if isinstance(trainer, PlainTrainer):
            return TrainPath(trainer, f"the CuPy fast path cannot run: {trainer.reason}{no_tf32}")
        what = "the fused CUDA-graph step" + (" with TF32 GEMMs (backend.tf32)" if tf32 else "")
        return TrainPath(trainer, f"backend.trainer = '{want}' on CuPy: {what}", tf32)
    if want == "fused":
        trainer = ScheduledTrainer(model, HostOps(model.bk.dtype, streams=2, xp=model.bk.xp))
        return TrainPath(
            trainer,
            "backend.trainer = 'fused' off the GPU: the fused schedule on its host emulator "
            f"(slow; for checking it against the engine){no_tf32}",
        )
    return TrainPath(PlainTrainer(model, ""), ENGINE_ON_HOST + no_tf32)


__all__ = ["PATHS", "TrainPath", "choose_trainer"]
