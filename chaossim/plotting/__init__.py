"""Every figure chaossim draws, as functions that take arrays (NumPy or device arrays, xarray objects, or the
dicts the loaders return) and return a :class:`matplotlib.figure.Figure`.

No function here selects a matplotlib backend or touches pyplot: in a notebook the returned figure is
displayed by the notebook's own backend; in a script, :func:`save_figure` writes it as PNG and PDF. Nothing is
read from run directories or stores here; the command line does that (``chaossim plot``,
``chaossim sweep-report``) and so can a notebook (:func:`chaossim.runs.rundir.load_samples`,
:func:`chaossim.runs.rundir.load_evaluation`, :func:`chaossim.runs.rundir.load_run`,
:func:`chaossim.sweep.open_sweep`).

================================  ================================  ==========================================
figure                            function                          from the command line
================================  ================================  ==========================================
Fig. 2 samples beside data        :func:`plot_samples`              ``chaossim plot samples RUN...``
Fig. 3a snapshots vs t            :func:`plot_snapshots`            ``chaossim plot snapshots RUN``
Fig. 3b indices vs t              :func:`plot_indices_vs_time`      ``chaossim plot indices-vs-t RUN...``
Fig. 4 receptive fields           :func:`plot_receptive_fields`     ``chaossim plot receptive-fields RUN``
Fig. 5 indices vs t_age           :func:`plot_training_curves`      ``chaossim plot training RUN...``
singular values over training     :func:`plot_singular_values`      (Python)
top SVD modes as images           :func:`plot_modes`                (Python)
projections on modes 1-2          :func:`plot_projections`          (Python)
lambda_max vs g                   :func:`plot_lyapunov_vs_g`        (Python)
lambda_max, Var phi(v) vs t_age   :func:`plot_chaos_vs_age`         (Python)
phase diagram of a sweep          :func:`plot_phase_diagram`        ``chaossim sweep-report STORE``
long-time states, mode collapse   :func:`plot_long_time_states`     ``chaossim analyze RUN``
================================  ================================  ==========================================

Modules: :mod:`~chaossim.plotting.paper` (the paper's Figs. 2-5), :mod:`~chaossim.plotting.learning` (the
SVD view of learning), :mod:`~chaossim.plotting.chaos` (Lyapunov exponents), :mod:`~chaossim.plotting.sweep`
(phase diagrams), :mod:`~chaossim.plotting.images` (points as grey images, mosaics),
:mod:`~chaossim.plotting.save` (PNG + PDF, atomically), :mod:`~chaossim.plotting.figure` (the common Figure
and host conversion).
"""

from .chaos import plot_chaos_vs_age, plot_lyapunov_vs_g
from .images import mosaic, to_grey
from .learning import plot_modes, plot_projections, plot_singular_values
from .longtime import plot_long_time_states
from .paper import plot_indices_vs_time, plot_receptive_fields, plot_samples, plot_snapshots, plot_training_curves
from .save import save_figure
from .sweep import plot_phase_diagram

__all__ = [
    "mosaic",
    "plot_chaos_vs_age",
    "plot_indices_vs_time",
    "plot_long_time_states",
    "plot_lyapunov_vs_g",
    "plot_modes",
    "plot_phase_diagram",
    "plot_projections",
    "plot_receptive_fields",
    "plot_samples",
    "plot_singular_values",
    "plot_snapshots",
    "plot_training_curves",
    "save_figure",
    "to_grey",
]
