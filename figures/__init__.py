"""Figures: one module per figure, each with SCALES, compute(...) and plot(...).  compute builds
the sweep records (JSON-able dicts of keyword arguments) and runs point(**record) for each
through bnreg.sims.executor.sweep, which caches it under the figure name plus the record (the
cnn_* figures sweep training configs through bnreg.sims.nn.train.run_configs)."""

FIGURE_MODULES = (
    "simple_error",
    "batch_stats",
    "gamma_decay",
    "gamma_shrinkage",
    "cnn_norms",
    "cnn_batch_size",
    "cnn_dropout",
    "teacher_student",
    "mp_law",
    "bn_training_length",
)
