"""Models and data from a config: what a :class:`chaossim.config.RunConfig` describes, built.

Used by the training loop (:mod:`chaossim.training`), run directories (:func:`chaossim.rundir.load_run`),
sweeps (``chaossim.sweep.store``, ``chaossim.sweep.reload``) and the command line. The architectures'
equations are in docs/model.md; the seeds in docs/reproducibility.md.
"""

from __future__ import annotations

from .config import RunConfig
from .errors import ConfigError
from .models.protocol import Model

__all__ = ["build_model", "load_data"]


def build_model(config: RunConfig, n_visible: int) -> Model:
    """The model a config describes, with its fixed couplings drawn from ``model.seed``."""
    m, dyn, bk = config.model, config.dynamics, config.backend
    if m.arch == "rbm":
        from .rbm import RBM

        if dyn.init_spread != 1.0:
            raise ConfigError(
                "dynamics.init_spread applies to the chaotic networks' free runs; the RBM has none. "
                "Leave it at 1 for model.arch = 'rbm'."
            )
        return RBM(n_visible, m.n_hidden, persistent=m.persistent, seed=m.seed, backend=bk.name, dtype=bk.dtype)
    from .models import ARCHITECTURES

    sizes = {"unrestricted": (), "restricted": (m.n_hidden,), "deep": (m.n_hidden, m.n_hidden2)}[m.arch]
    model = ARCHITECTURES[m.arch](
        n_visible, *sizes, g=m.g, dt=dyn.dt, tau=dyn.tau, force=bk.force, seed=m.seed, backend=bk.name, dtype=bk.dtype
    )
    model.init_spread = dyn.init_spread  # docs/chaos_study.md: common-start control of the free runs
    return model


def load_data(config: RunConfig):
    """The :class:`chaossim.data.Dataset` of ``config.data`` (split and subsets drawn from ``model.seed``)."""
    from .data import load_dataset

    d = config.data
    return load_dataset(
        d.name,
        d.data_dir or None,
        n_train=d.n_train or None,
        n_test=d.n_test or None,
        seed=config.model.seed,
        value_range=d.value_range or None,
    )
