"""Teacher-student simulations (docs/teacher_student.md): exact finite-N solves, exact gradient flow and
students trained by minibatch SGD (plain linear, WN + gamma decay, BN), in the teacher-student model of
Luo, Wang, Shao, Peng, "Towards Understanding Regularization in Batch Normalization", ICLR 2019
(arXiv:1809.00846), as set up in the authors' Chinese write-up of that paper (§2.1-§2.3).

Data: x ~ N(0, I_N), w*_i ~ N(0, 1/N), y = w*.x + eps, eps ~ N(0, delta2), P = round(alpha N).
The generalization error of a linear predictor phi(x) = v.x - c on fresh Gaussian x is exact,
eps_gen = |v - w*|^2 + c^2 (no test set, no test noise).  Every protocol choice is a field of
`Protocol` and goes into the figures' JSON.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from bnreg.params import ParameterError, check_choice, check_float, check_int
from bnreg.runtime import MCResult, derive_seed, mc_from_values, one_blas_thread
from bnreg.theory.dropout import dropout_to_lam, mask_variance
from bnreg.theory.teacher_student import bn_shrinkage

from .kernels.teacher_student import bn_epoch, linear_epoch, wn_epoch

__all__ = ["STUDENTS", "Protocol", "teacher_data", "solve_pinv", "solve_ridge", "solve_gamma_decay",
           "solve_dropout_ridge", "simulate_closed_form", "simulate_gradient_flow",
           "train_student", "n_samples", "sgd_schedule"]

# "dropout": the linear student with inverted Bernoulli(keep) dropout on its inputs; "bn_dropout": the
# BN student with the same input dropout (docs/dropout.md).
STUDENTS = ("linear", "wn", "bn", "dropout", "bn_dropout")


def n_samples(N: int, alpha: float) -> int:
    """P = round(alpha N) (>= 1)."""
    N = check_int("N", N, 2)
    alpha = check_float("alpha", alpha, 0.0, lo_open=True)
    return max(1, int(round(alpha * N)))


def teacher_data(N: int, P: int, delta2: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X (P, N), y (P,), w* (N,)) for the Gaussian teacher: x ~ N(0, I_N), w*_i ~ N(0, 1/N),
    y = w*.x + eps, eps ~ N(0, delta2).

    Parameters: N input dimension; P samples; delta2 label-noise variance; rng numpy Generator."""
    w_star = rng.standard_normal(N) / math.sqrt(N)
    X = rng.standard_normal((P, N))
    y = X @ w_star + math.sqrt(delta2) * rng.standard_normal(P)
    return X, y, w_star


