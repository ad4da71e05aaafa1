"""Teacher-student generalization with random-matrix theory (seed 001 §2.1-§2.3, THEORY.md §4)."""

DERIVATION_STEPS: dict = {}
