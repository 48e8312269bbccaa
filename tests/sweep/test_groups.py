"""Which grid points a sweep trains together (chaossim.sweep.groups.plan_groups)."""
import pytest

from chaossim.errors import ConfigError
from chaossim.sweep.groups import MAX_GROUP_SIZE, default_group_size, member_bytes, plan_groups
from chaossim.sweep.spec import load_spec

from .conftest import tiny_spec

NV = lambda cfg: 64  # noqa: E731  (digits: 8 x 8)


def flat(groups):
    return sorted(i for g in groups for i in g)


def test_points_equal_up_to_g_and_seed_share_a_group():
    spec = tiny_spec(g="[1.0, 1.5, 2.0]", T="[10.0, 20.0]", extra_grid="seed = [0, 1]")  # dims g, T, seed
    groups = plan_groups(spec, range(spec.n_points), n_workers=1, n_visible=NV)
    assert flat(groups) == list(range(12))
    for g in groups:
        assert len({spec.config(i).dynamics.T for i in g}) == 1  # T is never mixed
    assert sorted(len(g) for g in groups) == [6, 6]
    assert groups[0] == [i for i in range(12) if spec.point_values(i)["T"] == 20.0]  # most expensive first


def test_groups_are_cut_for_the_workers_and_the_size_cap():
    spec = tiny_spec(g="[1.0, 1.5, 2.0, 2.5]", T="[10.0, 20.0]")
    # 2 workers: the T = 20 class costs 2/3 of the sweep, more than a worker's share: it is cut in two
    two = plan_groups(spec, range(8), n_workers=2, n_visible=NV)
    assert [len(g) for g in two] == [4, 2, 2] and flat(two) == list(range(8))
    assert all(spec.config(i).dynamics.T == 10.0 for i in two[0])
    # more workers than points: every point alone
    assert [len(g) for g in plan_groups(spec, range(8), n_workers=16, n_visible=NV)] == [1] * 8
    # the cap
    capped = plan_groups(spec, range(8), n_workers=1, max_size=3, n_visible=NV)
    assert flat(capped) == list(range(8))
    assert sorted(len(g) for g in capped) == [2, 2, 2, 2]  # 4 under a cap of 3: 2 + 2, not 3 + 1
    # only pending points
    assert flat(plan_groups(spec, [1, 3, 6], n_workers=1, n_visible=NV)) == [1, 3, 6]


def test_rbm_points_are_alone_and_other_settings_separate():
    from chaossim.sweep.spec import parse_spec

    spec = parse_spec("[grid]\ng = [1.0, 2.0]\narch = ['restricted', 'rbm']\nk = [0.1, 0.2]\n"
                      "[model]\nn_hidden = 8\n[training]\nsteps = 10\nbatch_size = 50\n")
    groups = plan_groups(spec, range(spec.n_points), n_workers=1, n_visible=NV)
    for g in groups:
        cfgs = [spec.config(i) for i in g]
        assert len({(c.model.arch, c.training.k) for c in cfgs}) == 1
        if cfgs[0].model.arch == "rbm":
            assert len(g) == 1
    assert sorted(len(g) for g in groups) == [1, 1, 1, 1, 2, 2]


def test_on_numpy_only_small_models_are_grouped_by_default():
    from chaossim.sweep.groups import HOST_MAX_STEP_FLOPS, step_flops

    small = tiny_spec(g="[1.0, 2.0]", T="[10.0]")  # restricted 64 x 8, M = 50
    assert step_flops(small.config(0), 64) <= HOST_MAX_STEP_FLOPS
    assert plan_groups(small, range(2), n_visible=NV, max_step_flops=HOST_MAX_STEP_FLOPS) == [[0, 1]]
    big = tiny_spec(g="[1.0, 2.0]", T="[10.0]", n_hidden=500)
    big_nv = lambda cfg: 784  # noqa: E731
    assert step_flops(big.config(0), 784) > HOST_MAX_STEP_FLOPS
    assert plan_groups(big, range(2), n_visible=big_nv, max_step_flops=HOST_MAX_STEP_FLOPS) == [[0], [1]]
    assert plan_groups(big, range(2), n_visible=big_nv) == [[0, 1]]  # --ensembles, or CuPy


def test_default_cap_from_memory():
    paper = load_spec("sweeps/paper.toml")
    cfg = paper.config(0)
    assert member_bytes(cfg, 784) > 6 * cfg.training.batch_size * 784 * 4
    assert 1 <= default_group_size(cfg, 784) <= MAX_GROUP_SIZE
    assert default_group_size(tiny_spec().config(0), 64) == MAX_GROUP_SIZE


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_bad_group_size_is_refused(bad):
    with pytest.raises(ConfigError, match="group size must be a positive integer"):
        plan_groups(tiny_spec(), range(4), max_size=bad, n_visible=NV)
