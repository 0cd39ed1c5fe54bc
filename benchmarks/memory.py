"""Page in the machine's free memory before a timed step.

This machine is a virtual machine whose host backs guest memory on first
touch and takes freed memory back (virtio balloon / free page reporting):
touching 12 GiB of never-touched memory took 28.5 s here, touching it again
right after 0.85 s. Whichever timed step first grows the page cache, a
PostgreSQL server's shared buffers or a process's heap pays about 2.4 s per
GiB on top of its own work, and the steps that write the most new memory (a
seed: heap, index, sort memory) pay the most. Touching, then freeing, some
memory just before each timed step (floor and measured code alike) hands the
step pages the host has already backed, as on a machine without a balloon.

``python benchmarks/memory.py [--gib 4]`` shows the effect: it touches
``--gib`` GiB of fresh memory twice in a row and prints both times (12 GiB:
28.5 s, then 0.85 s, on this machine; the first figure depends on how much
memory the host took back since it was last touched).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

DEFAULT_GIB = 1.5


def prefault(gib: float = DEFAULT_GIB) -> None:
    """Touch ``gib`` GiB of fresh memory and free it again (a no-op for 0)."""
    if gib <= 0:
        return
    pages = np.ones(int(gib * (1 << 30)) // 8, dtype=np.float64)
    del pages


def main() -> None:
    parser = argparse.ArgumentParser(description="Touch fresh memory twice in a row and time both passes.")
    parser.add_argument("--gib", type=float, default=4.0)
    args = parser.parse_args()
    for label in ("first touch", "second touch"):
        started = time.perf_counter()
        prefault(args.gib)
        seconds = time.perf_counter() - started
        print(f"{label}: {args.gib:g} GiB in {seconds:.2f} s ({seconds / args.gib:.2f} s/GiB)")


if __name__ == "__main__":
    main()
