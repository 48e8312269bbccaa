"""Chaos of the untrained networks: DMFT predictions and estimators from simulated trajectories.

- :mod:`.dmft`: dynamical mean-field theory of the unrestricted network with A = 0, b = 0 (SCS 1988).
- :mod:`.autocorr`: autocorrelation, stationary variance and relaxation time of recorded trajectories.

(:mod:`.lyapunov`, Lyapunov exponents from simulation, is to be added; export its functions here.
``dmft.dmft_lyapunov``, the SCS prediction, is deliberately not exported: it is not verified by simulation.)
"""
from .autocorr import autocorrelation, relaxation_time, stationary_variance
from .dmft import (
    dmft_autocorrelation,
    dmft_phi_autocorrelation,
    dmft_phi_variance,
    dmft_potential,
    dmft_variance,
)

__all__ = [
    "autocorrelation", "dmft_autocorrelation", "dmft_phi_autocorrelation", "dmft_phi_variance",
    "dmft_potential", "dmft_variance", "relaxation_time", "stationary_variance",
]
