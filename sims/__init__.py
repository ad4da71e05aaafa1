"""What is simulated: Monte-Carlo kernels, teacher-student students, the CNN library and each topic's checks.

Imports `theory` to compare and for the definitions a simulation follows (schedules, initial
scales); runs on the engine `bnreg.runtime` (threads, seeds, the chunk
runner, caching, sweeps) and declares its checks with the judge `bnreg.testing.judge`.
"""
