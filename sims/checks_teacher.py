"""Teacher-student checks (registered into sims.checks.CHECKS)."""
