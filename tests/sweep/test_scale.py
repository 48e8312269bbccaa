"""Stores of many points: chunks of several grid points written whole by one task, planning from one config per
distinct setting, CF attributes, finished run directories in one file (docs/store.md, docs/sweeps.md)."""
import numpy as np
import pytest
import xarray as xr

from chaossim.sweep.groups import _chunk_ids, plan_groups, plan_tasks
from chaossim.sweep.point import run_group, run_point
from chaossim.sweep.spec import parse_spec
from chaossim.sweep.store import RUN_VARIABLES, create_store, grid_chunks_of, open_sweep, runs_dir

from .conftest import assert_same_results, tiny_text

SEEDS = 'seed = [0, 1]'


def spec16():
    """4 g x 2 T x 2 seeds of tiny restricted models."""
    return parse_spec(tiny_text(g="[0.5, 1.0, 1.5, 2.0]", T="[10.0, 20.0]", extra_grid=SEEDS, steps=4),
                      default_name="tiny")


def test_plan_groups_builds_one_config_per_class_not_per_point(monkeypatch):
    """Grouping 10^5 points took 37 s: a config per point. Now one per class (here: per T value)."""
    text = tiny_text(g=str([round(0.1 * i, 2) for i in range(100)]), T=str([float(t) for t in range(10, 110, 10)]),
                     extra_grid="seed = " + str(list(range(100))))
    spec = parse_spec(text, default_name="big")
    assert spec.n_points == 100_000
    built = []
    original = type(spec).config

    def counted(self, index, backend=None):
        built.append(index)
        return original(self, index, backend)

    monkeypatch.setattr(type(spec), "config", counted)
    groups = plan_groups(spec, range(spec.n_points), n_workers=2, n_visible=lambda cfg: 64)
    assert len(built) == 10  # one per T
    assert sorted(i for g in groups for i in g) == list(range(spec.n_points))
    for g in groups:  # a group is one class: one T, any g and seed
        t = {spec.multi_index(i)[1] for i in g}
        assert len(t) == 1


def test_tasks_own_whole_chunks():
    """Every chunk of the store is written by one task only, whatever the grouping."""
    spec = spec16()
    for chunks in [(2, 1, 2), (3, 1, 1), (1, 2, 2), (4, 2, 2)]:
        for max_size in (1, 3, None):
            tasks = plan_tasks(spec, range(spec.n_points), chunks=chunks, max_size=max_size, n_workers=3,
                               n_visible=lambda cfg: 64)
            owner = {}
            ids = _chunk_ids(spec, chunks)
            for t, task in enumerate(tasks):
                for g in task:
                    for i in g:
                        assert owner.setdefault(int(ids[i]), t) == t, (chunks, max_size)
            assert sorted(i for task in tasks for g in task for i in g) == list(range(spec.n_points))


def test_a_store_of_many_points_has_few_files():
    """2 000 points: chunks of about 32 points (64 chunks per array), spanning seeds and g first."""
    from chaossim.sweep.store import Layout, grid_chunks

    text = tiny_text(g=str([0.25 * (i + 1) for i in range(20)]), T=str([5.0 * (i + 1) for i in range(10)]),
                     extra_grid="seed = " + str(list(range(10))))
    spec = parse_spec(text, default_name="s")
    lay = Layout(sizes={"t_age": 3}, variables={"E2": (("g", "T", "seed", "t_age"), "float64", np.nan, {})})
    assert grid_chunks(spec, lay) == (3, 1, 10)


def test_a_chunked_store_equals_one_chunk_per_point(tmp_path):
    """The same spec laid out with one chunk per point (the layout of schema 3) and with chunks of 4 points,
    each chunk written by one ensemble of 4 points at once: every variable equal to the bit on NumPy (but the
    per-run bookkeeping)."""
    spec = spec16()
    one, many = tmp_path / "one.zarr", tmp_path / "many.zarr"
    create_store(one, spec, chunks=(1, 1, 1))
    create_store(many, spec, chunks=(2, 1, 2))
    assert grid_chunks_of(many) == (2, 1, 2) and grid_chunks_of(one) == (1, 1, 1)
    for i in range(spec.n_points):
        run_point(spec, i, one)
    for task in plan_tasks(spec, range(spec.n_points), chunks=(2, 1, 2), max_size=4, n_workers=4):
        for g in task:
            run_group(spec, g, many)
    assert open_sweep(many).done.values.all()
    assert_same_results(one, many, skip=RUN_VARIABLES)
    a, b = xr.open_zarr(one), xr.open_zarr(many)
    assert a.E2.encoding["chunks"][:3] == (1, 1, 1) and b.E2.encoding["chunks"][:3] == (2, 1, 2)
    # few files: one chunk file per 4 points and array
    assert len(list((many / "E2" / "c").rglob("*"))) < len(list((one / "E2" / "c").rglob("*")))


