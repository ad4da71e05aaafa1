"""Seeds -> independent per-chunk streams.  Chunking is fixed by the problem size, never by the
thread count, so a seed gives bit-identical results on any number of threads."""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["chunk_generators", "derive_seed"]


def chunk_generators(seed: int, n_chunks: int) -> list[np.random.Generator]:
    """One PCG64 Generator per chunk from SeedSequence(seed).spawn(n_chunks)."""
    return [np.random.Generator(np.random.PCG64(s)) for s in np.random.SeedSequence(seed).spawn(n_chunks)]


def derive_seed(base: int, *keys: object) -> int:
    """A stable 63-bit seed for (base, keys): independent points of a sweep get distinct streams."""
    h = hashlib.sha256(repr((int(base),) + tuple(keys)).encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1
