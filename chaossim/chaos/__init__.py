"""Chaos of the untrained networks: DMFT predictions and estimators from simulated trajectories.

- :mod:`.dmft`: dynamical mean-field theory of the unrestricted network with A = 0, b = 0 (SCS 1988).
- :mod:`.autocorr`: autocorrelation, stationary variance and relaxation time of recorded trajectories.

- :mod:`.lyapunov`: the largest Lyapunov exponent and the leading spectrum (tangent dynamics with QR).
- :mod:`.probe`: the cheap lambda_max / activity-variance probe the trainer records along t_age.

``dmft.dmft_lyapunov``, the SCS prediction of lambda_max, is deliberately not exported: simulations at
N up to 8000 stay 5-7 % below it at g = 4 (see its docstring).
"""

from .autocorr import autocorrelation, relaxation_time, stationary_variance
from .dmft import (
    dmft_autocorrelation,
    dmft_phi_autocorrelation,
    dmft_phi_variance,
    dmft_potential,
    dmft_variance,
)
from .lyapunov import LyapunovResult, LyapunovSpectrum, lyapunov_max, lyapunov_spectrum
from .probe import training_chaos_probe

__all__ = [
    "autocorrelation",
    "dmft_autocorrelation",
    "dmft_phi_autocorrelation",
    "dmft_phi_variance",
    "dmft_potential",
    "dmft_variance",
    "relaxation_time",
    "stationary_variance",
    "LyapunovResult",
    "LyapunovSpectrum",
    "lyapunov_max",
    "lyapunov_spectrum",
    "training_chaos_probe",
]
