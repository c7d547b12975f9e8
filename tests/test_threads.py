"""`threads.map_threads`: results in the items' order, the same for any thread count."""

from __future__ import annotations

import time

import torch

from vidgen_codec.threads import map_threads


def test_map_threads_keeps_order_for_any_thread_count():
    def slow_square(x):
        time.sleep(0.002 * (5 - x % 5))  # later items finish first
        return x * x

    threads = torch.get_num_threads()
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            assert map_threads(slow_square, range(12)) == [x * x for x in range(12)]
            assert map_threads(slow_square, []) == []
    finally:
        torch.set_num_threads(threads)
