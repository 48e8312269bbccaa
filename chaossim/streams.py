"""The registry of random streams: every stream number chaossim draws from, in one place.

Everything random derives from one integer seed (see docs/reproducibility.md). Each use of
randomness has its own *stream*, a number mixed with the seed by NumPy's ``SeedSequence``. There are
two families, each with its own numbers; within a family no two uses share a number (tests/test_streams.py
checks it, and that no module passes a bare integer where a stream belongs):

- **device streams**, ``derive_seed(seed, STREAM, *more_keys)`` (:func:`chaossim.backend.derive_seed`):
  the integer that seeds or re-keys a backend generator (``bk.rng``, ``bk.reseed``) or a host
  permutation;
- **host streams**, ``SeedSequence([seed, STREAM])`` as used by :func:`chaossim.backend.host_normal`
  (fixed couplings, drawn in float64 on the host so that one seed is one network on every backend)
  and by the data loader (train/test split and subsets).

Changing a number changes the draws of that use (and nothing else): old runs then no longer
resume bit-exactly, so numbers are only ever added.
"""

from __future__ import annotations

# ---------------------------------------------------------------- device streams: derive_seed(seed, STREAM, ...)
MODEL_RNG = 1  # the model's own generator model.rng (Network, Ensemble members, RBM): random starts
TRAIN_STEP = 2  # derive_seed(seed, TRAIN_STEP, step): re-keys model.rng at every training step
TRAIN_BATCH = 3  # derive_seed(seed, TRAIN_BATCH, epoch): the host permutation of the training set per epoch
EVAL = 4  # derive_seed(seed, EVAL, step): the generated points of the indices logged during training
CHAOS_PROBE = 5  # derive_seed(seed, CHAOS_PROBE, step): the chaos probe during training (training.chaos_every)
LYAPUNOV = 7  # the replicas' initial states and tangent vectors of lyapunov_max / lyapunov_spectrum
RBM_CHAINS = 8  # the RBM's initial persistent chains when n_chains is given at construction (was 2 until issue 14)
EVAL_RUN_INDICES = 11  # chaossim evaluate: the starts of the indices vs t
EVAL_RUN_SAMPLES = 12  # chaossim evaluate: the starts of the Fig. 2 samples
EVAL_RUN_SNAPSHOTS = 13  # chaossim evaluate: the starts of the Fig. 3a snapshots
ANALYSIS_STATES = 14  # analysis.fixed_points: the starts of the long free runs (was 11 until issue 14)
SWEEP_INDICES_T = 41  # a sweep point's indices vs t
SWEEP_SAMPLES = 42  # a sweep point's stored samples
SWEEP_TRAJECTORY = 43  # a sweep point's stored trajectories
SWEEP_DIVERSITY = 44  # derive_seed(seed, SWEEP_DIVERSITY, j): a sweep point's diversity runs of record.spreads[j]
SWEEP_DIVERSITY_LONG = 45  # derive_seed(seed, SWEEP_DIVERSITY_LONG, j): its runs to record.t_long
DIVERSITY_RUNS = 47  # chaos.diversity: the starts of diversity_along / state_spread, from the seed they are given
FTLE_STARTS = 48  # chaos.ftle: the starts and directions of finite_time_exponent, from the seed it is given
SWEEP_FTLE = 49  # derive_seed(seed, SWEEP_FTLE): a sweep point's finite-time exponents (the same starts at every step)
SWEEP_ASYMPTOTIC = 50  # derive_seed(seed, SWEEP_ASYMPTOTIC): a sweep point's asymptotic exponents
SWEEP_GROWTH = 51  # derive_seed(seed, SWEEP_GROWTH, j): a sweep point's d(t)/d(0) for record.growth_spreads[j]
ANALYSIS_FTLE = 52  # chaossim analyze: its finite-time and asymptotic exponents

DEVICE_STREAMS: dict[str, int] = {
    name: value for name, value in globals().items() if name.isupper() and isinstance(value, int)
}

# ---------------------------------------------------------------- host streams: SeedSequence([seed, STREAM])
DATA_SPLIT = 0  # the train/test split of digits and of single user arrays
DATA_TRAIN = 1  # the n_train subset
DATA_TEST = 2  # the n_test subset
NETWORK_INIT = 100  # Network's fixed couplings: stream NETWORK_INIT + i for the i-th fixed matrix
NETWORK_INIT_SPAN = 100  # at most this many fixed matrices per architecture (streams 100..199)
RBM_INIT_W = 200  # the RBM's initial couplings W (was 0, the data split's stream, until issue 14)

HOST_STREAMS: dict[str, int] = {
    "DATA_SPLIT": DATA_SPLIT,
    "DATA_TRAIN": DATA_TRAIN,
    "DATA_TEST": DATA_TEST,
    "NETWORK_INIT": NETWORK_INIT,
    "RBM_INIT_W": RBM_INIT_W,
}


def network_init(i: int) -> int:
    """The host stream of a Network's ``i``-th fixed coupling matrix (0-based)."""
    if not 0 <= i < NETWORK_INIT_SPAN:
        raise ValueError(f"fixed matrix index {i} is outside 0..{NETWORK_INIT_SPAN - 1}; widen NETWORK_INIT_SPAN")
    return NETWORK_INIT + i