def test_finished_points_keep_their_run_directory_in_one_file(tmp_path):
    """8 000 files in PATH.zarr.runs/ for 2 000 points: four per point. A finished point keeps one zip of its
    run directory, which a re-run of a damaged point unpacks and records again without training."""
    import zipfile

    from chaossim.sweep.mirror import packed
    from chaossim.sweep.store import reset_points

    spec = spec16()
    store = tmp_path / "s.zarr"
    create_store(store, spec, chunks=(2, 1, 2))
    summaries = run_group(spec, [0, 1, 4, 5], store)  # one chunk: g 0.5 and 1.0 at T = 10, both seeds
    assert [s["status"] for s in summaries] == ["done"] * 4, summaries
    runs = runs_dir(store)
    assert sorted(p.name for p in runs.iterdir()) == sorted(spec.point_key(i) + ".zip" for i in (0, 1, 4, 5))
    with zipfile.ZipFile(packed(runs, spec.point_key(0)).path) as z:
        assert sorted(z.namelist()) == ["checkpoint.npz", "config.toml", "history.csv", "meta.json"]
    before = open_sweep(store).E2.values.copy()
    reset_points(store, spec, [0, 1])
    assert not open_sweep(store).done.values.reshape(-1)[:2].any()
    summaries = run_group(spec, [0, 1], store)
    assert all(s["status"] == "done" and s["steps_done"] == 4 for s in summaries)
    np.testing.assert_array_equal(open_sweep(store).E2.values, before)


def test_every_variable_and_coordinate_has_a_long_name_and_time_axes_have_units(tmp_path):
    """Issue 22: ds.EAAI.plot() labelled its axes 'EAAI', 't_age'; no time unit anywhere."""
    spec = parse_spec(tiny_text(steps=2) + "spreads = [0.5]\nn_diversity = 4\nn_long = 4\nt_long = 20.0\n",
                      default_name="cf")
    store = tmp_path / "cf.zarr"
    create_store(store, spec)
    ds = xr.open_zarr(store)
    for name in ds.variables:
        assert ds[name].attrs.get("long_name"), name
    for name in ("t", "T", "traj_time"):
        assert "model time unit" in ds[name].attrs["units"] and "tau" in ds[name].attrs["units"], name
    assert ds.t_age.attrs["units"] == "training steps"
    for name in ("E2_t", "EAAI_t", "EAAI"):
        assert "lower is better" in ds[name].attrs["description"]
    assert "lower is better" in ds.E2_t.attrs["description"]


@pytest.mark.slow
def test_concurrent_workers_write_whole_chunks(tmp_path):
    """Real concurrent Dask workers on a store of 4-point chunks, one task per point asked (--no-ensembles):
    the tasks are formed by chunk (several points one after the other in one task), no point is lost, and the
    store equals the in-process reference to the bit. Two writers of one chunk at once would each write back
    the chunk as they read it, losing the other's points (zarr-python issue 3682)."""
    from distributed import Client, LocalCluster

    from chaossim.sweep.cluster import run_sweep

    spec = spec16()
    ref, store = tmp_path / "ref.zarr", tmp_path / "s.zarr"
    create_store(ref, spec, chunks=(1, 1, 1))
    for i in range(spec.n_points):
        run_point(spec, i, ref)
    create_store(store, spec, chunks=(2, 1, 2))
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        r = run_sweep(spec, store, client=client, progress=False, ensembles=False)
    assert sorted(r.done) == list(range(spec.n_points)) and not r.failed
    assert len(r.groups) == 4 and all(len(t) == 4 for t in r.groups)  # one task per chunk of 4 points
    assert_same_results(ref, store, skip=RUN_VARIABLES)


def test_the_first_tasks_begin_with_one_chunk_of_points():
    """A task of about 100 points trained as one ensemble stored its first point after the whole task (28 s into
    a 2 000-point sweep): the tasks the workers start with train their first chunk's points first, on their own."""
    text = tiny_text(g=str([0.25 * (i + 1) for i in range(20)]), T=str([5.0 * (i + 1) for i in range(10)]),
                     extra_grid="seed = " + str(list(range(10))))
    spec = parse_spec(text, default_name="s")
    chunks = (3, 1, 10)
    ids = _chunk_ids(spec, chunks)
    tasks = plan_tasks(spec, range(spec.n_points), chunks=chunks, n_workers=2, n_visible=lambda cfg: 64)
    assert sorted(i for t in tasks for g in t for i in g) == list(range(spec.n_points))
    for t in tasks[:2]:
        assert len(t) == 2 and len({int(ids[i]) for i in t[0]}) == 1 and len(t[0]) == 30
        assert not {int(ids[i]) for i in t[1]} & {int(ids[i]) for i in t[0]}
    assert all(len(t) == 1 for t in tasks[2:])
    assert plan_tasks(spec, range(spec.n_points), chunks=chunks, n_workers=2, starters=0,
                      n_visible=lambda cfg: 64) == [[t[0] + t[1]] if len(t) == 2 else t for t in tasks]
