"""The BN student at a finite learning rate (docs/bn_dynamics.md; theory in
theory/bn_dynamics.py): SGD with the effective learning rate lr/|w|^2 held fixed
(w renormalized to |w| = 1 after every step), plain SGD (|w| free) and SGD with weight decay on w.

Same teacher, data and BN student as sims/teacher_student.py (x ~ N(0, I_N), w*_i ~ N(0, 1/N),
y = w*.x + eps; phi = gamma (w.x - mu_B)/sigma_B, beta = 0; batches of M from a fresh permutation
every epoch, the remainder dropped; kernel kernels/bn_dynamics.bn_epoch_scaled).  The error is
measured with training-set statistics at the end of every epoch: v = gamma w/sigma(Xw),
c = gamma mean(Xw)/sigma(Xw), eps_gen = |v - w*|^2 + c^2 (exact, no test set).

Every stationary run is paired with closed forms on the same data (`SameData`): the lr -> 0 limit
kappa x (centred pseudo-inverse), the optimal ridge and the leading-order prediction kappa x
(centred ridge at zeta = nu), nu = lr_eff N rho2/M from the run's own training residual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bnreg.params import ParameterError, check_choice, check_float, check_int
from bnreg.runtime import derive_seed, one_blas_thread
from bnreg.theory import bn_dynamics as BD
from bnreg.theory import bn_dynamics_fluctuation as BF
from bnreg.theory import teacher_student as TS

from .kernels.bn_dynamics import bn_epoch_scaled
from .teacher_student import n_samples, teacher_data

__all__ = ["SameData", "StationaryRun", "stationary_run", "TrainingRun", "training_run", "NormRun", "norm_run"]


class SameData:
    """Closed forms on one training set (centred, as BN sees it): C = X_c^T X_c/P, b = X_c^T y_c/P
    in the eigenbasis of C; eps(v) = |v - w*|^2 + (v . xbar)^2 for the predictor v with the
    training mean subtracted.

    Parameters: X (P, N); y (P,); w_star (N,); M batch size (kappa, rho2)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, w_star: np.ndarray, M: int):
        P, N = X.shape
        self.P, self.N, self.M = P, N, M
        self.xbar = X.mean(axis=0)
        Xc = X - self.xbar
        yc = y - y.mean()
        with one_blas_thread():
            evals, self.U = np.linalg.eigh(Xc.T @ Xc / P)
        self.c = np.clip(evals, 0.0, None)
        self.bb = self.U.T @ (Xc.T @ yc / P)
        self.var_y = float(yc @ yc / P)
        self.w_star = w_star
        self.kappa = TS.bn_shrinkage(M)
        keep = self.c > 1e-12 * self.c.max()
        self.resid = self.var_y - float(np.sum(self.bb[keep] ** 2 / self.c[keep]))  # L_res, centred LS
        self.c_min = float(self.c[keep].min())

    def ridge(self, zeta: float) -> np.ndarray:
        """(C + zeta)^-1 b (zeta = 0: the pseudo-inverse on the span of C)."""
        c = self.c
        with np.errstate(divide="ignore", invalid="ignore"):
            coef = np.where(c + zeta > 1e-12 * c.max(), self.bb / (c + zeta), 0.0)
        return self.U @ coef

    def eps(self, v: np.ndarray) -> float:
        """eps_gen = |v - w*|^2 + (v . xbar)^2 of the centred predictor v."""
        return float(np.sum((v - self.w_star) ** 2) + (v @ self.xbar) ** 2)

    def nu(self, lr_eff: float, resid: float | None = None) -> float:
        """nu = lr_eff N rho2/M with rho2 = resid noise_factor(M, P) (resid: L_res by default)."""
        r = self.resid if resid is None else resid
        return lr_eff * self.N * r * BD.noise_factor(self.M, self.P) / self.M

    def theory(self, lr_eff: float) -> dict[str, float]:
        """Leading order on this data: kappa x ridge(nu), its |v|^2, and the next-order bounds
        (fluctuation |v|^2 nu; feedback eps(nu/(1 - q)) - eps(nu), q = lr_eff N f |v|^2/M) and the
        expected squared gradient 4 |v|^2 N rho2/M at |w| = 1."""
        n0 = self.nu(lr_eff)
        v = self.kappa * self.ridge(n0)
        e0, v2 = self.eps(v), float(v @ v)
        f = (self.P - self.M) / (self.P - 1)
        q = lr_eff * self.N * f * v2 / self.M
        fb = self.eps(self.kappa * self.ridge(n0 / (1 - q))) - e0 if q < 1 else -math.inf
        grad2 = 4 * v2 * self.N * self.resid * BD.noise_factor(self.M, self.P) / self.M
        return {"eps_theory": e0, "nu": n0, "v2": v2, "fluctuation": v2 * n0, "feedback": fb, "q": q,
                "grad2_theory": grad2}

    def spectrum(self) -> BF.Spectrum:
        """This data set as theory.bn_dynamics_fluctuation sees it (eigenvalues, b_i^2, b_i w*_i, weight 1)."""
        ws = self.U.T @ self.w_star
        return BF.Spectrum(self.c, self.bb**2, self.bb * ws, np.ones_like(self.c), float(self.w_star @ self.w_star),
                           self.resid, self.N, self.M, self.P)

    def fluctuation(self, lr_eff: float, batches: str, window: int = 0) -> dict[str, float]:
        """Beyond leading order on this data (theory.bn_dynamics_fluctuation): eps at epoch ends (fl_instant), of the
        time-averaged predictor (fl_mean) and of the predictor averaged over `window` epoch ends (fl_window),
        with the fluctuation tr Cov v, the shrinkage tau and nu; nan beyond the model's stability edge."""
        keys = ("fl_instant", "fl_mean", "fl_window", "fl_fluct", "fl_tau", "fl_nu")
        try:
            st = BF.stationary_fluctuation(self.spectrum(), lr_eff, self.kappa, batches, window)
        except ParameterError:
            return dict.fromkeys(keys, math.nan)
        mean = self.eps(self.U @ (st.mean_gain * self.bb))  # exact on this data, intercept term included
        return dict(zip(keys, (mean + st.fluctuation, mean, mean + st.eps_window - st.eps_mean, st.fluctuation,
                               st.tau, st.nu), strict=True))

    def references(self) -> dict[str, float]:
        """lr -> 0 limit kappa x pinv; optimal ridge (per-N lam = delta2 is set by the caller: see
        `ridge_opt`); the pinv itself."""
        v0 = self.ridge(0.0)
        return {"eps_limit": self.eps(self.kappa * v0), "eps_pinv": self.eps(v0)}

    def ridge_opt(self, delta2: float) -> float:
        """eps of the optimal ridge lam = delta2 (per-N), i.e. zeta = delta2 N/P, no kappa."""
        return self.eps(self.ridge(delta2 * self.N / self.P))

    def limit_state(self) -> tuple[np.ndarray, float]:
        """(unit w, gamma) of the lr -> 0 limit: w along the centred least-squares fit v_c and
        gamma = kappa sqrt(v_c^T C v_c), so that the predictor gamma w/sigma(Xw) is kappa v_c."""
        v = self.ridge(0.0)
        a = self.U.T @ v
        return v / math.sqrt(v @ v), self.kappa * math.sqrt(float(np.sum(self.c * a * a)))

    def fit_nu(self, v: np.ndarray, nu0: float) -> float:
        """The ridge coefficient of a direction v: the least-squares (nu, s) of C v + nu v = s b in the
        eigenbasis of C, equation i weighted by 1/(c_i + nu0) (the time-averaged direction's error in
        mode i has variance ~ 1/(c_i + nu)); exact (= nu) for v along (C + nu)^-1 b, at any weights."""
        a = self.U.T @ v
        wt = 1.0 / (self.c + nu0)
        saa, sab, sbb = np.sum(wt * a * a), np.sum(wt * a * self.bb), np.sum(wt * self.bb * self.bb)
        rca, rcb = -np.sum(wt * self.c * a * a), np.sum(wt * self.c * a * self.bb)
        # normal equations of min sum_i wt_i (c_i a_i + nu a_i - s b_i)^2 in (nu, s)
        det = saa * sbb - sab * sab
        return float((rca * sbb + sab * rcb) / det)


