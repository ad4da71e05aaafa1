"""How a seed becomes random streams: the one rule, for every command and every simulation.

1. A run has one seed S: `--seed` of `bnreg verify`, `check`, `figures`, `cnn` and `demo` (or the
   `seed` argument of the matching function).  When it is not given, each command uses its own
   documented default (the numbers published in the docs were made with them):

       bnreg figures    S = 2019
       bnreg verify     each check's own base seed (20190101 unless the check declares one)
       bnreg check      each declared check's `seed` (formula_check: 0)
       bnreg cnn        the config's `seed` field (0)
       bnreg demo       S = 0

2. Each independent unit of work (a check's point, a figure's point, a demo's simulation) gets
   `derive_seed(S, *key)`, key naming the unit (the figure or demo name and the point's parameters;
   a check's point parameters), so units never share a stream and a unit's stream does not depend
   on which other units run.  Replicate k of a trained network uses S + k.
3. A unit's Monte Carlo is split into chunks fixed by the problem size; chunk i draws from
   `chunk_generators(unit_seed, n_chunks)[i]` (PCG64 streams of SeedSequence(unit_seed).spawn),
   and chunks are reduced in chunk order.  So a seed gives bit-identical results on any number of
   threads, processes or Dask workers.
"""

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
