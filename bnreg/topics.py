"""The topic manifest: one declaration per topic, from which every listing of the toolkit is built.

A topic is named once, and that one spelling names all of its modules and pages:

    theory/<name>.py             derivations (derive_*) and numeric twins
    theory/formulas_<name>.py    its registered formulas (`bnreg formulas`, `bnreg eval`)
    sims/checks_<name>.py        its formula-vs-Monte-Carlo checks (`bnreg verify`)
    docs/<name>.md               its documentation page
    figures/<figure>.py          its figures (`bnreg figures`), listed here
    demos/plot_<demo>.py         its classroom demos (`bnreg demo`), listed here

`bnreg formulas/derive/verify/figures/demo`, the docs' index and the tests' parametrization all
read `TOPICS`; tests/test_topics.py asserts that every formula, derivation, check, figure and demo
belongs to exactly one topic, and that every topic has its page.  Where a topic lacks a kind of
item, `absent` says why.  This module is a declaration only: it imports nothing of the toolkit, so
every layer (theory, sims, figures, demos, docs) may read it without depending on another.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Topic", "TOPICS", "KINDS", "topic", "figure_names", "demo_descriptions"]

KINDS = ("formulas", "derivations", "checks", "figures", "demos")


@dataclass(frozen=True, eq=False)
class Topic:
    """One topic: its `name` (the one spelling of its modules and page), a `title`, a `summary` of its
    page (the docs' topic index), the names of its
    `derivations` (`bnreg derive`), `figures` and `demos` (name -> one-line description), whether
    it has registered formulas and checks, and `absent`: kind -> why the topic has none of it."""

    name: str
    title: str
    summary: str = ""
    derivations: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    demos: dict[str, str] = field(default_factory=dict)
    formulas: bool = True
    checks: bool = True
    absent: dict[str, str] = field(default_factory=dict)

    @property
    def doc(self) -> str:
        """The topic's documentation page, relative to the repository root."""
        return f"docs/{self.name}.md"

    @property
    def theory_module(self) -> str | None:
        """The module of its derivations and numeric twins (None if it has no formulas)."""
        return f"bnreg.theory.{self.name}" if self.formulas else None

    @property
    def formulas_module(self) -> str | None:
        """The module registering its formulas (None if it has none)."""
        return f"bnreg.theory.formulas_{self.name}" if self.formulas else None

    @property
    def checks_module(self) -> str | None:
        """The module declaring its checks (None if it has none)."""
        return f"bnreg.sims.checks_{self.name}" if self.checks else None


TOPICS: tuple[Topic, ...] = (
    Topic("bn_noise", "Batch statistics as noise: the laws of mu_B and sigma_B, the simple example",
          summary=(
              "batch statistics as noise: laws of mu_B and sigma_B, the simple example, the expansion of E[(hhat − "
              "hbar)²]; what holds and where (numbers)"),
          derivations=("batch_mean", "batch_std", "gaussian_std_exact", "simple_error", "sample_batch_covariance",
                       "bn_deviation_ms"),
          figures=("simple_error", "batch_stats"),
          demos={"bn_noise": "BN noise: the simple example E[(b-a)^2], exact vs 3/(2M) vs Monte Carlo, at a few M"}),
    Topic("gamma_decay", "Gamma decay: zeta(h) for GLMs, the first-order term, the optimal-gamma shrinkage",
          summary=(
              "the gamma-decay coefficient zeta(h) for GLMs, the first-order term Luo et al. drop, exact squared- "
              "loss shrinkage of gamma, PN vs WN; measured against MC"),
          derivations=("zeta", "zeta_special", "squared_exact", "pn_wn"),
          figures=("gamma_decay", "gamma_shrinkage"),
          demos={"gamma_decay": "gamma decay: the BN-minus-PN loss of GLM units vs Luo et al.'s zeta and the derived "
                                "value"}),
    Topic("cnn", "The CNN experiments of Luo et al. on MNIST-1D (BN, PN, WN; batch size; dropout)",
          summary=(
              "the CNN experiments of Luo et al. (write-up §2.4) on MNIST-1D: protocol, outcomes with SEs, what "
              "reproduces and what does not"),
          figures=("cnn_norms", "cnn_batch_size", "cnn_dropout"),
          formulas=False, checks=False,
          absent={"formulas": "experiments only: the CNN figures test by training the claims whose formulas belong "
                              "to gamma_decay (zeta) and bn_noise (the batch-size dependence)",
                  "derivations": "no formula of its own (see formulas)",
                  "checks": "no formula of its own; the trained networks' numbers are reported with SEs over "
                            "seeds in docs/cnn.md",
                  "demos": "the dropout topic's demo (dropout_schedules) trains the same CNN library in class"}),
    Topic("teacher_student", "Teacher-student generalization: Marchenko-Pastur, SGD/ridge/WN/BN students",
          summary=(
              "teacher–student generalization: Marchenko–Pastur, SGD/ridge/WN curves, BN students trained for real, "
              "training length, and the verdict on Luo et al.'s claim"),
          derivations=("mp_stieltjes", "ridge_error", "sgd_limits", "zeta_mapping", "bn_limit", "early_stopping"),
          figures=("teacher_student", "mp_law", "bn_training_length", "regularizer_atlas"),
          demos={"teacher_student": "teacher-student: generalization error vs alpha = P/N, theory vs students "
                                    "solved and trained",
                 "regularizer_atlas": "every regularizer as a ridge: students of weight decay, WN + gamma decay, "
                                      "input dropout, early stopping and BN noise at their mapped lam"}),
    Topic("bn_dynamics", "BN at a finite learning rate: the noise ridge, weight growth, weight decay",
          summary=(
              "BN at a finite learning rate: SGD's noise ridge on the scale-invariant w, the growth of |w| and the "
              "weight-decay equilibrium, the stationary error vs lr/|w|² (derived, checked by "
              "`teacher.bn_stationary`), where the leading order holds and where it does not"),
          derivations=("bn_direction_gradient", "bn_weight_norm", "bn_noise_ridge", "bn_stationary_error",
                       "bn_sgd_lyapunov", "bn_sgd_predictor_moments"),
          figures=("bn_learning_rate",),
          demos={"bn_dynamics": "BN at a finite learning rate: stationary error vs lr/|w|^2, students vs the noise "
                                "ridge"}),
    Topic("variance_shift", "Dropout before BN: the variance shift of one unit and through depth, and the fixes",
          summary=(
              "dropout before BN: the variance shift derived for Bernoulli, Gaussian and Uout noise, checked by MC, "
              "followed through depth (mean field vs a random stack), and the fixes"),
          derivations=("variance_shift", "variance_shift_limits", "variance_shift_relu"),
          figures=("variance_shift_ratio", "variance_shift_layers", "variance_shift_width", "variance_shift_fixes"),
          demos={"variance_shift": "dropout before BN: the variance shift Delta vs keep, one unit and through depth"}),
    Topic("dropout", "Dropout as a penalty: input dropout = a data-dependent ridge; early and late dropout",
          summary=(
              "input dropout on the teacher–student student: an exact data-dependent ridge, lam = alpha (1 − "
              "keep)/keep, its finite-N term, trained students checked; BN on top (the variance shift as "
              "regularizer); early/late dropout and gradient diagnostics on MNIST-1D (Liu et al. 2023)"),
          derivations=("dropout_objective", "dropout_finite_n", "dropout_bn"),
          figures=("dropout_schedules", "dropout_gradients", "dropout_regimes"),
          demos={"dropout_schedules": "dropout schedules (none, constant, early, late) on MNIST-1D with the CNN "
                                      "library"}),
    Topic("training_practice", "Training practice: initialization, BN running statistics, batch size, L1 vs L2",
          summary=(
              "the classroom's training-practice topics: initialization through depth, BN running statistics (EMA, "
              "warm-up), minibatch-gradient noise and the linear scaling rule, L1 vs L2 and early stopping; "
              "derived, checked, and the `bnreg demo`s"),
          derivations=("init_variance", "bn_running_stats", "minibatch_noise", "soft_threshold"),
          demos={"initialization": "initialization: forward variance, gradients and dying ReLU through deep "
                                   "tanh/ReLU/sigmoid nets",
                 "bn_running_stats": "BN running statistics: bias and variance of the EMA, with and without warm-up",
                 "lr_batch_size": "learning rate and batch size: minibatch-gradient noise vs M and the linear "
                                  "scaling rule",
                 "weight_decay": "L1 vs L2 weight decay (sparsity, test error) and early stopping on a small "
                                 "training set"},
          absent={"figures": "classroom material: its four demos draw its figures (`bnreg demo NAME --save DIR`)"}),
)


def topic(name: str) -> Topic:
    """The topic called `name` (KeyError listing the names otherwise)."""
    for t in TOPICS:
        if t.name == name:
            return t
    raise KeyError(f"unknown topic {name!r}; known: {', '.join(t.name for t in TOPICS)}")


def figure_names() -> tuple[str, ...]:
    """Every figure, in topic order."""
    return tuple(f for t in TOPICS for f in t.figures)


def demo_descriptions() -> dict[str, str]:
    """Every demo: name -> one-line description, in topic order."""
    return {d: doc for t in TOPICS for d, doc in t.demos.items()}