def _burn_epochs(sd: SameData, lr_eff: float, efolds: float, nb: int) -> int:
    """Epochs for `efolds` e-folds of the slowest mode: rate per step 2 lr_eff |v|^2 (c_min + nu)."""
    th = sd.theory(lr_eff)
    rate = 2.0 * lr_eff * max(th["v2"], 1e-3) * (sd.c_min + th["nu"])
    return int(math.ceil(efolds / rate / nb))


@dataclass
class StationaryRun:
    """One BN student at a fixed effective learning rate: time averages after the burn-in and
    the closed forms on the same data (`SameData.theory`, `SameData.references`)."""

    eps: float
    eps_mean_predictor: float
    batch_loss: float
    burn_epochs: int
    measure_epochs: int
    extra: dict[str, float] = field(default_factory=dict)


def _eval(X: np.ndarray, w: np.ndarray, g: float, sd: SameData) -> tuple[float, np.ndarray]:
    h = X @ w
    s = float(h.std())
    v = g * w / s
    return sd.eps(v), v  # the intercept g mean(h)/s = v . xbar is inside sd.eps


def _batches(rng: np.random.Generator, P: int, M: int, independent: bool) -> np.ndarray:
    """One epoch's batch order: a permutation (reshuffled), or P // M batches each drawn afresh (M distinct
    samples per batch, batches independent: sampling with replacement between batches)."""
    if not independent:
        return rng.permutation(P)
    return np.concatenate([rng.permutation(P)[:M] for _ in range(P // M)])


def stationary_run(N: int, alpha: float, delta2: float, M: int, lr_eff: float, seed: int, efolds: float = 8.0,
                   measure_frac: float = 1.0, min_epochs: int = 50, momentum: float = 0.1,
                   bn_eps: float = 1e-5, batches: str = "reshuffled") -> StationaryRun:
    """Train a BN student with w renormalized to |w| = 1 after every step (effective learning rate
    lr_eff for the direction, and lr_eff for gamma), from w ~ N(0, I/N), gamma = 1.  The burn-in is
    `efolds` e-folds of the slowest mode of the same data (theory rate 2 lr_eff |v|^2 (c_min + nu));
    then eps_gen is averaged over measure_frac x burn epochs (>= min_epochs), at epoch ends.

    Parameters: N; alpha = P/N (P >= N + 2, P > M); delta2; M (>= 4); lr_eff (> 0); seed; efolds;
    measure_frac; min_epochs; momentum, bn_eps of the BN layer (running statistics are not used);
    batches "reshuffled" (a permutation per epoch) or "independent" (`_batches`).
    Returns: StationaryRun (eps, error of the time-averaged predictor, mean batch loss, epochs,
    `extra` = same-data closed forms: eps_theory, eps_limit, eps_pinv, eps_ridge_opt, nu, v2,
    fluctuation, feedback, q, grad2_theory, resid, c_min, grad2 = the measured mean |grad_u L_B|^2,
    nu_fit = the ridge coefficient of the time-averaged predictor, `SameData.fit_nu`, and the model beyond
    leading order for these batches, `SameData.fluctuation` (fl_instant, fl_window for this run's window,
    fl_fluct, fl_tau, fl_nu))."""
    batches = check_choice("batches", batches, BF.BATCHES)
    N = check_int("N", N, 2)
    P = n_samples(N, alpha)
    M = check_int("M", M, 4)
    if P < N + 2 or P <= M:
        raise ParameterError(f"need P = round(alpha N) >= N + 2 and P > M (got P = {P})")
    delta2 = check_float("delta2", delta2, 0.0)
    lr_eff = check_float("lr_eff", lr_eff, 0.0, lo_open=True)
    rng = np.random.default_rng(derive_seed(seed, "bn_dynamics_data"))
    X, y, w_star = teacher_data(N, P, delta2, rng)
    sd = SameData(X, y, w_star, M)
    nb = P // M
    burn = max(min_epochs, _burn_epochs(sd, lr_eff, efolds, nb))
    meas = max(min_epochs, int(round(measure_frac * burn)))
    rng_t = np.random.default_rng(derive_seed(seed, "bn_dynamics_train"))
    w = rng_t.standard_normal(N) / math.sqrt(N)
    w /= math.sqrt(w @ w)
    g, rm, rv, acc = np.ones(1), np.zeros(1), np.ones(1), np.zeros(4)
    errs, vsum, loss = [], np.zeros(N), 0.0
    for ep in range(burn + meas):
        if ep == burn:
            acc[:] = 0.0
        bn_epoch_scaled(X, y, _batches(rng_t, P, M, batches == "independent"), M, lr_eff, 0.0, 1.0, w, g, rm, rv,
                        momentum, bn_eps, acc)
        if not np.all(np.isfinite(w)) or not math.isfinite(g[0]):
            raise ParameterError(f"training diverged at epoch {ep} (lr_eff = {lr_eff} too large)")
        if ep >= burn:
            e, v = _eval(X, w, g[0], sd)
            errs.append(e)
            vsum += v
    loss = acc[1] / acc[2]
    th = sd.theory(lr_eff)
    extra = {**th, **sd.references(), "eps_ridge_opt": sd.ridge_opt(delta2), "resid": sd.resid,
             "c_min": sd.c_min, "P": float(P), "grad2": acc[3] / acc[2], "nu_fit": sd.fit_nu(vsum / meas, th["nu"]),
             **sd.fluctuation(lr_eff, batches, meas)}
    return StationaryRun(float(np.mean(errs)), sd.eps(vsum / meas), float(loss), burn, meas, extra)


@dataclass
class TrainingRun:
    """A BN student trained from scratch: eps_gen, |w|^2, the effective learning rate lr/|w|^2 and
    the mean |grad_u L_B|^2 (over the steps since the previous record) at the recorded epochs, the
    stationary prediction on the same data at that effective learning rate (what the run would
    settle at if lr_eff stayed there), the same-data limit and optimal ridge."""

    epochs: np.ndarray
    eps: np.ndarray
    w_sq: np.ndarray
    lr_eff: np.ndarray
    steps: np.ndarray
    grad2: np.ndarray
    eps_theory: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)


def training_run(N: int, alpha: float, delta2: float, M: int, lr: float, epochs: int, seed: int, wd: float = 0.0,
                 renorm: bool = False, n_record: int = 40, momentum: float = 0.1, bn_eps: float = 1e-5) -> TrainingRun:
    """Train a BN student for `epochs` epochs at a constant step lr from w ~ N(0, I/N), gamma = 1:
    plain SGD (wd = 0, renorm False: |w| grows), weight decay wd on w, or |w| renormalized to 1
    (renorm True: lr is then the effective learning rate).

    Parameters: N; alpha; delta2; M; lr (> 0); epochs; seed; wd (>= 0); renorm; n_record epochs on a
    log grid; momentum, bn_eps.  Returns: TrainingRun."""
    N = check_int("N", N, 2)
    P = n_samples(N, alpha)
    M = check_int("M", M, 4)
    lr = check_float("lr", lr, 0.0, lo_open=True)
    wd = check_float("wd", wd, 0.0)
    epochs = check_int("epochs", epochs, 1)
    rng = np.random.default_rng(derive_seed(seed, "bn_dynamics_data"))
    X, y, w_star = teacher_data(N, P, delta2, rng)
    sd = SameData(X, y, w_star, M)
    rec = set(np.unique(np.round(np.geomspace(1, epochs, n_record)).astype(np.int64)).tolist())
    rng_t = np.random.default_rng(derive_seed(seed, "bn_dynamics_train"))
    w = rng_t.standard_normal(N) / math.sqrt(N)
    if renorm:
        w /= math.sqrt(w @ w)
    g, rm, rv, acc = np.ones(1), np.zeros(1), np.ones(1), np.zeros(4)
    out: dict[str, list] = {"epochs": [], "eps": [], "w_sq": [], "lr_eff": [], "steps": [], "grad2": [],
                            "eps_theory": []}
    last = (0.0, 0.0, 0.0)
    for ep in range(1, epochs + 1):
        bn_epoch_scaled(X, y, rng_t.permutation(P), M, lr, wd, 1.0 if renorm else 0.0, w, g, rm, rv, momentum,
                        bn_eps, acc)
        if not np.all(np.isfinite(w)) or not math.isfinite(g[0]):
            raise ParameterError(f"training diverged at epoch {ep}")
        if ep in rec:
            out["epochs"].append(ep)
            out["eps"].append(_eval(X, w, g[0], sd)[0])
            out["w_sq"].append(float(w @ w))
            d_steps = acc[2] - last[1]
            out["lr_eff"].append((acc[0] - last[0]) / d_steps if d_steps > 0 else lr / float(w @ w))
            out["grad2"].append((acc[3] - last[2]) / d_steps if d_steps > 0 else math.nan)
            out["eps_theory"].append(sd.theory(out["lr_eff"][-1])["eps_theory"])
            out["steps"].append(acc[2])
            last = (acc[0], acc[2], acc[3])
    extra = {**sd.references(), "eps_ridge_opt": sd.ridge_opt(delta2), "resid": sd.resid, "P": float(P)}
    return TrainingRun(*(np.array(out[k]) for k in ("epochs", "eps", "w_sq", "lr_eff", "steps", "grad2", "eps_theory")),
                       extra)


@dataclass
class NormRun:
    """A BN student under plain SGD or weight decay, started at the lr -> 0 limit state
    (`SameData.limit_state`, |w|^2 = w0_sq): |w|^2 at the start of the measured window and at its end,
    the steps in it, the time averages over it of lr/|w|^2, |w|^4 and |grad_u L_B|^2, and the same-data
    G^2 = 4 kappa^2 |v_c|^2 N L_res g/M of the limit state (`SameData.theory(0)`)."""

    w_sq_start: float
    w_sq_end: float
    steps: int
    lr_eff: float
    w4: float
    grad2: float
    grad2_same: float


def norm_run(N: int, alpha: float, delta2: float, M: int, lr: float, seed: int, *, steps: int, wd: float = 0.0,
             burn_steps: int = 0, w0_sq: float | None = 1.0, momentum: float = 0.1,
             bn_eps: float = 1e-5) -> NormRun:
    """Train a BN student from the lr -> 0 limit state, with w scaled to |w|^2 = w0_sq, by SGD at step lr
    with weight decay wd on w (wd = 0: plain SGD, |w| grows), no renormalization: burn_steps steps, then
    the measured window of `steps` steps (both rounded up to whole epochs of P // M steps).  w0_sq None
    (wd > 0): the equilibrium of the same data's limit G^2, |w_0|^4 = lr G2_same/(wd (2 - lr wd)).

    Parameters: N; alpha = P/N (P >= N + 2, P > M); delta2; M (>= 4); lr (> 0); seed; steps (>= 1);
    wd (>= 0; 0 < lr wd < 2 if w0_sq is None); burn_steps (>= 0); w0_sq (> 0) or None; momentum, bn_eps
    of the BN layer.  Returns: NormRun."""
    N = check_int("N", N, 2)
    P = n_samples(N, alpha)
    M = check_int("M", M, 4)
    if P < N + 2 or P <= M:
        raise ParameterError(f"need P = round(alpha N) >= N + 2 and P > M (got P = {P})")
    lr = check_float("lr", lr, 0.0, lo_open=True)
    wd = check_float("wd", wd, 0.0)
    if w0_sq is None and not 0 < lr * wd < 2:
        raise ParameterError(f"w0_sq = None needs 0 < lr wd < 2 (got {lr * wd:g})")
    if w0_sq is not None:
        w0_sq = check_float("w0_sq", w0_sq, 0.0, lo_open=True)
    nb = P // M
    ep_burn = -(-check_int("burn_steps", burn_steps, 0) // nb)
    ep_meas = -(-check_int("steps", steps, 1) // nb)
    rng = np.random.default_rng(derive_seed(seed, "bn_dynamics_data"))
    X, y, w_star = teacher_data(N, P, check_float("delta2", delta2, 0.0), rng)
    sd = SameData(X, y, w_star, M)
    u, gamma = sd.limit_state()
    g2_same = sd.theory(0.0)["grad2_theory"]
    if w0_sq is None:
        w0_sq = math.sqrt(lr * g2_same / (wd * (2 - lr * wd)))
    w = u * math.sqrt(w0_sq)
    g, rm, rv, acc = np.array([gamma]), np.zeros(1), np.ones(1), np.zeros(4)
    rng_t = np.random.default_rng(derive_seed(seed, "bn_dynamics_norm"))
    w_sq_start, w4 = 0.0, 0.0
    for ep in range(ep_burn + ep_meas):
        if ep == ep_burn:
            acc[:] = 0.0
            w_sq_start = float(w @ w)
        bn_epoch_scaled(X, y, rng_t.permutation(P), M, lr, wd, 0.0, w, g, rm, rv, momentum, bn_eps, acc)
        if not np.all(np.isfinite(w)) or not math.isfinite(g[0]):
            raise ParameterError(f"training diverged at epoch {ep}")
        if ep >= ep_burn:
            w4 += float(w @ w) ** 2  # at epoch ends: |w| moves by O(lr wd) per step, slowly against an epoch
    return NormRun(w_sq_start, float(w @ w), int(acc[2]), acc[0] / acc[2], w4 / ep_meas, acc[3] / acc[2], g2_same)