def solve_pinv(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Minimum-norm least squares X^+ y (the limit of GD from w = 0): normal equations in the
    smaller space, (X^T X)^-1 X^T y (P > N) or X^T (X X^T)^-1 y (P < N); SVD (lstsq) for |P - N| <= 1.

    Parameters: X (P, N); y (P,) or (P, K).  Returns: v (N,) or (N, K)."""
    P, N = X.shape
    if abs(P - N) > 1:
        try:
            if P > N:
                return np.linalg.solve(X.T @ X, X.T @ y)
            return X.T @ np.linalg.solve(X @ X.T, y)
        except np.linalg.LinAlgError:
            pass
    return np.linalg.lstsq(X, y, rcond=None)[0]


def solve_ridge(X: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """Krogh-Hertz ridge v = (X^T X/N + lam)^-1 X^T y/N, solved in the smaller of the two spaces
    (y may be (P,) or (P, K) for K right-hand sides).

    Parameters: X (P, N); y; lam > 0 (per-N cost; lam = alpha zeta for the per-sample cost,
    theory.teacher_student.zeta_to_lam).  Returns: v (N,) or (N, K)."""
    P, N = X.shape
    if P >= N:
        return np.linalg.solve(X.T @ X / N + lam * np.eye(N), X.T @ y / N)
    # push-through identity: (X^T X/N + lam)^-1 X^T = X^T (X X^T/N + lam)^-1
    return X.T @ np.linalg.solve(X @ X.T / N + lam * np.eye(P), y) / N


def solve_gamma_decay(X: np.ndarray, y: np.ndarray, zeta: float) -> np.ndarray:
    """Global minimizer of the per-sample WN + gamma-decay cost (1/P) sum (g w.x/|w| - y)^2 + zeta g^2, i.e. of
    (1/P) |X v - y|^2 + zeta |v|^2 in v = g w/|w| (|v| = |g|): v = (X^T X + P zeta)^-1 X^T y, from the cost's own
    normal equations with no per-N rescaling, so that a check of lam = alpha zeta (theory.zeta_to_lam) does not
    assume it; solved in the smaller space (X^T (X X^T + P zeta)^-1 y for P < N).

    Parameters: X (P, N); y (P,) or (P, K); zeta > 0.  Returns: v (N,) or (N, K)."""
    P, N = X.shape
    if P >= N:
        return np.linalg.solve(X.T @ X + P * zeta * np.eye(N), X.T @ y)
    return X.T @ np.linalg.solve(X @ X.T + P * zeta * np.eye(P), y)


def solve_dropout_ridge(X: np.ndarray, y: np.ndarray, keep: float, center: bool = False) -> np.ndarray:
    """The exact minimizer of the expected input-dropout objective (theory.dropout.derive_dropout_objective):
    v = (X^T X + c diag(X^T X))^-1 X^T y, c = (1 - keep)/keep (= (A + c diag(A))^-1 X^T y/N), solved in
    the smaller space (push-through with L = c diag(X^T X): L^-1 X^T (X L^-1 X^T + I)^-1 y for P < N).
    center: the BN + dropout student's problem, X^T X and X^T y from the centred inputs X - mean(X) with
    the penalty still on the uncentred second moments diag(X^T X) (the mask noise acts on x, not x - mean).

    Parameters: X (P, N); y (P,); keep in (0, 1); center.  Returns: v (N,)."""
    c = mask_variance(keep)
    if c == 0.0:
        raise ParameterError("keep must be < 1 for the dropout ridge (keep = 1 is the pseudo-inverse)")
    P, N = X.shape
    lam_diag = c * np.einsum("ij,ij->j", X, X)
    Xc = X - X.mean(axis=0) if center else X
    if P >= N:
        return np.linalg.solve(Xc.T @ Xc + np.diag(lam_diag), Xc.T @ y)
    Xl = Xc / lam_diag
    return Xl.T @ np.linalg.solve(Xc @ Xl.T + np.eye(P), y)


def simulate_closed_form(kind: str, N: int, alpha: float, delta2: float, lam: float = 0.0,
                         n_seeds: int = 16, seed: int = 0, n_teachers: int = 8) -> MCResult:
    """Mean |v - w*|^2 of the exact pseudo-inverse (kind="pinv"), the Krogh-Hertz ridge at lam (kind="ridge",
    `solve_ridge`) or the minimizer of the per-sample gamma-decay cost with coefficient zeta = lam
    (kind="gamma_decay", `solve_gamma_decay`) over n_seeds independent design matrices X, each with n_teachers
    independent (w*, eps) draws solved at once (multiple right-hand sides); SE over the X draws (n_chunks = n_seeds).

    Parameters: kind "pinv", "ridge" or "gamma_decay"; N input dimension; alpha = P/N; delta2 label-noise
    variance; lam the cost's coefficient (per-N lam for "ridge", per-sample zeta for "gamma_decay");
    n_seeds design matrices; seed base seed; n_teachers teachers per matrix.
    Returns: MCResult of eps_gen (theory: gen_error_sgd_exact, gen_error_ridge, gen_error_wn)."""
    check_choice("kind", kind, ("pinv", "ridge", "gamma_decay"))
    N = check_int("N", N, 2)
    P = n_samples(N, alpha)
    delta2 = check_float("delta2", delta2, 0.0)
    n_seeds = check_int("n_seeds", n_seeds, 2)
    K = check_int("n_teachers", n_teachers, 1)
    if kind != "pinv":
        lam = check_float("lam", lam, 0.0, lo_open=True)
    out = []
    with one_blas_thread():
        for k in range(n_seeds):
            out.append(_closed_form_one(kind, N, P, delta2, lam, K, derive_seed(seed, "closed_form", k)))
    return mc_from_values(out, K)


def _closed_form_one(kind: str, N: int, P: int, delta2: float, lam: float, K: int, seed: int) -> float:
    """One design matrix with K teachers: mean over teachers of |v - w*|^2."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((P, N))
    W = rng.standard_normal((N, K)) / math.sqrt(N)
    Y = X @ W + math.sqrt(delta2) * rng.standard_normal((P, K))
    V = solve_pinv(X, Y) if kind == "pinv" else solve_ridge(X, Y, lam) if kind == "ridge" else \
        solve_gamma_decay(X, Y, lam)
    return float(np.mean(np.sum((V - W) ** 2, axis=0)))


def simulate_gradient_flow(N: int, alpha: float, delta2: float, settings: tuple[tuple[float, float], ...],
                           n_seeds: int = 16, seed: int = 0,
                           n_teachers: int = 8) -> dict[tuple[float, float], MCResult]:
    """Mean |v(tau) - w*|^2 of gradient flow dv/dt = -grad L, L = (1/P) |X v - y|^2, from v0 ~ N(0, init_var I/N)
    (independent of the teacher), for every (tau, init_var) in `settings`, over n_seeds design matrices with
    n_teachers (w*, eps, v0) draws each (one v0 draw per teacher, scaled by sqrt(init_var): common random numbers).
    The flow is integrated exactly: with H = (2/P) X^T X = U diag(h) U^T and b = (2/P) X^T y,
    v(tau) = U [e^{-h tau} U^T v0 + (1 - e^{-h tau})/h U^T b] (tau for h = 0); alpha appears nowhere, so the
    check of gen_error_gd's time scale 2 s tau/alpha does not assume it.  SE over the X draws.

    Parameters: N input dimension; alpha = P/N; delta2 label-noise variance; settings ((tau, init_var), ...) with
    tau >= 0, init_var >= 0; n_seeds design matrices; seed base seed; n_teachers draws per matrix.
    Returns: {(tau, init_var): MCResult of eps_gen} (theory: gen_error_gd)."""
    N = check_int("N", N, 2)
    P = n_samples(N, alpha)
    delta2 = check_float("delta2", delta2, 0.0)
    n_seeds = check_int("n_seeds", n_seeds, 2)
    K = check_int("n_teachers", n_teachers, 1)
    for tau, c0 in settings:
        check_float("tau", tau, 0.0)
        check_float("init_var", c0, 0.0)
    vals: dict[tuple[float, float], list[float]] = {s: [] for s in settings}
    with one_blas_thread():
        for k in range(n_seeds):
            rng = np.random.default_rng(derive_seed(seed, "gradient_flow", k))
            X = rng.standard_normal((P, N))
            W = rng.standard_normal((N, K)) / math.sqrt(N)
            Y = X @ W + math.sqrt(delta2) * rng.standard_normal((P, K))
            V0 = rng.standard_normal((N, K)) / math.sqrt(N)
            h, U = np.linalg.eigh((2.0 / P) * (X.T @ X))
            bt, wt, vt = U.T @ ((2.0 / P) * (X.T @ Y)), U.T @ W, U.T @ V0
            for tau, c0 in settings:
                x = h * tau
                # (1 - e^{-h tau})/h = tau (1 - e^{-x})/x; its series 1 - x/2 where |x| is tiny (the null space of
                # X, whose eigenvalues eigh returns as +-1e-16; b has no component there anyway)
                big = np.abs(x) > 1e-8
                xs = np.where(big, x, 1.0)
                gain = tau * np.where(big, -np.expm1(-xs) / xs, 1.0 - x / 2)
                v = np.exp(-x)[:, None] * (math.sqrt(c0) * vt) + gain[:, None] * bt
                vals[(tau, c0)].append(float(np.mean(np.sum((v - wt) ** 2, axis=0))))
    return {s: mc_from_values(v, K) for s, v in vals.items()}


@dataclass(frozen=True)
class Protocol:
    """Everything that defines a trained student (written into the figures' JSON).

    lr = lr0 * M / N: a batch of M nearly orthogonal inputs of squared norm N has curvature
    about 2N/M in the loss (1/M) sum (phi - y)^2, so lr0 < 1 is stable; one epoch is then a
    gradient-flow time tau = lr0 alpha (theory.gen_error_gd).  The linear student with input
    dropout sees inputs of squared norm N/keep: its step is keep lr0 M/N (the same margin).
    Schedule: constant for the first
    (1 - decay_frac) of the epochs, then linear to lr_final_frac * lr (anneals the SGD noise).
    Init: plain student w = 0 (so that its limit is the pseudo-inverse); WN/BN w ~ N(0, init_scale^2/N),
    g = gamma = 1 (w = 0 is singular for them).  BN: beta = 0, running statistics with momentum
    0.1 (PyTorch), eps = 1e-5, inference with running statistics.  x_dtype: storage of X for
    training (float32 halves the memory traffic of an epoch; weights and sums stay float64).
    Convergence criterion: the predictor (v, c) moved by less than conv_rtol relative to its
    norm, |v_E - v_k| + |c_E - c_k| < conv_rtol |v_E|, between epoch k = round((1 - conv_window) E)
    and the last epoch E.  (The training loss is no criterion: it tends to 0 for alpha < 1.)"""

    M: int = 32
    lr0: float = 0.5
    epochs: int = 200
    decay_frac: float = 0.25
    lr_final_frac: float = 0.01
    init_scale: float = 1.0
    momentum: float = 0.1
    bn_eps: float = 1e-5
    conv_window: float = 0.1
    conv_rtol: float = 1e-2
    n_record: int = 24
    x_dtype: str = "float32"

    def validated(self) -> Protocol:
        """Check every field's range (ParameterError naming the field); return self."""
        check_int("M", self.M, 2)
        check_float("lr0", self.lr0, 0.0, 2.0, lo_open=True, hi_open=True)
        check_int("epochs", self.epochs, 1)
        check_float("decay_frac", self.decay_frac, 0.0, 1.0)
        check_float("lr_final_frac", self.lr_final_frac, 0.0, 1.0)
        check_float("init_scale", self.init_scale, 0.0, lo_open=True)
        check_float("momentum", self.momentum, 0.0, 1.0, lo_open=True)
        check_float("bn_eps", self.bn_eps, 0.0)
        check_float("conv_window", self.conv_window, 0.0, 1.0, lo_open=True)
        check_float("conv_rtol", self.conv_rtol, 0.0, lo_open=True)
        check_int("n_record", self.n_record, 1)
        check_choice("x_dtype", self.x_dtype, ("float32", "float64"))
        return self

    def lr_at(self, epoch: int, N: int) -> float:
        """Step size lr0 M/N at (0-based) `epoch` under the schedule above, for input dimension N."""
        base = self.lr0 * self.M / N
        start = (1.0 - self.decay_frac) * self.epochs
        if epoch < start or self.decay_frac == 0:
            return base
        frac = (epoch - start) / max(self.epochs - start, 1e-12)
        return base * (1.0 - (1.0 - self.lr_final_frac) * frac)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict (for the figures' JSON and `Protocol(**d)`)."""
        return asdict(self)


def sgd_schedule(protocol: Protocol, N: int, alpha: float, kind: str = "linear",
                 keep: float = 1.0) -> list[tuple[float, int]]:
    """The SGD steps `train_student` takes, as (step size, steps) per epoch: lr_at(epoch, N) (times keep
    for the "dropout" student) for P // M steps (theory.dropout.sgd_excess_error takes this list).

    Parameters: protocol; N; alpha = P/N; kind one of STUDENTS; keep in (0, 1].  Returns: the list."""
    pr = protocol.validated()
    P = n_samples(N, alpha)
    k = check_float("keep", keep, 0.0, 1.0, lo_open=True) if kind == "dropout" else 1.0
    return [(pr.lr_at(e, N) * k, P // pr.M) for e in range(pr.epochs)]


@dataclass
class StudentRun:
    """One trained student: final error, trajectory at recorded epochs and diagnostics."""

    kind: str
    eps_gen: float
    epochs: np.ndarray
    eps_traj: np.ndarray
    train_loss: np.ndarray
    converged: bool
    conv_rel_change: float
    extra: dict[str, float] = field(default_factory=dict)
    tau_traj: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _record_epochs(epochs: int, n: int) -> np.ndarray:
    return np.unique(np.round(np.geomspace(1, epochs, n)).astype(np.int64))


def train_student(kind: str, N: int, alpha: float, delta2: float = 0.25, zeta: float = 0.0,
                  protocol: Protocol | None = None, seed: int = 0, with_reference: bool = False,
                  keep: float = 1.0) -> StudentRun:
    """Train one student ("linear", "wn" with gamma decay zeta, "bn", or with input dropout of retain
    probability keep "dropout" (linear) and "bn_dropout") on a fresh teacher dataset by minibatch SGD
    and measure eps_gen = |v - w*|^2 + c^2 exactly (at test: no dropout; BN with its running
    statistics).  with_reference adds the closed-form limits on the same data (paired comparison,
    see `reference`).  The same seed gives the same data for every kind (paired across kinds).

    Parameters: kind one of STUDENTS; N input dimension; alpha = P/N (P >= M); delta2
    label-noise variance; zeta gamma-decay coefficient (wn); protocol training choices (default
    Protocol()); seed base seed; with_reference add the closed-form limits; keep retain probability
    in (0, 1] of the input dropout (dropout kinds; 1 = no dropout).
    Returns: StudentRun (final eps_gen, trajectory, training loss, convergence flag, `extra`
    diagnostics incl. tau_eff).  docs/teacher_student.md."""
    kind = check_choice("kind", kind, STUDENTS)
    pr = (protocol or Protocol()).validated()
    N = check_int("N", N, 2)
    P = n_samples(N, alpha)
    if P < pr.M:
        raise ParameterError(f"alpha * N must be >= M (got P = {P}, M = {pr.M})")
    delta2 = check_float("delta2", delta2, 0.0)
    zeta = check_float("zeta", zeta, 0.0)
    keep = check_float("keep", keep, 0.0, 1.0, lo_open=True)
    if kind not in ("dropout", "bn_dropout"):
        keep = 1.0
    is_bn = kind in ("bn", "bn_dropout")
    rng = np.random.default_rng(derive_seed(seed, "student_data"))
    X, y, w_star = teacher_data(N, P, delta2, rng)
    Xt = np.ascontiguousarray(X, dtype=pr.x_dtype)
    rng_t = np.random.default_rng(derive_seed(seed, "student_train", kind))
    w = np.zeros(N) if kind in ("linear", "dropout") else rng_t.standard_normal(N) * pr.init_scale / math.sqrt(N)
    g = np.ones(1)
    rmean, rvar = np.zeros(1), np.ones(1)
    acc = np.zeros(1)

    def predictor() -> tuple[np.ndarray, float]:
        if kind in ("linear", "dropout"):
            return w, 0.0
        if kind == "wn":
            return g[0] * w / math.sqrt(w @ w), 0.0
        inv = 1.0 / math.sqrt(rvar[0] + pr.bn_eps)
        return g[0] * w * inv, g[0] * rmean[0] * inv

    def eps_gen() -> float:
        v, c = predictor()
        return float(np.sum((v - w_star) ** 2) + c * c)

    def train_loss() -> float:
        v, c = predictor()
        return float(np.mean((X @ v - c - y) ** 2))

    def reference() -> dict[str, float]:
        """The closed-form limits on the same data: pinv, ridge at lam = alpha zeta, and the
        BN limit (centred pinv shrunk by kappa = E[sigma_B]/sigma, theory.bn_shrinkage)."""
        ref = {"eps_pinv_same_data": float(np.sum((solve_pinv(X, y) - w_star) ** 2))}
        if kind == "wn" and zeta > 0:
            ref["eps_ridge_same_data"] = float(np.sum((solve_ridge(X, y, P / N * zeta) - w_star) ** 2))
        if kind == "bn":
            xbar = X.mean(axis=0)
            v_c = np.linalg.lstsq(X - xbar, y, rcond=None)[0]  # rank-deficient (rank min(P - 1, N)): SVD
            kap = bn_shrinkage(pr.M)
            ref["eps_bn_limit_same_data"] = float(np.sum((kap * v_c - w_star) ** 2) + (kap * v_c @ xbar) ** 2)
            v, _ = predictor()
            ref["shrink"] = float(v @ v_c / (v_c @ v_c))  # BN limit: bn_shrinkage(M)
        if kind == "dropout" and keep < 1:
            ref["eps_dropout_diag_same_data"] = float(np.sum((solve_dropout_ridge(X, y, keep) - w_star) ** 2))
            ref["eps_dropout_ridge_same_data"] = float(
                np.sum((solve_ridge(X, y, dropout_to_lam(P / N, keep)) - w_star) ** 2))
        if kind == "bn_dropout" and keep < 1:
            xbar = X.mean(axis=0)
            v_dc = solve_dropout_ridge(X, y, keep, center=True)
            kap = bn_shrinkage(pr.M)
            ref["eps_bn_dropout_limit_same_data"] = float(np.sum((kap * v_dc - w_star) ** 2)
                                                          + (kap * v_dc @ xbar) ** 2)
            # statistics recomputed without dropout: the predictor is scaled by sigma_drop/sigma_clean
            h = X @ v_dc
            r = math.sqrt(1 + mask_variance(keep) * float(v_dc * v_dc @ np.mean(X * X, axis=0)) / float(h.var()))
            ref["eps_bn_dropout_recomputed_same_data"] = float(np.sum((r * kap * v_dc - w_star) ** 2)
                                                               + (r * kap * v_dc @ xbar) ** 2)
            v, _ = predictor()
            ref["shrink"] = float(v @ v_dc / (v_dc @ v_dc))  # limit: bn_shrinkage(M)
        return ref

    rec = _record_epochs(pr.epochs, pr.n_record)
    check_at = int(round((1.0 - pr.conv_window) * pr.epochs))
    traj, losses, taus = [], [], []
    tau_lin = 0.0
    v_check: tuple[np.ndarray, float] | None = None
    for ep in range(1, pr.epochs + 1):
        # a dropout input has |x m/keep|^2 ~ N/keep: the step keep lr0 M/N keeps the stability margin of lr0
        lr = pr.lr_at(ep - 1, N) * (keep if kind == "dropout" else 1.0)
        perm = rng_t.permutation(P)
        mseed = derive_seed(seed, "mask", kind, ep) if keep < 1 else 0
        if kind in ("linear", "dropout"):
            linear_epoch(Xt, y, perm, pr.M, lr, w, keep, mseed)
            tau_lin += lr * (P // pr.M)
        elif kind == "wn":
            wn_epoch(Xt, y, perm, pr.M, lr, zeta, w, g, acc)
        else:
            bn_epoch(Xt, y, perm, pr.M, lr, w, g, rmean, rvar, pr.momentum, pr.bn_eps, acc, keep, mseed)
        if not np.all(np.isfinite(w)) or not np.isfinite(g[0]):
            raise ParameterError(f"training diverged at epoch {ep} (lr0 = {pr.lr0} too large for this student)")
        if ep == check_at:
            v0, c0 = predictor()
            v_check = (v0.copy(), c0)
        if ep in rec:
            traj.append(eps_gen())
            losses.append(train_loss())
            taus.append(tau_lin if kind in ("linear", "dropout") else float(acc[0]))
    vE, cE = predictor()
    rel = (math.sqrt(np.sum((vE - v_check[0]) ** 2)) + abs(cE - v_check[1])) / max(math.sqrt(vE @ vE), 1e-300) \
        if v_check is not None else math.inf
    with one_blas_thread():
        ref = reference() if with_reference else {}
    extra: dict[str, float] = {"P": float(P), **ref}
    if kind not in ("linear", "dropout"):
        extra["g"] = float(g[0])
        extra["w_norm"] = float(math.sqrt(w @ w))
    extra["tau_eff"] = taus[-1]
    if is_bn:
        h = X @ w
        sd = float(h.std())
        v_pn = g[0] * w / sd  # population normalization with the training-set statistics (no dropout)
        extra["eps_gen_pn_train"] = float(np.sum((v_pn - w_star) ** 2) + (g[0] * h.mean() / sd) ** 2)
        if keep < 1:  # ... and with the training-mode (dropout-on) population variance of h
            sd_drop = math.sqrt(sd * sd + mask_variance(keep) * float(w * w @ np.mean(X * X, axis=0)))
            v_dp = g[0] * w / sd_drop
            extra["eps_gen_drop_stats"] = float(np.sum((v_dp - w_star) ** 2) + (g[0] * h.mean() / sd_drop) ** 2)
            extra["var_ratio"] = (sd / sd_drop) ** 2  # variance shift Var_test/Var_train of the BN input
    return StudentRun(kind, traj[-1], rec, np.array(traj), np.array(losses), bool(rel < pr.conv_rtol), float(rel),
                      extra, np.array(taus))
