"""Small layers and architectures for mapper tests (core types, no YAML)."""

from __future__ import annotations

from sbmodel.core import Architecture, ComputeLevel, DataSpace, Problem, StorageLevel, conv_problem


def conv1d_oc(K: int = 8, R: int = 3, P: int = 8) -> Problem:
    """Timeloop's conv1d+oc exercise shape: Weights[K,R], Inputs[R+P], Outputs[K,P]."""
    return Problem(
        "conv1d_oc", ("K", "R", "P"), (K, R, P),
        (DataSpace("Weights", (((1, "K"),), ((1, "R"),))),
         DataSpace("Inputs", (((1, "R"), (1, "P")),)),
         DataSpace("Outputs", (((1, "K"),), ((1, "P"),)), read_write=True)),
    )


def storage(name, size=None, mesh=(1, 1), block=1, r=1.0, f=1.0, u=1.0, leak=0.0, **kw) -> StorageLevel:
    return StorageLevel(name=name, size_words=size, word_bits=8, block_size=block, instances=mesh[0] * mesh[1],
                        mesh_x=mesh[0], mesh_y=mesh[1],
                        energy_pJ={"read": r, "fill": f, "update": u, "leak": leak}, **kw)


def three_level(rf: int = 16, buf: int = 256, pes: tuple[int, int] = (1, 1)) -> Architecture:
    """DRAM -> buffer -> PE register files (meshX x meshY) -> MACs."""
    n = pes[0] * pes[1]
    return Architecture("three_level", (
        storage("RF", rf, mesh=pes, r=0.5, f=0.5, u=0.5),
        storage("Buffer", buf, r=6.0, f=6.0, u=6.0),
        storage("DRAM", None, block=4, r=200.0, f=200.0, u=200.0),
    ), ComputeLevel("MAC", n, pes[0], pes[1], energy_pJ={"compute": 1.0}))


def small_conv() -> Problem:
    return conv_problem("tiny", M=4, C=2, P=4, Q=2, R=3, S=1)


def assert_is_trade(parent, trade, L: int) -> None:
    """``trade`` (factors ``[2L, D]``) is a factor trade of ``parent``: two dimensions change, each
    in one spatial slot and one temporal slot, and what one gives up in the array lands in the
    buffer while what the other gives up in the buffer lands in the array."""
    import numpy as np

    changed = np.argwhere(trade != parent)  # (slot, dimension) pairs
    assert len(changed) == 4 and len(set(changed[:, 1])) == 2
    buffer, array = sorted(set(changed[:, 0]))
    assert buffer < L <= array
    out_dim = next(d for s, d in changed if s == array and trade[s, d] < parent[s, d])
    in_dim = next(d for s, d in changed if s == array and trade[s, d] > parent[s, d])
    moved_out = parent[array, out_dim] // trade[array, out_dim]
    moved_in = trade[array, in_dim] // parent[array, in_dim]
    assert trade[array, out_dim] * moved_out == parent[array, out_dim]
    assert trade[buffer, out_dim] == parent[buffer, out_dim] * moved_out
    assert trade[buffer, in_dim] * moved_in == parent[buffer, in_dim]
