"""Device allocators replayed in pure Python: what each allocation really costs on the device.

``CachingAllocator`` follows PyTorch's CUDA caching allocator
(``c10/cuda/CUDACachingAllocator.cpp``, default settings, one stream):

* every request is rounded up to a multiple of 512 bytes;
* requests up to 1 MiB come from the small pool, carved out of 2 MiB segments;
  larger ones from the large pool: a 20 MiB segment for requests under 10 MiB,
  otherwise a segment rounded up to 2 MiB;
* a free block is found best-fit (smallest size, then lowest address);
* a block is split when the rest is at least 512 bytes (small pool) or more
  than 1 MiB (large pool); otherwise the whole block is handed out and counted
  as allocated, which is why ``memory_allocated`` can exceed the sum of
  tensor sizes;
* freed blocks merge with free neighbours in their segment; ``empty_cache``
  returns whole free segments to the device.

``allocated_bytes`` and ``peak_bytes`` have the meaning of
``torch.cuda.memory_allocated`` and ``torch.cuda.max_memory_allocated``.

``ExactAllocator`` is the CPU: each allocation costs its own byte count.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

MIN_BLOCK_BYTES = 512
SMALL_SIZE_BYTES = 1 << 20  # the largest "small" request
SMALL_SEGMENT_BYTES = 2 << 20  # small requests are packed in 2 MiB segments
LARGE_SEGMENT_BYTES = 20 << 20  # requests between 1 and 10 MiB share 20 MiB segments
MIN_LARGE_ALLOC_BYTES = 10 << 20
ROUND_LARGE_BYTES = 2 << 20  # larger segments are rounded up to 2 MiB


def round_request(nbytes: int) -> int:
    """The size the caching allocator really asks for: a multiple of 512 bytes, at least 512."""
    if nbytes < MIN_BLOCK_BYTES:
        return MIN_BLOCK_BYTES
    return MIN_BLOCK_BYTES * ((nbytes + MIN_BLOCK_BYTES - 1) // MIN_BLOCK_BYTES)


def segment_size(rounded: int) -> int:
    """Bytes obtained from the device (``cudaMalloc``) when no cached block fits ``rounded``."""
    if rounded <= SMALL_SIZE_BYTES:
        return SMALL_SEGMENT_BYTES
    if rounded < MIN_LARGE_ALLOC_BYTES:
        return LARGE_SEGMENT_BYTES
    return ROUND_LARGE_BYTES * ((rounded + ROUND_LARGE_BYTES - 1) // ROUND_LARGE_BYTES)


@dataclass(eq=False)
class _Block:
    address: int
    size: int
    small: bool
    allocated: bool = False
    prev: _Block | None = None
    next: _Block | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.size, self.address)


@dataclass
class _Pool:
    keys: list[tuple[int, int]] = field(default_factory=list)
    blocks: dict[tuple[int, int], _Block] = field(default_factory=dict)

    def insert(self, b: _Block) -> None:
        bisect.insort(self.keys, b.key)
        self.blocks[b.key] = b

    def remove(self, b: _Block) -> None:
        i = bisect.bisect_left(self.keys, b.key)
        del self.keys[i]
        del self.blocks[b.key]

    def best_fit(self, size: int) -> _Block | None:
        i = bisect.bisect_left(self.keys, (size, -1))
        if i == len(self.keys):
            return None
        b = self.blocks[self.keys[i]]
        self.remove(b)
        return b


class CachingAllocator:
    """A replay of PyTorch's CUDA caching allocator; handles are the caller's storage ids."""

    def __init__(self) -> None:
        self._small = _Pool()
        self._large = _Pool()
        self._live: dict[int, _Block] = {}
        self._next_address = 1 << 32
        self.allocated_bytes = 0
        self.peak_bytes = 0
        self.reserved_bytes = 0

    def block_bytes(self, handle: int) -> int:
        """Bytes charged for a live allocation (its block, not the request)."""
        return self._live[handle].size

    def malloc(self, handle: int, nbytes: int) -> int:
        """Allocate ``nbytes`` for ``handle``; returns the bytes charged."""
        size = round_request(nbytes)
        small = size <= SMALL_SIZE_BYTES
        pool = self._small if small else self._large
        block = pool.best_fit(size)
        if block is None:
            seg = segment_size(size)
            block = _Block(self._next_address, seg, small)
            self._next_address += seg + (1 << 21)  # segments never touch
            self.reserved_bytes += seg
        rest = block.size - size
        if rest >= MIN_BLOCK_BYTES if small else rest > SMALL_SIZE_BYTES:
            remaining = _Block(block.address + size, rest, small, prev=block, next=block.next)
            if block.next is not None:
                block.next.prev = remaining
            block.next = remaining
            block.size = size
            pool.insert(remaining)
        block.allocated = True
        self._live[handle] = block
        self.allocated_bytes += block.size
        self.peak_bytes = max(self.peak_bytes, self.allocated_bytes)
        return block.size

    def free(self, handle: int) -> int:
        """Free ``handle``'s block; returns the bytes released from ``allocated_bytes``."""
        block = self._live.pop(handle)
        freed = block.size
        self.allocated_bytes -= freed
        block.allocated = False
        pool = self._small if block.small else self._large
        for neighbour in (block.prev, block.next):
            if neighbour is not None and not neighbour.allocated:
                pool.remove(neighbour)
                if neighbour is block.prev:
                    neighbour.size += block.size
                    neighbour.next = block.next
                    if block.next is not None:
                        block.next.prev = neighbour
                    block = neighbour
                else:
                    block.size += neighbour.size
                    block.next = neighbour.next
                    if neighbour.next is not None:
                        neighbour.next.prev = block
        pool.insert(block)
        return freed

    def empty_cache(self) -> None:
        """Return every wholly free segment to the device (``torch.cuda.empty_cache``)."""
        for pool in (self._small, self._large):
            for key in list(pool.keys):
                b = pool.blocks[key]
                if b.prev is None and b.next is None:
                    pool.remove(b)
                    self.reserved_bytes -= b.size

    def reset_peak(self) -> None:
        """``torch.cuda.reset_peak_memory_stats``."""
        self.peak_bytes = self.allocated_bytes


class ExactAllocator:
    """The CPU allocator: an allocation costs exactly its bytes, and nothing is cached."""

    def __init__(self) -> None:
        self._live: dict[int, int] = {}
        self.allocated_bytes = 0
        self.peak_bytes = 0

    @property
    def reserved_bytes(self) -> int:
        return self.allocated_bytes

    def block_bytes(self, handle: int) -> int:
        return self._live[handle]

    def malloc(self, handle: int, nbytes: int) -> int:
        self._live[handle] = nbytes
        self.allocated_bytes += nbytes
        self.peak_bytes = max(self.peak_bytes, self.allocated_bytes)
        return nbytes

    def free(self, handle: int) -> int:
        n = self._live.pop(handle)
        self.allocated_bytes -= n
        return n

    def empty_cache(self) -> None:
        pass

    def reset_peak(self) -> None:
        self.peak_bytes = self.allocated_bytes
