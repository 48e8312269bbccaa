"""Fast paths for training (docs/gpu.md): a device-independent fused schedule and its CuPy executor.

Importing this package never imports CuPy; :func:`fast_trainer` picks the CuPy fast path when the model
lives on a GPU and falls back to the plain engine otherwise.
"""

from .cupy_fast import PlainTrainer, fast_path_available, fast_trainer
from .schedule import HostOps, ScheduledTrainer, build_program, check_program, gemm_flops

__all__ = [
    "HostOps",
    "PlainTrainer",
    "ScheduledTrainer",
    "build_program",
    "check_program",
    "fast_path_available",
    "fast_trainer",
    "gemm_flops",
]
