"""Restricted Boltzmann machine with +-1 units: the baseline of docs/model.md "The RBM baseline".

The paper compares its chaotic models with RBMs trained with short, randomly started Monte Carlo
chains (Decelle, Furtlehner, Seoane 2021, the "Rdm" scheme): at every update the negative chains
start from uniformly random +-1 configurations and run T block-Gibbs sweeps; the number of sweeps
plays the role of the chaotic model's generation time T. ``persistent=True`` gives PCD instead.

Model. Visible spins s_i and hidden spins sigma_a in {-1, +1},

    H(s, sigma) = - sum_ia s_i W_ia sigma_a - sum_i b_i s_i - sum_a c_a sigma_a,   p = exp(-H) / Z,

so the conditionals factorise: p(sigma_a = +1 | s) = sigmoid(2 (s W + c)_a), <sigma_a | s> = tanh((s W + c)_a),
and likewise p(s_i = +1 | sigma) = sigmoid(2 (W sigma + b)_i). Summing the hidden spins out gives the
visible free energy F(s) = - b.s - sum_a log(2 cosh((s W + c)_a)), p(s) = exp(-F(s)) / Z.

Grey data. Data in [-1, 1] (docs/model.md "Notation") enter the positive phase as given: a grey value acts as
a magnetisation of the visible spin, and the positive statistics use <sigma | xi> = tanh(xi W + c).
For +-1 data this is the exact log-likelihood gradient; for grey data it is the gradient of
mean(-F(xi)) - log Z with F extended to real arguments (:func:`log_likelihood_exact` computes that).

Everything runs on ``bk.xp`` (NumPy or CuPy) with uniform draws from the model's backend generator;
the exact-enumeration helpers at the bottom work on the host in float64 for tiny models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from . import archs, streams
from .backend import derive_seed, get_backend, host_normal, to_numpy
from .errors import ConfigError, DataError
from .models.network import ModelBase, Params
from .validation import check_array, check_count, check_rate, check_seed, check_size

# Streams derived from the model seed.
W_STREAM = streams.RBM_INIT_W  # host_normal stream of the initial couplings
RNG_STREAM = streams.MODEL_RNG  # the model's generator (Gibbs sampling, random starts)
CHAIN_STREAM = streams.RBM_CHAINS  # initial persistent chains when n_chains is given at construction

MAX_ENUMERATED_UNITS = 24


def _check_count(name: str, value) -> int:
    """A number of Gibbs sweeps: a non-negative integer (integral floats such as 100.0 are accepted)."""
    return check_count(name, value, note=" (it counts block-Gibbs sweeps for an RBM)")


def _log_2cosh(xp, x):
    """log(2 cosh x) without overflow: |x| + log1p(exp(-2|x|))."""
    a = xp.abs(x)
    return a + xp.log1p(xp.exp(-2.0 * a))


class RBM(ModelBase):
    """A +-1 restricted Boltzmann machine trained by contrastive divergence from random starts (Rdm)
    or from persistent chains (PCD); see the module docstring for the energy and conventions.

    ``params``: ``W`` (Nv x Nh), ``b`` (Nv), ``c`` (Nh). W starts i.i.d. N(0, init_std^2), drawn on the
    host from ``seed`` (same model on every backend); b = c = 0. ``buffers``: ``{"chains": (n_chains, Nv)}``
    with ``persistent=True`` (created at construction when ``n_chains`` is given, otherwise at the first
    :meth:`train_step` with one chain per batch row), else empty. ``rng``: the backend generator used for
    every draw, seeded from ``derive_seed(seed, streams.MODEL_RNG)``; assign a new one to re-seed.
    """

    arch = archs.RBM.name
    visible = "v"

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        *,
        seed: int = 0,
        backend="numpy",
        dtype="float32",
        persistent: bool = False,
        init_std: float = 0.01,
        n_chains: int | None = None,
    ):
        nv, nh = check_size("n_visible", n_visible), check_size("n_hidden", n_hidden)
        seed = check_seed(seed)
        init_std = float(init_std)
        if not math.isfinite(init_std) or init_std < 0:
            raise ConfigError(
                f"init_std is the std of the initial couplings and must be finite and >= 0, got {init_std!r}."
            )
        if n_chains is not None and not persistent:
            raise ConfigError("n_chains sets the number of persistent chains; pass persistent=True or drop n_chains.")
        self.seed = int(seed)
        self.bk = get_backend(backend, dtype)
        self.persistent = bool(persistent)
        self.init_std = init_std
        self.sizes = {"v": nv, "h": nh}
        self.rng = self.bk.rng(derive_seed(self.seed, RNG_STREAM))
        self._params = Params(
            self.bk,
            {
                "W": self.bk.asarray(host_normal(self.seed, W_STREAM, (nv, nh), init_std)),
                "b": self.bk.zeros((nv,)),
                "c": self.bk.zeros((nh,)),
            },
        )
        self.buffers: dict = {}
        if self.persistent and n_chains is not None:
            n = check_size("n_chains", n_chains)
            self.buffers["chains"] = self._random_spins(self.bk.rng(derive_seed(self.seed, CHAIN_STREAM)), (n, nv))

    @classmethod
    def from_config(cls, arch, config, n_visible: int) -> RBM:
        """The RBM a run config describes (:func:`chaossim.runs.build.build_model`)."""
        m, bk = config.model, config.backend
        if config.dynamics.init_spread != 1.0:
            raise ConfigError(
                "dynamics.init_spread applies to the chaotic networks' free runs; the RBM has none. "
                "Leave it at 1 for model.arch = 'rbm'."
            )
        sizes = arch.size_kwargs(m, n_visible)
        return cls(**sizes, persistent=m.persistent, seed=m.seed, backend=bk.name, dtype=bk.dtype)

    # ------------------------------------------------------------------ parameters
    def param_layers(self) -> dict[str, tuple[str, ...]]:
        return archs.RBM.param_layers()

    @property
    def n_hidden(self) -> int:
        return self.sizes["h"]

    def describe(self) -> dict:
        """The constructor arguments, enough to rebuild this model's initial state."""
        return {
            "arch": self.arch,
            "n_visible": self.n_visible,
            "n_hidden": self.n_hidden,
            "seed": self.seed,
            "backend": self.bk.name,
            "dtype": np.dtype(self.bk.dtype).name,
            "persistent": self.persistent,
            "init_std": self.init_std,
        }

    def __repr__(self):
        kw = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "arch")
        return f"RBM({kw})"

    # ------------------------------------------------------------------ sampling primitives
    def _random_spins(self, rng, shape):
        """Uniformly random +-1 configurations."""
        s = (rng.random(shape, dtype=self.bk.dtype) < 0.5).astype(self.bk.dtype)
        s *= 2.0
        s -= 1.0
        return s

    def _sample(self, field):
        """(+-1 sample, conditional mean tanh(field)) with p(+1) = sigmoid(2 field) = (1 + tanh field) / 2.

        Drawing u uniform in [0, 1): s = +1 iff 2u - 1 < tanh(field).
        """
        m = self.xp.tanh(field)
        u = self.rng.random(m.shape, dtype=self.bk.dtype)
        u *= 2.0
        u -= 1.0
        s = (u < m).astype(self.bk.dtype)
        s *= 2.0
        s -= 1.0
        return s, m

    def hidden_field(self, v):
        """(v W + c): the field on the hidden spins given visible states (rows)."""
        return v @ self._params["W"] + self._params["c"]

    def visible_field(self, h):
        """(h W^T + b): the field on the visible spins given hidden states (rows)."""
        return h @ self._params["W"].T + self._params["b"]

    def sample_hidden(self, v):
        """(+-1 hidden sample from p(sigma | v), its mean tanh(v W + c))."""
        v = self._check_visible(v, "v")
        return self._sample(self.hidden_field(v))

    def sample_visible(self, h):
        """(+-1 visible sample from p(s | h), its mean tanh(h W^T + b))."""
        h = check_array(self.bk.asarray(h), "h", width=self.n_hidden, unit_range=True)
        return self._sample(self.visible_field(h))

    def _sweeps(self, v, steps: int, record: dict | None = None, keep_mean: bool = True):
        """``steps`` block-Gibbs sweeps v -> sigma -> v. ``record`` maps sweep index -> output slots;
        at each recorded sweep t >= 1 the visible conditional mean (or sample) is written there."""
        W, b, c = self._params["W"], self._params["b"], self._params["c"]
        Wt = W.T
        h = None
        for t in range(1, steps + 1):
            h, _ = self._sample(v @ W + c)
            v, m = self._sample(h @ Wt + b)
            if record and t in record:
                for slot in record[t]:
                    slot[...] = m if keep_mean else v
        return v, h

    def gibbs(self, v, steps: int, *, return_hidden: bool = False):
        """``steps`` full block-Gibbs sweeps (sigma ~ p(sigma | s), then s ~ p(s | sigma)) from visible states ``v``.

        ``v``: batch x Nv in [-1, 1] (+-1 for a proper chain; grey starts act as magnetisations in the first
        half-sweep). Returns the final +-1 visible samples, or ``(v, h)`` with ``h`` the hidden sample of the
        last sweep (needs steps >= 1).
        """
        v = self._check_visible(v, "v")
        steps = _check_count("steps", steps)
        if return_hidden and steps == 0:
            raise ConfigError("return_hidden=True needs steps >= 1 (the hidden sample of the last sweep).")
        v, h = self._sweeps(v, steps)
        return (v, h) if return_hidden else v

    def _check_visible(self, v, name: str, *, values: bool = True):
        return check_array(self.bk.asarray(v), name, width=self.n_visible, unit_range=True, values=values)

    # ------------------------------------------------------------------ training
    def train_step(
        self,
        batch,
        dt=None,
        tau=None,
        T=10,
        k: float = 0.01,
        init: Mapping | None = None,
        *,
        force: bool = False,
        check: bool = True,
    ) -> dict:
        """One contrastive update of W, b, c (gradient ascent on the log-likelihood, with Monte Carlo negatives).

        Positive term, from the batch xi (M x Nv in [-1, 1], used as given): <s_i sigma_a>_data =
        mean_mu xi_i tanh((xi W + c)_a) — the conditional expectation of the hidden spins, not a sample.
        Negative term, from chains started at uniformly random +-1 configurations (Rdm, M = len(batch)
        chains), or at ``buffers["chains"]`` (PCD; the final states are stored back), or at
        ``init["free"]["v"]``, run ``T`` block-Gibbs sweeps: <s_i sigma_a>_model = mean s_i tanh((s W + c)_a)
        over the final +-1 visible samples s — again the hidden conditional expectation (Rao-Blackwellised).

        dW = k (<s sigma>_data - <s sigma>_model), db = k (<s>_data - <s>_model), dc = k (<sigma>_data - <sigma>_model).
        ``dt``, ``tau`` and ``force`` are accepted for a uniform trainer interface and ignored; ``T`` is the
        number of sweeps (an integer; 100.0 is read as 100). Returns the updates {"W": dW, "b": db, "c": dc}
        (device arrays). ``check=False``: the caller has validated the values of ``batch`` and ``init`` (shapes
        are still checked); the step then reads nothing back from the device.
        """
        xp = self.xp
        batch = check_array(
            self.bk.asarray(batch), "batch", width=self.n_visible, unit_range=True, values=check, min_rows=1
        )
        steps = _check_count("T", T)
        k = check_rate(k)
        v0 = self._negative_start(batch.shape[0], init, check=check)
        v_neg, _ = self._sweeps(v0, steps)
        if self.persistent:
            self.buffers["chains"] = v_neg
        W, c = self._params["W"], self._params["c"]
        h_pos = xp.tanh(batch @ W + c)
        h_neg = xp.tanh(v_neg @ W + c)
        m_pos, m_neg = batch.shape[0], v_neg.shape[0]
        dW = batch.T @ h_pos
        dW *= 1.0 / m_pos
        dW -= (v_neg.T @ h_neg) * (1.0 / m_neg)
        dW *= k
        db = batch.mean(axis=0) - v_neg.mean(axis=0)
        db *= k
        dc = h_pos.mean(axis=0) - h_neg.mean(axis=0)
        dc *= k
        p = self._params
        deltas = {"W": dW, "b": db, "c": dc}
        for name, d in deltas.items():
            p.assign(name, p[name] + d, check=False)
        return deltas

    def _negative_start(self, m: int, init: Mapping | None, *, check: bool = True):
        if init:
            unknown = set(init) - {"free"}
            if unknown:
                raise DataError(
                    f"an RBM's init accepts only the key 'free' ({{'free': {{'v': array}}}}), got {sorted(unknown)}."
                )
            free = init.get("free") or {}
            extra = set(free) - {"v"}
            if extra:
                raise DataError(f"init['free'] of an RBM takes only the visible layer 'v', got {sorted(extra)}.")
            if "v" in free:
                return self._check_visible(free["v"], "init['free']['v']", values=check)
        if self.persistent:
            chains = self.buffers.get("chains")
            if chains is None:
                chains = self._random_spins(self.rng, (m, self.n_visible))
            return self._check_visible(chains, "buffers['chains']", values=check)
        return self._random_spins(self.rng, (m, self.n_visible))

    # ------------------------------------------------------------------ generation and scoring
    def generate(self, n: int, t, *, samples: bool = False):
        """Visible states after ``t`` block-Gibbs sweeps from ``n`` uniformly random +-1 starts.

        Returned by default: the conditional mean <s | sigma_t> = tanh(sigma_t W^T + b) of the last
        half-sweep (values in (-1, 1), comparable with grey data for the accuracy indices; it has the same
        off-diagonal covariance as the +-1 samples, since the visible spins are independent given sigma, with
        less noise). ``samples=True`` returns the +-1 samples instead. At t = 0 the random starts themselves
        are returned. ``t``: an integer, or a sequence of integers served by ONE run, giving an array of
        shape (len(t), n, Nv).
        """
        n = check_size("n", n)
        scalar = np.ndim(t) == 0
        times = [_check_count("t", x) for x in ([t] if scalar else list(t))]
        if not times:
            raise ConfigError("t is an empty list; give at least one number of sweeps.")
        out = self.xp.empty((len(times), n, self.n_visible), dtype=self.bk.dtype)
        v0 = self._random_spins(self.rng, (n, self.n_visible))
        record: dict[int, list] = {}
        for i, s in enumerate(times):
            if s == 0:
                out[i] = v0
            else:
                record.setdefault(s, []).append(out[i])
        self._sweeps(v0, max(times), record, keep_mean=not samples)
        return out[0] if scalar else out

    def reconstruct(self, data, t=1, *, hidden: str = "mean"):
        """One up-down pass, for E(R) (docs/indices.md): h = <sigma | xi> = tanh(xi W + c)
        (``hidden="sample"``: a +-1 draw from p(sigma | xi) instead), then <s | h> = tanh(h W^T + b).

        With the visible layer clamped to the data the hidden distribution is exact after one half-sweep,
        so the clamped time ``t`` (a non-negative integer, kept for a uniform interface) does not change
        the result.
        """
        data = self._check_visible(data, "data")
        _check_count("t", t)
        if hidden == "mean":
            h = self.xp.tanh(self.hidden_field(data))
        elif hidden == "sample":
            h, _ = self._sample(self.hidden_field(data))
        else:
            raise ConfigError(f"hidden must be 'mean' or 'sample', got {hidden!r}.")
        return self.xp.tanh(self.visible_field(h))

    def free_energy(self, v):
        """F(v) = - b.v - sum_a log(2 cosh((v W + c)_a)) per row, so p(v) = exp(-F(v)) / Z for +-1 v."""
        v = self._check_visible(v, "v")
        return -(v @ self._params["b"]) - _log_2cosh(self.xp, self.hidden_field(v)).sum(axis=1)

    # ------------------------------------------------------------------ exact (tiny models)
    def exact_distribution(self):
        """(states, probs): every +-1 visible configuration (2^Nv x Nv) and its exact probability."""
        return exact_distribution(self)

    def log_partition_exact(self) -> float:
        return log_partition_exact(self)

    def log_likelihood_exact(self, data) -> float:
        return log_likelihood_exact(self, data)


