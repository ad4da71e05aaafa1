"""Figures: one module per figure, each with SCALES, compute(...) and plot(...)."""

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
    "variance_shift_ratio",
    "variance_shift_layers",
    "variance_shift_fixes",
)
