"""What the repetition stage needs to know about a layer's weight values.

A :class:`WeightProfile` is the engine's view of a layer's weight statistics
(the workload's ``stats.weights``, see :mod:`sbmodel.spec.workload`): per
filter, how many weights are nonzero and how many distinct nonzero values
they take, how many sign/scale regions a filter has, and whether all the
nonzeros of a region share one magnitude (binary, ternary and signed-binary
codes) so that an adder can apply them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SpecError

SINGLE_MAGNITUDE_SCHEMES = frozenset({"binary", "ternary", "signed-binary"})


@dataclass(frozen=True)
class WeightProfile:
    """Per-filter weight statistics of one layer (filters = output channels ``M``)."""

    scheme: str
    bits: int  # bits per weight, uncompressed
    positions_per_filter: int  # C/groups * R * S
    nonzeros_per_filter: tuple[int, ...]
    unique_nonzero_per_filter: tuple[int, ...]
    regions_per_filter: int = 1  # sign/scale regions one output's dot product spans

    def __post_init__(self) -> None:
        if len(self.nonzeros_per_filter) != len(self.unique_nonzero_per_filter):
            raise SpecError(f"weight profile: {len(self.nonzeros_per_filter)} nonzero counts but "
                            f"{len(self.unique_nonzero_per_filter)} unique-value counts per filter")
        if not self.nonzeros_per_filter:
            raise SpecError("weight profile: needs at least one filter")
        for f, (n, u) in enumerate(zip(self.nonzeros_per_filter, self.unique_nonzero_per_filter)):
            if not 0 <= n <= self.positions_per_filter:
                raise SpecError(f"weight profile: filter {f} has {n} nonzeros, outside "
                                f"[0, {self.positions_per_filter}]")
            if not (u <= n and (u >= 1 or n == 0)):
                raise SpecError(f"weight profile: filter {f} has {u} unique nonzero values for {n} nonzeros")
        if self.bits < 1 or self.regions_per_filter < 1:
            raise SpecError("weight profile: bits and regions_per_filter must be >= 1")

    @property
    def filters(self) -> int:
        return len(self.nonzeros_per_filter)

    @property
    def weights(self) -> int:
        return self.filters * self.positions_per_filter

    @property
    def nonzeros(self) -> int:
        return sum(self.nonzeros_per_filter)

    @property
    def density(self) -> float:
        return self.nonzeros / self.weights

    @property
    def single_magnitude(self) -> bool:
        """Every region's nonzeros are +-one scale: an adder applies them (no multiplier)."""
        return self.scheme in SINGLE_MAGNITUDE_SCHEMES

    @staticmethod
    def distinct(filters: int, positions_per_filter: int, bits: int, density: float = 1.0) -> "WeightProfile":
        """No statistics: every nonzero weight is its own value (no repetition to exploit)."""
        nnz = int(round(density * positions_per_filter))
        return WeightProfile("fp", bits, positions_per_filter, (nnz,) * filters, (nnz,) * filters)


__all__ = ["WeightProfile", "SINGLE_MAGNITUDE_SCHEMES"]
