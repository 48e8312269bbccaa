"""The three architectures of docs/model.md ("The three architectures"): the engine with the tables of
:data:`chaossim.archs.UNRESTRICTED`, :data:`~chaossim.archs.RESTRICTED` and :data:`~chaossim.archs.DEEP`; and the
restricted network's symmetric control :data:`~chaossim.archs.RESTRICTED_SYMMETRIC`."""

from __future__ import annotations

from .. import archs
from .network import Network


class Unrestricted(Network):
    """One recurrent layer of Nv units (docs/model.md; paper Eq. (2)), ``Unrestricted(n_visible, g=..., ...)``:

    tau dv_i/dt = -v_i + (1/sqrt(Nv)) sum_j (J_ij + A_ij) phi(v_j) + b_i.

    ``params``: ``J`` (fixed, N(0, g)), ``A`` (trained, symmetric updates), ``b``.
    """

    architecture = archs.UNRESTRICTED


class Restricted(Network):
    """Visible and hidden layers, no intra-layer links (docs/model.md; paper Eqs. (4)-(5)),
    ``Restricted(n_visible, n_hidden, g=..., ...)``:

    tau dv_i/dt = -v_i + (1/sqrt(Nh)) sum_a (W_ia + A_ia) phi(h_a) + b_i
    tau dh_a/dt = -h_a + (1/sqrt(Nv)) sum_i (Wt_ai + A_ia) phi(v_i) + c_a

    ``params``: ``W`` (Nv x Nh), ``Wt`` (Nh x Nv, independent of W: asymmetric, chaotic),
    ``A`` (Nv x Nh, trained, used by both directions), ``b`` (Nv), ``c`` (Nh). The clamped phase of training uses
    the exact solution for h (docs/model.md "Training").
    """

    architecture = archs.RESTRICTED


class Deep(Network):
    """Three layers v - h1 - h2 (docs/model.md; paper Eqs. (8)-(10)), ``Deep(n_visible, n_hidden1, n_hidden2, ...)``:

    tau dv/dt  = -v  + (1/sqrt(Nh1)) (W1 + A1) phi(h1) + b
    tau dh1/dt = -h1 + (1/sqrt(Nv)) (Wt1 + A1^T) phi(v) + (1/sqrt(Nh2)) (W2 + A2) phi(h2) + c
    tau dh2/dt = -h2 + (1/sqrt(Nh1)) (Wt2 + A2^T) phi(h1) + d

    ``params``: ``W1, A1`` (Nv x Nh1), ``Wt1`` (Nh1 x Nv), ``W2, A2`` (Nh1 x Nh2), ``Wt2`` (Nh2 x Nh1),
    ``b, c, d``. Both phases are simulated (h1 and h2 interact even with v clamped).
    """

    architecture = archs.DEEP


class RestrictedSymmetric(Network):
    """The restricted network with symmetric couplings (docs/model.md "Symmetric couplings: the non-chaotic
    control"), ``RestrictedSymmetric(n_visible, n_hidden, g=..., ...)``: the equations of :class:`Restricted` with
    W-tilde = W^T,

    tau dv_i/dt = -v_i + (1/sqrt(Nh)) sum_a (W_ia + A_ia) phi(h_a) + b_i
    tau dh_a/dt = -h_a + (1/sqrt(Nv)) sum_i (W_ia + A_ia) phi(v_i) + c_a,

    trained by the same rule. ``params`` as :class:`Restricted`; ``Wt`` is W^T (the same seed draws the same
    ``W`` as :class:`Restricted`). The dynamics descends the energy :func:`chaossim.chaos.energy.energy` and
    cannot be chaotic at any g.
    """

    architecture = archs.RESTRICTED_SYMMETRIC
