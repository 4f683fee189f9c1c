"""How the benchmarks print a figure measured against a floor (the least any implementation must do)."""

from __future__ import annotations


def of_floor(ratio: float) -> str:
    """``ratio`` = ours / floor in throughput (or floor / ours in time). Above 1 is the machine's noise, never a
    result: the floor does strictly less work than ours, so it prints as at the floor."""
    return f"{ratio:.2f}" if ratio <= 1.0 else f"at the floor, within noise ({ratio:.2f} measured)"


def of_floor_short(ratio: float) -> str:
    """The same for a table cell: ``0.73``, or ``floor*`` (at the floor within noise) above 1."""
    return f"{ratio:.2f}" if ratio <= 1.0 else "floor*"
