"""Threads for many small items: ordered maps that hand work out in slices, not one task per item."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_in_slices(function: Callable[[T], R], items: Sequence[T], threads: int) -> list[R]:
    """``[function(item) for item in items]`` on up to ``threads`` threads, in order.

    Many items are handed out in a few contiguous slices per thread rather than
    one task each: for thousands of small files the per-task cost of a thread
    pool (a future, a lock, a wake-up) is more than the work.
    """
    threads = max(1, min(threads, len(items)))
    if threads == 1:
        return [function(item) for item in items]
    step = max(1, -(-len(items) // (threads * 4)))
    slices = [items[start : start + step] for start in range(0, len(items), step)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        done = pool.map(lambda part: [function(item) for item in part], slices)
        return [result for part in done for result in part]
