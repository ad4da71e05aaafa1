"""Registered formulas of the gamma-decay topic (theory/gamma_decay.py): zeta, zeta_special."""
