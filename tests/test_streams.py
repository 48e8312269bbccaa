"""The random-stream registry (chaossim.streams): distinct numbers, and every draw goes through it."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

import chaossim
from chaossim import streams
from chaossim.backend import derive_seed, host_normal

PACKAGE = Path(chaossim.__file__).parent
# calls whose second positional argument (after the seed) is a stream number
STREAM_CALLS = {"derive_seed", "host_normal", "_rng"}


def test_device_streams_are_distinct():
    values = list(streams.DEVICE_STREAMS.values())
    assert len(values) == len(set(values)), streams.DEVICE_STREAMS
    assert set(streams.DEVICE_STREAMS) >= {"MODEL_RNG", "TRAIN_STEP", "EVAL_RUN_INDICES", "ANALYSIS_STATES"}


def test_host_streams_are_distinct_including_the_network_range():
    used: dict[int, str] = {}
    for name, value in streams.HOST_STREAMS.items():
        span = range(value, value + streams.NETWORK_INIT_SPAN) if name == "NETWORK_INIT" else [value]
        for v in span:
            assert v not in used, f"{name} and {used[v]} share host stream {v}"
            used[v] = name


def test_the_two_collisions_of_issue_14_are_gone():
    # analysis.fixed_points used derive_seed(seed, 11), the evaluate index stream; the RBM's W used
    # host stream 0, the data split's: same SeedSequence, so the same bits.
    assert streams.ANALYSIS_STATES != streams.EVAL_RUN_INDICES
    w = host_normal(3, streams.RBM_INIT_W, 8)
    split_bits = np.random.default_rng(np.random.SeedSequence([3, streams.DATA_SPLIT])).standard_normal(8)
    assert not np.allclose(w, split_bits)
    assert derive_seed(3, streams.ANALYSIS_STATES) != derive_seed(3, streams.EVAL_RUN_INDICES)


def test_network_init_range_is_checked():
    assert streams.network_init(0) == streams.NETWORK_INIT
    try:
        streams.network_init(streams.NETWORK_INIT_SPAN)
    except ValueError as e:
        assert "NETWORK_INIT_SPAN" in str(e)
    else:  # pragma: no cover - the assertion below reports it
        raise AssertionError("network_init accepted an index past its span")


def _bare_stream_literals(tree: ast.AST) -> list[int]:
    """Line numbers of calls derive_seed/host_normal/_rng(seed, <int literal>, ...)."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        if name not in STREAM_CALLS or len(node.args) < 2:
            continue
        stream = node.args[1]
        if isinstance(stream, ast.BinOp):  # e.g. 100 + i: the literal is still a stream number
            stream = stream.left if isinstance(stream.left, ast.Constant) else stream.right
        if isinstance(stream, ast.Constant) and isinstance(stream.value, int):
            lines.append(node.lineno)
    return lines


def test_the_scan_finds_a_bare_literal():
    tree = ast.parse("derive_seed(seed, 11)\nbk.rng(derive_seed(s, streams.EVAL, 3))\n"
                     "host_normal(s, 100 + i, (2, 2))\n")
    assert _bare_stream_literals(tree) == [1, 3]


def test_no_module_passes_a_bare_stream_number():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "streams.py":
            continue
        for line in _bare_stream_literals(ast.parse(path.read_text(), filename=str(path))):
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}")
    assert not offenders, "use a constant of chaossim.streams: " + ", ".join(offenders)
