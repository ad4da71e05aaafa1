"""Monte Carlo and training: everything random.  Imports `theory` only to compare and to share
parameter validation."""
