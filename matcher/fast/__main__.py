"""``python -m matcher.fast``: compile the search's kernels into numba's on-disk cache.

Compiling them takes about half a minute; loaded from the cache, half a second. `make`
runs this right after installing (and again when `matcher/fast/kernels.py` changes), so
that no solve pays the compile: a first solve would otherwise overrun its time limit by
that much, since the compile happens inside its first iteration.
"""

from __future__ import annotations

import time

from matcher.construct import construct
from matcher.instance import build_instance
from matcher.samples import mary_problem
from matcher.solver.ruin import ruin_and_recreate


def main() -> None:
    began = time.perf_counter()
    instance = build_instance(mary_problem())
    _, start = construct(instance)
    # Every kernel a search calls is reached from its first iterations, with the very
    # argument types of a real search (each set of types is compiled apart).
    ruin_and_recreate(instance, start, max_iterations=3)
    print(f"search kernels ready ({time.perf_counter() - began:.1f} s)")


if __name__ == "__main__":
    main()
