"""Energy of one add and one multiply at given operand widths.

Where a design's compute energies list ``add`` and ``multiply``, those are
used.  Otherwise they are derived from its ``compute`` (MAC) energy: the MAC
is split into a multiply at the weight x input widths and an add at the
output (accumulator) width, in the proportions of Horowitz's 45 nm integer
figures (ISSCC 2014: add 0.03 pJ at 8 bits, 0.1 pJ at 32 bits; multiply
0.2 pJ at 8 x 8 bits, 3.1 pJ at 32 x 32 bits).  Adder energy is taken linear
in width and multiplier energy a power law of the product of the widths, both
fitted through those two points.  Scaling to the design's own MAC keeps every
energy in one technology.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import log

from ..core.architecture import ComputeLevel

# Horowitz, ISSCC 2014, Table "energy per operation", 45 nm, integer.
ADD_8BIT_PJ, ADD_32BIT_PJ = 0.03, 0.1
MULTIPLY_8BIT_PJ, MULTIPLY_32BIT_PJ = 0.2, 3.1
_MULTIPLY_EXPONENT = log(MULTIPLY_32BIT_PJ / MULTIPLY_8BIT_PJ) / log((32 * 32) / (8 * 8))

DEFAULT_BITS = {"Weights": 8, "Inputs": 8, "Outputs": 16}


def add_energy_45nm_pJ(bits: float) -> float:
    """Integer add of ``bits``-wide operands (linear in width through Horowitz's two points)."""
    slope = (ADD_32BIT_PJ - ADD_8BIT_PJ) / (32 - 8)
    return max(ADD_8BIT_PJ + slope * (bits - 8), slope)


def multiply_energy_45nm_pJ(a_bits: float, b_bits: float) -> float:
    """Integer multiply of an ``a_bits`` by a ``b_bits`` operand (power law in a_bits * b_bits)."""
    return MULTIPLY_8BIT_PJ * ((a_bits * b_bits) / 64.0) ** _MULTIPLY_EXPONENT


@dataclass(frozen=True)
class OperationEnergies:
    """Per-operation energies of a design's arithmetic units, with where they come from."""

    mac_pJ: float
    add_pJ: float
    multiply_pJ: float
    derived: bool  # add/multiply split from the MAC energy with the 45 nm proportions


def operation_energies(compute: ComputeLevel) -> OperationEnergies:
    """The design's add and multiply energies (given, or derived from its MAC, see module doc)."""
    e = compute.energy_pJ
    bits = {**DEFAULT_BITS, **dict(compute.operand_bits)}
    add_ref = add_energy_45nm_pJ(bits["Outputs"])
    mul_ref = multiply_energy_45nm_pJ(bits["Weights"], bits["Inputs"])
    if "add" in e and "multiply" in e:
        mac = float(e.get("compute", e["add"] + e["multiply"]))
        return OperationEnergies(mac, float(e["add"]), float(e["multiply"]), derived=False)
    mac = float(e.get("compute", 0.0))
    scale = mac / (add_ref + mul_ref)
    add = float(e["add"]) if "add" in e else add_ref * scale
    multiply = float(e["multiply"]) if "multiply" in e else mul_ref * scale
    return OperationEnergies(mac, add, multiply, derived=True)


__all__ = ["add_energy_45nm_pJ", "multiply_energy_45nm_pJ", "OperationEnergies", "operation_energies"]
