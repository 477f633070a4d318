"""The caching-allocator replay, against the rules of PyTorch's CUDACachingAllocator, by hand."""

from __future__ import annotations

from cnnstat.memory.allocator import CachingAllocator, ExactAllocator, round_request

MiB = 1 << 20


def test_requests_round_up_to_512_bytes() -> None:
    assert round_request(1) == 512
    assert round_request(512) == 512
    assert round_request(513) == 1024
    assert round_request(4 * 1000) == 4096  # 4000 bytes -> 8 blocks of 512


def test_small_requests_share_a_2mib_segment() -> None:
    a = CachingAllocator()
    assert a.malloc(1, 600) == 1024  # 600 -> 2 blocks of 512
    assert a.malloc(2, 100) == 512
    assert a.allocated_bytes == 1536
    assert a.reserved_bytes == 2 * MiB  # one small segment
    a.free(1)
    a.free(2)
    assert a.allocated_bytes == 0
    a.empty_cache()  # the two free blocks merged back into a whole free segment
    assert a.reserved_bytes == 0


def test_a_remainder_of_at_most_1mib_is_not_split_off() -> None:
    a = CachingAllocator()
    # a 1280x5120 float32 weight: 26,214,400 bytes = 25 MiB; the segment is rounded up to
    # 26 MiB and the 1 MiB rest is not > 1 MiB, so the whole block is charged
    assert a.malloc(1, 1280 * 5120 * 4) == 26 * MiB
    # a 3x1280x1280 float32 weight: 19,660,800 bytes (18.75 MiB) -> a 20 MiB segment whose
    # 1.25 MiB rest is split off and stays free
    assert a.malloc(2, 3 * 1280 * 1280 * 4) == 19_660_800
    assert a.allocated_bytes == 26 * MiB + 19_660_800
    assert a.reserved_bytes == 46 * MiB


def test_medium_requests_come_from_20mib_segments() -> None:
    a = CachingAllocator()
    assert a.malloc(1, 3 * MiB) == 3 * MiB
    assert a.malloc(2, 4 * MiB) == 4 * MiB  # best fit: the 17 MiB rest of the first segment
    assert a.reserved_bytes == 20 * MiB


def test_a_cached_block_is_reused_whole_when_the_rest_is_small() -> None:
    a = CachingAllocator()
    a.malloc(1, 30 * MiB)
    a.free(1)
    # 29.5 MiB fits the cached 30 MiB block; the 0.5 MiB rest stays attached
    assert a.malloc(2, 29 * MiB + MiB // 2) == 30 * MiB
    assert a.reserved_bytes == 30 * MiB


def test_peak_and_its_reset() -> None:
    a = CachingAllocator()
    a.malloc(1, 1000)
    a.malloc(2, 2000)
    a.free(2)
    assert a.peak_bytes == 1024 + 2048
    a.reset_peak()
    assert a.peak_bytes == 1024


def test_free_merges_with_both_neighbours() -> None:
    a = CachingAllocator()
    for h in range(3):
        a.malloc(h, 512)
    a.free(0)
    a.free(2)
    a.free(1)  # joins the free blocks on either side and the segment's free tail
    a.empty_cache()
    assert a.reserved_bytes == 0


def test_the_cpu_allocator_charges_exact_bytes() -> None:
    a = ExactAllocator()
    assert a.malloc(1, 4) == 4
    assert a.malloc(2, 1000) == 1000
    a.free(1)
    assert (a.allocated_bytes, a.peak_bytes) == (1000, 1004)
