"""Chaos drawn: the largest Lyapunov exponent against g (untrained) and along training (the arrays come
from :mod:`chaossim.chaos` and the trainer's chaos probe)."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from ..errors import DataError
from .figure import host_vector, new_figure


def plot_lyapunov_vs_g(
    g_values: Any,
    lam: Any,
    lam_err: Any,
    dmft_curve: tuple[Any, Any] | None = None,
    *,
    linear_curve: tuple[Any, Any] | None = None,
    units: str = "1/tau",
) -> Figure:
    """Measured lambda_max (error bars ``lam_err``) vs g, with optional reference curves given as
    (g, lambda) pairs: ``dmft_curve`` (the DMFT prediction) and ``linear_curve`` (linear stability of the
    fixed point 0). ``units``: the unit of lambda on the axis label."""
    g = host_vector(g_values, "g_values")
    lam_v = host_vector(lam, "lam")
    err = host_vector(lam_err, "lam_err")
    if not (g.size == lam_v.size == err.size):
        raise DataError(f"g_values, lam and lam_err must have equal lengths, got {g.size}, {lam_v.size}, {err.size}.")
    fig = new_figure(5.5, 4)
    ax = fig.subplots()
    ax.axhline(0, color="0.7", lw=0.8)
    ax.axvline(1, color="0.7", lw=0.8, ls=":")
    references: tuple[tuple[tuple[Any, Any] | None, str, dict[str, Any]], ...] = (
        (linear_curve, "linear stability of v = 0", {"color": "tab:green", "ls": "--"}),
        (dmft_curve, "DMFT (SCS 1988)", {"color": "tab:red", "ls": "-"}),
    )
    for curve, label, style in references:
        if curve is not None:
            cg, cl = (host_vector(c, label) for c in curve)
            ax.plot(cg, cl, label=label, **style)
    ax.errorbar(g, lam_v, yerr=err, fmt="o", ms=4, capsize=2, color="k", label="simulation (Euler map)")
    ax.set_xlabel("g (variance of the couplings)")
    ax.set_ylabel(f"lambda_max [{units}]")
    ax.legend(fontsize=8)
    return fig


def plot_chaos_vs_age(t_age: Any, lam: Any, var: Any, *, units: str = "1/tau") -> Figure:
    """lambda_max and the activity variance Var phi(v) vs training step, two stacked panels (the
    checkpoint's ``chaos`` record: t_age, lambda_max, activity_var)."""
    t = host_vector(t_age, "t_age")
    lam_v = host_vector(lam, "lam")
    var_v = host_vector(var, "var")
    if not (t.size == lam_v.size == var_v.size):
        raise DataError(f"t_age, lam and var must have equal lengths, got {t.size}, {lam_v.size}, {var_v.size}.")
    fig = new_figure(5.5, 5)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    ax1.axhline(0, color="0.7", lw=0.8)
    ax1.plot(t, lam_v, "o-", ms=3)
    ax1.set_ylabel(f"lambda_max [{units}]")
    ax2.plot(t, var_v, "o-", ms=3, color="tab:orange")
    ax2.set_ylabel("Var phi(v)")
    ax2.set_xlabel("training step t_age")
    return fig
