"""Property tests of RunConfig <-> TOML (hypothesis): every valid config survives the round trip exactly.

Deterministic: ``derandomize=True`` draws the same examples on every run (no example database).
"""
import dataclasses
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaossim.archs import names
from chaossim.config import (
    SECTIONS,
    BackendConfig,
    DataConfig,
    DynamicsConfig,
    ModelConfig,
    RunConfig,
    TrainingConfig,
)

PROPS = settings(max_examples=60, derandomize=True, database=None, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])

pos_int = st.integers(min_value=1, max_value=2**31)
nonneg_int = st.integers(min_value=0, max_value=2**31)
nonneg_float = st.floats(min_value=0.0, max_value=1e12, allow_nan=False, allow_infinity=False)
pos_float = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
text = st.text(max_size=30)  # any unicode except lone surrogates: control characters, quotes, newlines ...

models = st.builds(ModelConfig, arch=st.sampled_from(names()[:4]), n_hidden=pos_int, n_hidden2=pos_int, g=nonneg_float,
                   seed=st.integers(min_value=0, max_value=2**63 - 1), persistent=st.booleans())


@st.composite
def dynamics(draw):
    dt = draw(pos_float)
    return DynamicsConfig(dt=dt, tau=draw(pos_float), T=draw(st.integers(1, 10**6)) * dt)


trainings = st.builds(TrainingConfig, steps=pos_int, batch_size=pos_int, k=nonneg_float, log_every=pos_int,
                      checkpoint_every=pos_int, n_eval=pos_int, snapshot_every=nonneg_int, chaos_every=nonneg_int)
finite = st.floats(allow_nan=False, allow_infinity=False)
datas = st.builds(DataConfig, name=text, data_dir=text, n_train=nonneg_int, n_test=nonneg_int,
                  value_range=st.one_of(st.just(()), st.tuples(finite | st.integers(-2**40, 2**40),
                                                               finite | st.integers(-2**40, 2**40))))
backends = st.builds(BackendConfig, name=st.sampled_from(["numpy", "cupy", "auto"]),
                     dtype=st.sampled_from(["float32", "float64"]), force=st.booleans())
configs = st.builds(RunConfig, model=models, dynamics=dynamics(), training=trainings, data=datas, backend=backends)


def same_values_and_types(a: RunConfig, b: RunConfig) -> bool:
    """Equal AND of the same Python types field by field (1 == 1.0 would hide an int/float change)."""
    for name in SECTIONS:
        sa, sb = getattr(a, name), getattr(b, name)
        for f in dataclasses.fields(sa):
            va, vb = getattr(sa, f.name), getattr(sb, f.name)
            if va != vb or type(va) is not type(vb):
                return False
            if isinstance(va, tuple) and [type(x) for x in va] != [type(x) for x in vb]:
                return False
    return a == b


@PROPS
@given(configs)
def test_toml_round_trip_is_exact(cfg):
    text = cfg.to_toml()
    back = RunConfig.from_toml(text)
    assert same_values_and_types(back, cfg)
    assert back.to_toml() == text  # the text is a fixed point: saving a loaded config changes nothing


@PROPS
@given(configs)
def test_file_and_dict_round_trips(cfg):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "config.toml"
        cfg.save(path)
        assert same_values_and_types(RunConfig.load(path), cfg)
    assert same_values_and_types(RunConfig.from_dict(cfg.to_dict()), cfg)


@PROPS
@given(configs, configs, st.data())
def test_replace_sets_exactly_the_named_settings(a, b, data):
    """a.replace(section.name=b's value, ...) takes b's values for those settings and keeps a's elsewhere,
    whichever consistent subset of settings is replaced (dt and T travel together: T must stay a multiple of dt)."""
    keys = [f"{s}.{f.name}" for s, klass in SECTIONS.items() for f in dataclasses.fields(klass)
            if (s, f.name) not in (("dynamics", "dt"), ("dynamics", "T"))]
    chosen = data.draw(st.lists(st.sampled_from(keys), unique=True))
    if data.draw(st.booleans()):
        chosen += ["dynamics.dt", "dynamics.T"]
    bd = b.to_dict()
    new = a.replace(**{k: bd[k.split(".")[0]][k.split(".")[1]] for k in chosen})
    nd, ad = new.to_dict(), a.to_dict()
    for s, klass in SECTIONS.items():
        for f in dataclasses.fields(klass):
            want = bd if f"{s}.{f.name}" in chosen else ad
            assert nd[s][f.name] == want[s][f.name], f"{s}.{f.name}"
    assert same_values_and_types(RunConfig.from_toml(new.to_toml()), new)