# ---------------------------------------------------------------------- exact enumeration helpers
def spin_configurations(n: int) -> np.ndarray:
    """All 2^n configurations of n +-1 spins as a float64 (2^n x n) array (first column most significant)."""
    n = check_size("n", n)
    if n > MAX_ENUMERATED_UNITS:
        raise ConfigError(
            f"enumerating 2^{n} configurations is too large; exact helpers need <= {MAX_ENUMERATED_UNITS} units."
        )
    idx = np.arange(2**n)[:, None]
    bits = (idx >> np.arange(n - 1, -1, -1)[None, :]) & 1
    return 2.0 * bits - 1.0


def _host_params(model):
    """W, b, c in float64 on the host, of an RBM or of a mapping of its parameters."""
    p = model if isinstance(model, Mapping) else model.params
    return {k: np.asarray(to_numpy(p[k]), dtype=np.float64) for k in ("W", "b", "c")}


def _logsumexp(x: np.ndarray) -> float:
    m = float(x.max())
    return m + math.log(float(np.exp(x - m).sum()))


def _neg_free_energy_host(v, W, b, c):
    return v @ b + _log_2cosh(np, v @ W + c).sum(axis=1)


def log_partition_exact(model, chunk: int = 1 << 14) -> float:
    """log Z by enumerating the smaller layer (the other is summed analytically), float64 on the host.

    ``model``: an :class:`RBM` or a mapping with W, b, c.
    """
    p = _host_params(model)
    W, b, c = p["W"], p["b"], p["c"]
    if W.shape[1] < W.shape[0]:  # enumerate hidden: -F_h(sigma) = c.sigma + sum_i log 2cosh((W sigma + b)_i)
        W, b, c = W.T, c, b
    n = W.shape[0]
    states = spin_configurations(n)
    parts = [_neg_free_energy_host(states[i : i + chunk], W, b, c) for i in range(0, len(states), chunk)]
    return _logsumexp(np.concatenate(parts))


def exact_distribution(model):
    """(states, probs) over all 2^Nv +-1 visible configurations, probs = exp(-F(s)) / Z (float64, host)."""
    p = _host_params(model)
    states = spin_configurations(p["W"].shape[0])
    logp = _neg_free_energy_host(states, p["W"], p["b"], p["c"])
    logp -= _logsumexp(logp)
    return states, np.exp(logp)


def log_likelihood_exact(model, data) -> float:
    """mean over rows of -F(xi) - log Z (float64, host): the exact average log-likelihood for +-1 data.

    For grey data in [-1, 1] F is evaluated at the grey values; this is the objective whose gradient the
    positive phase of :meth:`RBM.train_step` uses.
    """
    p = _host_params(model)
    x = np.asarray(to_numpy(data), dtype=np.float64)
    check_array(x, "data", width=p["W"].shape[0], unit_range=True)
    return float(_neg_free_energy_host(x, p["W"], p["b"], p["c"]).mean()) - log_partition_exact(p)
