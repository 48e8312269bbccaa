"""Models and data from a config: what a :class:`chaossim.config.RunConfig` describes, built.

Used by the training loop (:mod:`chaossim.runs.training`), run directories (:func:`chaossim.runs.rundir.load_run`),
sweeps (``chaossim.sweep.store``, ``chaossim.sweep.reload``) and the command line. The architectures'
equations are in docs/model.md; the seeds in docs/reproducibility.md.
"""

from __future__ import annotations

from ..archs import lookup
from ..config import RunConfig
from ..models.protocol import Model

__all__ = ["build_model", "load_data"]


def build_model(config: RunConfig, n_visible: int) -> Model:
    """The model a config describes (its architecture's ``from_config``, :mod:`chaossim.archs`), with its fixed
    couplings drawn from ``model.seed``."""
    arch = lookup(config.model.arch)
    return arch.model_class().from_config(arch, config, n_visible)


def load_data(config: RunConfig):
    """The :class:`chaossim.data.Dataset` of ``config.data`` (split and subsets drawn from ``model.seed``)."""
    from ..data import load_dataset

    d = config.data
    return load_dataset(
        d.name,
        d.data_dir or None,
        n_train=d.n_train or None,
        n_test=d.n_test or None,
        seed=config.model.seed,
        value_range=d.value_range or None,
    )
