"""Gamma-decay checks (registered into sims.checks.CHECKS)."""
