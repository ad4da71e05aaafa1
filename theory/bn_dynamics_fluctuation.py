"""The BN student at a finite learning rate beyond leading order: the implicit ridge on the mean
direction *and* the stationary fluctuation of the direction about it, with the feedback of both on
the gradient noise (docs/bn_dynamics.md, "Beyond leading order").  Setup, notation and the leading
order are those of theory/bn_dynamics.py (w renormalized to |w| = 1 after every step, so lr = lr_eff).

The model, per eigen-direction i of the centred training covariance C (eigenvalue c_i, b_i the
component of b = Cov(x, y)):
1. Mean direction w0 ~ (C + nu)^-1 b: the noise ridge of bn_dynamics, with nu = lr_eff N g Lbar/M
   taken at the *mean training residual along the fluctuating direction* Lbar = E L_dir(w) instead of
   the least-squares residual (L_dir(w) = var_y - (w.b)^2/(w^T C w); g = noise_factor(M, P)).
2. Tangent fluctuation delta of w, linearized SGD: delta' = (1 - 2 eta (c_i + nu)) delta - lr xi,
   eta = lr_eff |v0| |v_b| (the step of the direction seen by the predictor), per-step noise
   E xi_i^2 = 4 E[gamma^2/S] c_i g L/M (the BN batch-gradient law of bn_dynamics at the current
   residual L).  Stationary second moment: a discrete Lyapunov equation, solved per mode over an epoch
   of K = P // M steps:
   - independent batches (each batch drawn afresh; "with replacement" between batches):
     Sigma_i = lr^2 D_i/(1 - lam_i^2), lam_i = 1 - 2 eta (c_i + nu);
   - reshuffled batches (one permutation per epoch; "without replacement"): the noise of the mean
     state sums to 0 over an epoch (Cov(xi_k, xi_l) = -D/(K - 1), k != l; -D M/(P - M) when the
     epoch's K = P // M batches leave P - K M samples out), except BN's batch-level
     part (the batch's own mean, slope and 1/sigma_B: variance beta_e(M) f of it, independent between
     batches); the part from the fluctuation itself (residual L - L(w0)) is anticorrelated between
     batches k, l only as far as the state is still correlated at lag |k - l|.  Epoch-end moment
     Sigma_i = V_i/(1 - lam_i^(2K)) with V_i the epoch's injected variance (exact sums over k, l).
3. The predictor v(w) = gamma w/sqrt(S) at the current w, gamma following the fit along w:
   v(w) = kappa (w.b) w/(w^T A w) with A = C (independent batches: measured gamma/(w.b/sqrt S) =
   kappa within 0.5 %) or A = C + nu (reshuffled: the gamma-shrinkage of the modified loss, Smith et
   al. 2021).  Its mean and covariance to second order in delta (Gaussian closure) give the
   time-averaged predictor's error and the instantaneous error (epoch ends, as measured).
4. Self-consistency: Lbar, E[gamma^2/S], nu and Sigma are solved together (damped fixed point).  No
   fixed point with |lam_i| < 1 (the fluctuation's feedback on its own noise runs away, or a mode is
   linearly unstable) is the predicted stability edge.

Nothing here is fitted.  What was changed after seeing data is stated in docs/bn_dynamics.md.
Symbolic steps: `derive_lyapunov` (per mode, both batch orders) and `derive_predictor_moments`
(the second-order mean of v(w) and its covariance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import sympy as sp
from scipy.special import gammaln

from bnreg.params import ParameterError, check_choice, check_float, check_int

from . import bn_dynamics as BD
from . import teacher_student as TS

__all__ = [
    "BATCHES",
    "MAX_BATCHES",
    "derive_lyapunov",
    "derive_predictor_moments",
    "batch_level_noise",
    "Spectrum",
    "spectrum_mp",
    "FluctuationState",
    "stationary_fluctuation",
    "bn_sgd_error",
    "bn_sgd_stability_edge",
    "DERIVATION_STEPS",
]

BATCHES = ("reshuffled", "independent")
MAX_BATCHES = 64  # batches per epoch: the reshuffled epoch's double sums cost K^3 per mode and iteration


# ---------------------------------------------------------------------------- derivations
@cache
def derive_lyapunov() -> dict[str, sp.Expr]:
    """One mode, x' = l x - e xi_k (l = 1 - 2 eta (c + nu), e = lr), over an epoch of K steps.
    Independent noise (variance D): the stationary Sigma = e^2 D/(1 - l^2) (fixed point of
    Sigma' = l^2 Sigma + e^2 D).  An epoch's injected variance with Cov(xi_k, xi_l) = D (delta_kl -
    (1 - delta_kl)/(K - 1)) (noise summing to 0 over the epoch): e^2 D (K S2 - S1^2)/(K - 1), S1 = sum l^m,
    S2 = sum l^2m (m < K); checked at K = 4 against the explicit double sum.  As l -> 1 it vanishes
    to order (1 - l)^2: reshuffling cancels the noise of the mean state to first order.

    Returns: {"Sigma (independent)", "fixed point residual" (0), "epoch injection, zero-sum noise",
    "K = 4: explicit double sum - formula" (0), "leading order as l -> 1 (K = 4)"}."""
    lv, e, D, Sg = sp.symbols("l e D Sigma", positive=True)
    sig_ind = e**2 * D / (1 - lv**2)
    K = 4
    coef = [lv ** (K - 1 - k) for k in range(K)]
    cov = [[D if k == m else -D / (K - 1) for m in range(K)] for k in range(K)]
    explicit = e**2 * sum(coef[k] * coef[m] * cov[k][m] for k in range(K) for m in range(K))
    S1 = sum(lv**m for m in range(K))
    S2 = sum(lv ** (2 * m) for m in range(K))
    formula = e**2 * D * (K * S2 - S1**2) / (K - 1)
    eps_ = sp.Symbol("epsilon", positive=True)
    small = sp.series(formula.subs(lv, 1 - eps_), eps_, 0, 3).removeO()
    return {"Sigma (independent)": sig_ind,
            "fixed point residual": sp.simplify(lv**2 * sig_ind + e**2 * D - sig_ind),
            "epoch injection, zero-sum noise": e**2 * D * (sp.Symbol("K") * sp.Symbol("S2") - sp.Symbol("S1") ** 2)
            / (sp.Symbol("K") - 1),
            "K = 4: explicit double sum - formula": sp.simplify(sp.expand(explicit - formula)),
            "leading order as l -> 1 (K = 4)": sp.factor(small)}


@cache
def derive_predictor_moments() -> dict[str, sp.Expr]:
    """v(w) = kappa (w.b) w/(w^T A w) is scale invariant; at w = w0 + delta (delta tangent, mean 0,
    covariance Sigma) its mean to second order is v0 + (kappa/Q0) [n0 w0 (-tr(A Sigma)/Q0
    + 4 u^T Sigma u/Q0^2) - 2 n0 Sigma u/Q0 - 2 w0 (b^T Sigma u)/Q0 + Sigma b], n0 = w0.b, Q0 = w0^T A w0,
    u = A w0, and its Jacobian is J delta = (kappa/Q0) [n0 delta + w0 (r.delta)], r = b - 2 n0 u/Q0.
    Shown in two dimensions (w0 = e1, delta = t e2, A diagonal): the t^2 coefficient of v equals the
    formula with Sigma = e2 e2^T, and d v/dt at 0 equals J e2.

    Returns: {"second-order coefficient - formula" (2 zeros), "Jacobian - formula" (2 zeros),
    "scale invariance v(s w) - v(w)" (2 zeros)}."""
    t, k, a1, a2, b1, b2, sc = sp.symbols("t kappa a1 a2 b1 b2 s", positive=True)
    A = sp.diag(a1, a2)
    b = sp.Matrix([b1, b2])
    w0 = sp.Matrix([1, 0])
    e2 = sp.Matrix([0, 1])

    def v(w: sp.Matrix) -> sp.Matrix:
        return k * (w.dot(b)) * w / (w.T * A * w)[0]

    vt = v(w0 + t * e2)
    second = sp.Matrix([sp.diff(vt[i], t, 2).subs(t, 0) / 2 for i in range(2)])
    n0, Q0 = w0.dot(b), (w0.T * A * w0)[0]
    u = A * w0
    S = e2 * e2.T
    mean = (k / Q0) * (n0 * w0 * (-(A * S).trace() / Q0 + 4 * (u.T * S * u)[0] / Q0**2) - 2 * n0 * S * u / Q0
                       - 2 * w0 * (b.T * S * u)[0] / Q0 + S * b)
    r = b - 2 * n0 * u / Q0
    jac = (k / Q0) * (n0 * e2 + w0 * r.dot(e2))
    first = sp.Matrix([sp.diff(vt[i], t).subs(t, 0) for i in range(2)])
    w = sp.Matrix(sp.symbols("w1 w2", positive=True))
    return {"second-order coefficient - formula": sp.simplify(second - mean),
            "Jacobian - formula": sp.simplify(first - jac),
            "scale invariance v(s w) - v(w)": sp.simplify(v(sc * w) - v(w))}


DERIVATION_STEPS = {
    "bn_sgd_lyapunov": (lambda latex: list(derive_lyapunov().items()),
                        "stationary fluctuation of linearized SGD per mode: independent vs reshuffled batches"),
    "bn_sgd_predictor_moments": (lambda latex: list(derive_predictor_moments().items()),
                                 "second-order mean and Jacobian of the BN predictor kappa (w.b) w/(w^T A w)"),
}


# ---------------------------------------------------------------------------- numerics
def batch_level_noise(M: int) -> float:
    """beta_e(M) = Var(e)/Var(a): the share of a BN batch gradient that does not cancel over a
    reshuffled epoch.  a = sum_j x_j r_j/sigma (the per-sample part, summing to 0 over an epoch);
    e = the rest, from the batch's own mean and slope (rho_j = r_j - rbar_B - z_j <r z>_B) and from
    1/sigma_B: E sum_j (rho_j/sigma_B - r_j/sigma)^2 = L [M E(s - 1)^2 - 2 E s^2 + 4 E s]
    (s = sigma/sigma_B, Gaussian h: E s^2 = M/(M - 3), E s = sqrt(M/2) Gamma((M - 2)/2)/Gamma((M - 1)/2)),
    divided by M L.

    Parameters: M batch size (>= 4).  Returns: beta_e (0.082 at M = 32)."""
    M = check_int("M", M, 4)
    m1 = math.sqrt(M / 2) * math.exp(gammaln((M - 2) / 2) - gammaln((M - 1) / 2))
    m2 = M / (M - 3)
    return (M * (m2 - 2 * m1 + 1) - 2 * m2 + 4 * m1) / M


@dataclass(frozen=True)
class Spectrum:
    """The data as the model sees them: eigenvalues c_i of C, E b_i^2 and E b_i w*_i per mode, a weight
    per mode (1 for a data set; N x quadrature weight for the MP limit), |w*|^2, the least-squares
    residual L_res, and N, M, P."""

    c: np.ndarray
    b2: np.ndarray
    bw: np.ndarray
    weight: np.ndarray
    w2: float
    resid: float
    N: int
    M: int
    P: int


def spectrum_mp(alpha: float, M: int, delta2: float, N: int, nodes: int = 160) -> Spectrum:
    """The thermodynamic-limit spectrum at this N: c = s/alpha, s ~ MP(alpha) (TS.mp_nodes), E[b_i^2 | c]
    = c^2/N + delta2 c/P, E[b_i w*_i | c] = c/N, |w*|^2 = 1, L_res = delta2 (P - N - 1)/P.

    Parameters: alpha (> 1); M (>= 4); delta2; N; nodes of the quadrature.  Returns: Spectrum."""
    a, M, d, N, P = BD._common(alpha, M, delta2, N)
    s, w = TS.mp_nodes(a, nodes)
    c = s / a
    return Spectrum(c, c * c / N + d * c / P, c / N, N * w, 1.0, BD.bn_residual(a, d, N), N, M, P)


@dataclass(frozen=True)
class FluctuationState:
    """The self-consistent stationary state: errors (instantaneous at epoch ends, of the time-averaged
    predictor, and of the predictor averaged over `window` epoch ends), nu, the mean residual Lbar,
    eta, the fluctuation tr Cov v, the second-order shrinkage tau of the mean predictor, and the
    largest |lam_i| (< 1)."""

    eps_instant: float
    eps_mean: float
    eps_window: float
    nu: float
    resid: float
    eta: float
    fluctuation: float
    tau: float
    lam_max: float
    mean_gain: np.ndarray | None = None  # the mean predictor as gains on b, mode by mode


def _S(lam: np.ndarray, k: int) -> np.ndarray:
    return (1.0 - lam**k) / (1.0 - lam)


def _injections(lam: np.ndarray, unit: np.ndarray, K: int, g: float, be: float, L0: float, Lfl: float,
                src: np.ndarray, reshuffled: bool, bridge: float = 0.0, anti: float | None = None) -> np.ndarray:
    """Injected variance after k = 0..K steps of an epoch, per mode (rows k).  Reshuffled: L0 (the mean
    state's residual) cancels over the epoch; of the fluctuation's residual Lfl, the part carried in from
    earlier epochs (src: its autocorrelation by lag) cancels as far as the state stays correlated, and
    the part `bridge` built up within the current epoch does not cancel (it is made of this epoch's
    own noise).  anti: the correlation -Cov(xi_k, xi_l)/D of two batches of one epoch, M/(P - M) for batches of M
    drawn without replacement from P (1/(K - 1) when the K batches cover the set; None: that)."""
    if anti is None:
        anti = 1.0 / (K - 1) if K > 1 else 0.0
    out = np.zeros((K + 1, lam.size))
    kk = np.arange(K)
    lag = src[np.abs(kk[:, None] - kk[None, :])]
    for k in range(1, K + 1):
        s2 = _S(lam * lam, k)
        if not reshuffled:
            out[k] = unit * g * (L0 + Lfl) * s2
            continue
        s1 = _S(lam, k)
        zero_sum = s2 - anti * (s1 * s1 - s2)
        wts = lam[:, None] ** (k - 1 - kk[None, :k])
        cross = np.einsum("ik,il,kl->i", wts, wts, lag[:k, :k]) - src[0] * s2  # sum over k != l
        out[k] = unit * ((g - be) * (L0 * zero_sum + src[0] * s2 - anti * cross) + be * (L0 + src[0]) * s2
                         + g * bridge * s2)
    return out


class _Geometry:
    """The mean state w0 ~ (C + nu)^-1 b and the second-order moments of a tangent covariance about it.
    Vectors are gains h on b (x = h b mode by mode), so that every sum is a weighted sum over modes."""

    def __init__(self, sp_: Spectrum, nu: float, kappa: float, nu_gamma: float):
        c, b2, wt = sp_.c, sp_.b2, sp_.weight
        self.sp, self.kappa = sp_, kappa
        h = 1.0 / (c + nu)
        a2 = float(np.sum(wt * h * h * b2))
        self.hw = h / math.sqrt(a2)  # w0 = hw b, |w0| = 1
        self.n0 = float(np.sum(wt * h * b2)) / math.sqrt(a2)  # w0 . b
        self.sc = float(np.sum(wt * c * self.hw**2 * b2))  # w0^T C w0
        self.A = c + nu_gamma  # gamma follows kappa (w.b)/sqrt(w^T A w)
        self.Q0 = float(np.sum(wt * self.A * self.hw**2 * b2))
        self.v0_2 = (kappa * self.n0 / self.Q0) ** 2
        self.vb = self.n0 / self.sc  # |v_b|, the best fit along w0

    def moments(self, sig: np.ndarray) -> dict[str, float | np.ndarray]:
        """With Sigma projected off w0 (P Sigma P): tr Cov v (fl), the increase of the residual along w
        (dL), and the mean predictor's gains (hmean) and shrinkage tau (derive_predictor_moments)."""
        sp_, hw, n0, Q0, kap = self.sp, self.hw, self.n0, self.Q0, self.kappa
        c, b2, wt = sp_.c, sp_.b2, sp_.weight
        sww = float(np.sum(wt * sig * hw * hw * b2))

        def dot(hx: np.ndarray, hy: np.ndarray) -> float:
            return float(np.sum(wt * hx * hy * b2))

        def quad(hx: np.ndarray, hy: np.ndarray) -> float:
            xw, yw = dot(hx, hw), dot(hy, hw)
            return dot(sig * hx, hy) - dot(sig * hx, hw) * yw - dot(sig * hy, hw) * xw + sww * xw * yw

        def psp(hx: np.ndarray) -> np.ndarray:
            xw = dot(hx, hw)
            return sig * hx - hw * dot(sig * hx, hw) - sig * hw * xw + hw * sww * xw

        def trace(m: np.ndarray, q: float) -> float:
            return float(np.sum(wt * m * sig)) - 2 * dot(m * sig * hw, hw) + sww * q

        one = np.ones_like(c)
        hu, hc = self.A * hw, c * hw
        hr = one - 2 * n0 * hu / Q0
        fl = (kap / Q0) ** 2 * (n0 * n0 * trace(one, 1.0) + quad(hr, hr))
        sc = self.sc
        # L_dir = var_y - f, f = (w.b)^2/(w^T C w): E f - f0 = (1/2) tr(f'' P Sigma P)
        half = (quad(one, one) / sc - 4 * n0 * quad(one, hc) / sc**2 - n0 * n0 * trace(c, sc) / sc**2
                + 4 * n0 * n0 * quad(hc, hc) / sc**3)
        tr_a = trace(self.A, Q0)
        hmean = (kap * n0 / Q0) * hw + (kap / Q0) * (n0 * hw * (-tr_a / Q0 + 4 * quad(hu, hu) / Q0**2)
                                                     - 2 * n0 * psp(hu) / Q0 - 2 * hw * quad(one, hu) / Q0 + psp(one))
        return {"fl": fl, "dL": -half, "hmean": hmean, "tau": tr_a / Q0}

    def eps(self, hx: np.ndarray) -> float:
        sp_ = self.sp
        return float(np.sum(sp_.weight * (hx * hx * sp_.b2 - 2 * hx * sp_.bw))) + sp_.w2


def _gamma_retention(lam: np.ndarray, c: np.ndarray, wt: np.ndarray, K: int) -> float:
    """The share of the modified loss's gamma-shrinkage nu/S that reshuffling delivers.  The shrinkage
    comes from the displacement of w by the epoch's earlier batches (anticorrelated with the current
    one: Smith et al. 2021); mode i keeps lam_i^(k-1-l) of the displacement from step l at step k, so
    it contributes phi_i = sum_{l<k} lam_i^(k-1-l)/(K (K - 1)/2) (1 as lr -> 0) of its share c_i/sum c
    of the noise.  Independent batches have no such correlation: 0."""
    ks = np.arange(1, K)
    if K < 2:
        return 0.0  # one batch per epoch: no earlier batch to be correlated with
    phi = np.sum((1.0 - lam[:, None] ** ks[None, :]) / (1.0 - lam[:, None]), axis=1) / (K * (K - 1) / 2)
    return float(np.sum(wt * c * phi) / np.sum(wt * c))


def stationary_fluctuation(sp_: Spectrum, lr_eff: float, kappa: float, batches: str = "reshuffled",
                           window: int = 0, max_iter: int = 3000) -> FluctuationState:
    """Solve the model of the module docstring on a spectrum (a data set or the MP limit).

    Parameters: sp_ the Spectrum; lr_eff (> 0); kappa = E[sigma_B]/sigma; batches "reshuffled" or
    "independent"; window epoch ends averaged for eps_window (0: infinitely many); max_iter.
    Returns: FluctuationState.  Raises ParameterError beyond the stability edge (no fixed point)."""
    batches = check_choice("batches", batches, BATCHES)
    lr = check_float("lr_eff", lr_eff, 0.0, lo_open=True)
    c, wt = sp_.c, sp_.weight
    N, M, P = sp_.N, sp_.M, sp_.P
    K = P // M
    if K > MAX_BATCHES or K < 1:
        raise ParameterError(f"need 1 <= P // M <= {MAX_BATCHES} batches per epoch, P = round(alpha N) (got "
                             f"P = {P}, M = {M}): the epoch's sums are exact double sums over its batches; "
                             "lower alpha N or raise M")
    g = BD.noise_factor(M, P)
    be = batch_level_noise(M) * (P - M) / (P - 1)
    reshuffled = batches == "reshuffled"
    explained = float(np.sum(wt * sp_.b2 / c))  # var_y - L_res
    sig = np.zeros_like(c)
    inj_prev = np.zeros((K + 1, c.size))
    retain = 1.0 if reshuffled else 0.0
    Lbar, fl, v2 = sp_.resid, 0.0, -1.0  # v2 = E|v|^2 = E[gamma^2/S] over the fluctuation (-1: not yet known)
    edge = f"lr_eff = {lr:g} is beyond the predicted stability edge"
    for _ in range(max_iter):
        nu = lr * N * g * Lbar / M
        geo = _Geometry(sp_, nu, kappa, nu * retain)
        if v2 < 0:
            v2 = geo.v0_2
        # the direction's step seen by the predictor: lr gamma (w.b)/S^(3/2) = lr |v| |v_b|, averaged over
        # the fluctuation (|v_b| = |v| (w^T A w)/(kappa w^T C w))
        eta = lr * v2 * geo.Q0 / (kappa * geo.sc)
        lam = 1.0 - 2.0 * eta * (c + nu)
        lam_max = float(np.max(np.abs(lam)))
        if lam_max >= 1.0:
            raise ParameterError(f"{edge} (a mode of the linearized dynamics is unstable: "
                                 f"|1 - 2 eta (c + nu)| = {lam_max:.3g})")
        retain = _gamma_retention(lam, c, wt, K) if reshuffled else 0.0
        L0 = sp_.resid + explained - geo.n0**2 / geo.sc  # L_dir(w0)
        Lfl = max(Lbar - L0, 0.0)
        unit = lr * lr * 4 * v2 * c / M  # per step, w units, times rho2 = g L
        src, bridge = np.zeros(K), 0.0
        if reshuffled and np.any(sig > 0):
            # split Lfl by where the step's deviation comes from: carried in (lam^2k Sigma) or this epoch's
            carried = float(np.mean([np.sum(wt * c * lam ** (2 * k) * sig) for k in range(K)]))
            built = float(np.mean([np.sum(wt * c * inj_prev[k]) for k in range(K)]))
            share = carried / (carried + built) if carried + built > 0 else 1.0
            shape = np.array([float(np.sum(wt * c * sig * lam**d)) for d in range(K)])
            src, bridge = Lfl * share * shape / shape[0], Lfl * (1 - share)
        inj = _injections(lam, unit, K, g, be, L0, Lfl, src, reshuffled, bridge, M / (P - M))
        inj_prev = inj
        sig_new = inj[K] / (1 - lam ** (2 * K))
        sig_avg = np.mean([lam ** (2 * k) * sig_new + inj[k] for k in range(K)], axis=0)
        m_end, m_avg = geo.moments(sig_new), geo.moments(sig_avg)
        L_new = L0 + float(m_avg["dL"])
        fl_new = float(m_end["fl"])
        hm = np.asarray(m_end["hmean"])
        v2_new = float(np.sum(wt * hm * hm * sp_.b2)) + fl_new
        if not (math.isfinite(L_new) and math.isfinite(fl_new)) or L_new > 1e3 * (sp_.resid + explained):
            raise ParameterError(f"{edge} (the fluctuation's feedback on the gradient noise runs away)")
        done = (abs(L_new - Lbar) <= 1e-10 * Lbar and abs(fl_new - fl) <= 1e-10 * max(fl_new, 1e-300)
                and float(np.max(np.abs(sig_new - sig))) <= 1e-10 * max(float(np.max(sig_new)), 1e-300))
        sig, Lbar, fl, v2 = 0.5 * (sig + sig_new), 0.5 * (Lbar + L_new), 0.5 * (fl + fl_new), 0.5 * (v2 + v2_new)
        if done:
            break
    else:
        raise ParameterError(f"lr_eff = {lr:g}: no stationary state found (at or beyond the stability edge)")
    m = geo.moments(sig)
    e_mean = geo.eps(np.asarray(m["hmean"]))
    e_win = e_mean
    if window:
        r = lam**K
        n = check_int("window", window, 1)
        fac = ((1 + r) / (1 - r) - 2 * r * (1 - r**n) / (n * (1 - r) ** 2)) / n
        e_win = e_mean + v2 * float(np.sum(wt * sig * fac))
    return FluctuationState(e_mean + float(m["fl"]), e_mean, e_win, nu, Lbar, eta, float(m["fl"]),
                            float(m["tau"]), lam_max, np.asarray(m["hmean"]))


@lru_cache(maxsize=1024)
def _state(alpha: float, M: int, delta2: float, lr_eff: float, N: int, batches: str) -> FluctuationState:
    a = check_float("alpha", alpha, 1.0, lo_open=True)
    M, N = check_int("M", M, 4), check_int("N", N, 2)
    if a * N / M > MAX_BATCHES + 1:
        raise ParameterError(f"need alpha N/M <= {MAX_BATCHES} (batches per epoch; got {a * N / M:.4g}): the model's "
                             "epoch sums are exact double sums over the batches; lower alpha or N, or raise M")
    return stationary_fluctuation(spectrum_mp(alpha, M, delta2, N), lr_eff, TS.bn_shrinkage(M), batches)


def bn_sgd_error(alpha: float, M: int, delta2: float, lr_eff: float, N: int, batches: str = "reshuffled",
                 average: str = "instant") -> float:
    """Stationary eps_gen of a BN student at a fixed lr_eff (w renormalized every step) beyond leading
    order: the noise ridge at the self-consistent residual plus the stationary fluctuation of the
    direction (a discrete Lyapunov equation per eigen-mode of C, MP limit at this N; module docstring).
    average "instant": E eps_gen at epoch ends (what a trained student shows); "predictor": eps_gen of
    the time-averaged predictor.

    Parameters: alpha = P/N (> 1); M batch size (>= 4); delta2; lr_eff (> 0, below
    bn_sgd_stability_edge); N; batches "reshuffled" | "independent"; average "instant" | "predictor".
    Returns: eps_gen (test noise excluded).  docs/bn_dynamics.md."""
    average = check_choice("average", average, ("instant", "predictor"))
    st = _state(alpha, M, delta2, lr_eff, N, batches)
    return st.eps_instant if average == "instant" else st.eps_mean


def bn_sgd_stability_edge(alpha: float, M: int, delta2: float, N: int, batches: str = "reshuffled") -> float:
    """The largest lr_eff with a stationary state of the model (bisection on a log scale, relative
    accuracy 1e-3): beyond it the linearized fluctuation runs away.

    Parameters: as bn_sgd_error.  Returns: lr_eff at the edge."""
    lo, hi = 1e-4, 10.0

    def ok(x: float) -> bool:
        try:
            _state(alpha, M, delta2, x, N, batches)
        except ParameterError:
            return False
        return True

    if not ok(lo):
        raise ParameterError(f"no stationary state even at lr_eff = {lo:g}")
    while hi / lo > 1.001:
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo
