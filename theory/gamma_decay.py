"""Gamma decay: the BN regularization coefficient zeta(h) for GLMs (seed 001 §1.2-§1.5)."""

DERIVATION_STEPS: dict = {}
