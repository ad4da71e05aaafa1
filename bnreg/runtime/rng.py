"""How a seed becomes random streams: the one rule, for every command and every simulation.

1. A run has one seed S: `--seed` of `bnreg verify`, `check`, `figures`, `cnn` and `demo` (or the
   `seed` argument of the matching function), an integer >= 0.  When it is not given, each command
   uses its own documented default (the numbers published in the docs were made with them):

       bnreg figures    S = 2019
       bnreg verify     each check's own base seed (20190101 unless the check declares one)
       bnreg check      each declared check's `seed` (formula_check: 0)
       bnreg cnn        the config's `seed` field (0)
       bnreg demo       S = 0

2. Each independent unit of work draws from its own seed, derived from S and the unit's key by
   `derive_seed(S, *key)`, so units never share a stream and a unit's stream does not depend on
   which other units run:
       a check's point        key = the point's parameters (checks simulating one quantity share it)
       a figure's point       key = the figure's name and the point's parameters
       a trained network      key = ("cnn", replicate k) in the figures, so that figures share the
                              networks they have in common; in `bnreg cnn` and the demos the
                              network of replicate k is seeded with S + k directly
       a demo's simulation    key = the demo's name and the simulation's parameters
3. A unit's Monte Carlo is split into chunks fixed by the problem size; chunk i draws from
   `chunk_generators(unit_seed, n_chunks)[i]` (PCG64 streams of SeedSequence(unit_seed).spawn),
   and chunks are reduced in chunk order.  So a seed gives bit-identical results on any number of
   threads, processes or Dask workers.

Fixed by design, not by S: the train/validation split of a dataset (`split_seed`, default 0:
replicates differ in initialization, dropout masks and minibatch order, not in their data) and the
two least-squares designs of the minibatch-noise checks (part of those checks' definition).
"""

from __future__ import annotations

import hashlib

import numpy as np

from bnreg.params import check_int

__all__ = ["chunk_generators", "derive_seed", "MAX_SEED"]

MAX_SEED = 2**128 - 1  # seeds are integers in [0, 2^128): beyond, even their text is unwieldy (5000 digits)


def chunk_generators(seed: int, n_chunks: int) -> list[np.random.Generator]:
    """One PCG64 Generator per chunk from SeedSequence(seed).spawn(n_chunks).  A seed is an
    integer >= 0 (ParameterError otherwise, naming it)."""
    seed = check_int("seed", seed, 0, MAX_SEED)
    return [np.random.Generator(np.random.PCG64(s)) for s in np.random.SeedSequence(seed).spawn(n_chunks)]


def derive_seed(base: int, *keys: object) -> int:
    """A stable 63-bit seed for (base, keys): independent units of work get distinct streams.  The
    base is an integer >= 0 (ParameterError otherwise, naming it `seed`)."""
    h = hashlib.sha256(repr((check_int("seed", base, 0, MAX_SEED),) + tuple(keys)).encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1
