"""The three architectures of docs/model.md ("The three architectures"), as layer/coupling tables."""

from __future__ import annotations

from ..validation import check_size
from .network import Coupling, Layer, Network, Trained


class Unrestricted(Network):
    """One recurrent layer of Nv units (docs/model.md; paper Eq. (2)):

    tau dv_i/dt = -v_i + (1/sqrt(Nv)) sum_j (J_ij + A_ij) phi(v_j) + b_i.

    ``params``: ``J`` (fixed, N(0, g)), ``A`` (trained, symmetric updates), ``b``.
    """

    arch = "unrestricted"

    def __init__(
        self,
        n_visible: int,
        *,
        g: float = 1.5,
        seed: int = 0,
        backend="numpy",
        dtype="float32",
        dt: float = 1.0,
        tau: float = 10.0,
        force: bool = False,
    ):
        nv = check_size("n_visible", n_visible)
        self.layers = (Layer("v", nv, "b"),)
        self.couplings = (Coupling("v", "v", "J", "A"),)
        self.trained = (Trained("A", "v", "v"),)
        super().__init__(g=g, seed=seed, backend=backend, dtype=dtype, dt=dt, tau=tau, force=force)

    def _size_kwargs(self):
        return {"n_visible": self.sizes["v"]}


class Restricted(Network):
    """Visible and hidden layers, no intra-layer links (docs/model.md; paper Eqs. (4)-(5)):

    tau dv_i/dt = -v_i + (1/sqrt(Nh)) sum_a (W_ia + A_ia) phi(h_a) + b_i
    tau dh_a/dt = -h_a + (1/sqrt(Nv)) sum_i (Wt_ai + A_ia) phi(v_i) + c_a

    ``params``: ``W`` (Nv x Nh), ``Wt`` (Nh x Nv, independent of W: asymmetric, chaotic),
    ``A`` (Nv x Nh, trained, used by both directions), ``b`` (Nv), ``c`` (Nh). The clamped phase of training uses
    the exact solution for h (docs/model.md "Training").
    """

    arch = "restricted"

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        *,
        g: float = 1.5,
        seed: int = 0,
        backend="numpy",
        dtype="float32",
        dt: float = 1.0,
        tau: float = 10.0,
        force: bool = False,
    ):
        nv, nh = check_size("n_visible", n_visible), check_size("n_hidden", n_hidden)
        self.layers = (Layer("v", nv, "b"), Layer("h", nh, "c"))
        self.couplings = (Coupling("v", "h", "W", "A"), Coupling("h", "v", "Wt", "A", transpose=True))
        self.trained = (Trained("A", "v", "h"),)
        super().__init__(g=g, seed=seed, backend=backend, dtype=dtype, dt=dt, tau=tau, force=force)

    def _size_kwargs(self):
        return {"n_visible": self.sizes["v"], "n_hidden": self.sizes["h"]}


class Deep(Network):
    """Three layers v - h1 - h2 (docs/model.md; paper Eqs. (8)-(10)):

    tau dv/dt  = -v  + (1/sqrt(Nh1)) (W1 + A1) phi(h1) + b
    tau dh1/dt = -h1 + (1/sqrt(Nv)) (Wt1 + A1^T) phi(v) + (1/sqrt(Nh2)) (W2 + A2) phi(h2) + c
    tau dh2/dt = -h2 + (1/sqrt(Nh1)) (Wt2 + A2^T) phi(h1) + d

    ``params``: ``W1, A1`` (Nv x Nh1), ``Wt1`` (Nh1 x Nv), ``W2, A2`` (Nh1 x Nh2), ``Wt2`` (Nh2 x Nh1),
    ``b, c, d``. Both phases are simulated (h1 and h2 interact even with v clamped).
    """

    arch = "deep"

    def __init__(
        self,
        n_visible: int,
        n_hidden1: int,
        n_hidden2: int,
        *,
        g: float = 1.5,
        seed: int = 0,
        backend="numpy",
        dtype="float32",
        dt: float = 1.0,
        tau: float = 10.0,
        force: bool = False,
    ):
        nv = check_size("n_visible", n_visible)
        n1, n2 = check_size("n_hidden1", n_hidden1), check_size("n_hidden2", n_hidden2)
        self.layers = (Layer("v", nv, "b"), Layer("h1", n1, "c"), Layer("h2", n2, "d"))
        self.couplings = (
            Coupling("v", "h1", "W1", "A1"),
            Coupling("h1", "v", "Wt1", "A1", transpose=True),
            Coupling("h1", "h2", "W2", "A2"),
            Coupling("h2", "h1", "Wt2", "A2", transpose=True),
        )
        self.trained = (Trained("A1", "v", "h1"), Trained("A2", "h1", "h2"))
        super().__init__(g=g, seed=seed, backend=backend, dtype=dtype, dt=dt, tau=tau, force=force)

    def _size_kwargs(self):
        return {"n_visible": self.sizes["v"], "n_hidden1": self.sizes["h1"], "n_hidden2": self.sizes["h2"]}
