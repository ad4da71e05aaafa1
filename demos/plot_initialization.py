"""
Initialization: variance and gradients through depth
====================================================

Push a standardized input through a deep net at initialization: the pre-activation variance q_l
follows q_{l+1} = sigma_w^2 E[phi(h_l)^2] with h_l ~ N(0, q_l) in wide layers, and the
backpropagated gradient r_l = E[(dL/dh_l)^2] follows r_l = sigma_w^2 E[phi'(h_l)^2] r_{l+1}, where
sigma_w^2 = n Var(w) (Glorot & Bengio, AISTATS 2010; He et al., arXiv:1502.01852; Poole et al.,
arXiv:1606.05340).  For ReLU, E[phi^2] = q/2 and E[phi'^2] = 1/2 (SymPy: ``bnreg derive
init_variance``): He's sigma_w^2 = 2 keeps both constant; Xavier's 1 halves them every layer.
tanh and sigmoid need quadrature.  Four initializations of a square net of width n: N(0, 0.01^2)
(sigma_w^2 = 1e-4 n), N(0, 1) (sigma_w^2 = n), Xavier (1) and He (2), each with tanh, ReLU and
sigmoid, simulated with the network library's ``Dense`` layers (docs/training_practice.md).

Dying ReLU at initialization: with zero biases, the batch's pre-activations become ever more
correlated with depth (c_{l+1} = (sqrt(1 - c^2) + (pi - arccos c) c)/pi), so a growing fraction
of units is off for the whole batch, whatever the initialization's scale.
"""

# %%
# Ingredients: the mean-field recursions of ``bnreg.theory.training_practice`` and random nets
# from ``bnreg.sims.training_practice`` (library ``Dense`` layers, float64).
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from bnreg.demos.common import Report, quick_from_env
from bnreg.sims.training_practice import simulate_init
from bnreg.theory import training_practice as TP

NAME = "initialization"
TITLE = "initialization: forward variance, backward gradients and dying ReLU through depth"
ACTS = ("relu", "tanh", "sigmoid")
INIT_LABELS = {"small": "N(0, 0.01²)", "standard": "N(0, 1)", "xavier": "Xavier", "he": "He"}
HIST = ("tanh", "xavier", (1, 5, 20))


# %%
# Theory for one (activation, initialization).
def theory(act: str, init: str, width: int, depth: int) -> dict[str, np.ndarray]:
    s2 = TP.init_sigma_w2(init, width)
    return {"q": TP.forward_variance(act, s2, depth), "r": TP.backward_variance(act, s2, depth),
            "g": TP.weight_grad_rms(act, s2, depth)}


# %%
# The figure: q_l (top) and r_l (bottom) per activation, lines theory, points simulation; a
# histogram panel (h_l / sqrt(q_l) should be N(0, 1)) and the dead-ReLU panel.
def plot(res, th, dead, hist, depth: int) -> plt.Figure:
    fig, axes = plt.subplots(2, 4, figsize=(17, 7.5))
    L = np.arange(1, depth + 1)
    for j, act in enumerate(ACTS):
        for row, key in ((0, "q"), (1, "r")):
            ax = axes[row, j]
            for k, init in enumerate(TP.INITS):
                ax.semilogy(L, th[act, init][key], f"C{k}-", lw=1, label=f"{INIT_LABELS[init]} theory")
                sim = getattr(res[act, init], key)
                ax.errorbar(L, [m.estimate for m in sim], [m.se for m in sim], fmt="o", ms=3, color=f"C{k}",
                            label=f"{INIT_LABELS[init]} sim")
            ax.set_title(f"{act}: " + ("forward q_l = E[h_l²]" if key == "q" else "backward r_l = E[(∂L/∂h_l)²]"))
            ax.set_xlabel("layer l")
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=6, ncol=2)
    ax = axes[0, 3]
    act, init, layers = HIST
    z = np.linspace(-4, 4, 200)
    ax.plot(z, np.exp(-z * z / 2) / math.sqrt(2 * math.pi), "k-", label="N(0, 1)")
    for k, (layer, h) in enumerate(sorted(hist.items())):
        ax.hist(h / math.sqrt(th[act, init]["q"][layer - 1]), bins=60, range=(-4, 4), density=True, histtype="step",
                color=f"C{k}", label=f"layer {layer}: h/√q_l")
    ax.set_title(f"{act}, {INIT_LABELS[init]}: standardized by the theory's q_l")
    ax.legend(fontsize=7)
    ax = axes[1, 3]
    ax.plot(L, dead["theory"], "k-", label="theory (ReLU correlation map)")
    for k, init in enumerate(TP.INITS):
        sim = res["relu", init].dead
        ax.errorbar(L, [m.estimate for m in sim], [m.se for m in sim], fmt="o", ms=3, color=f"C{k}",
                    label=INIT_LABELS[init])
    ax.set_title("ReLU units off for the whole batch")
    ax.set_xlabel("layer l")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# %%
# Run it.
def main(save: str | None = None, quick: bool = False, seed: int = 0) -> dict[str, float]:
    rep = Report(NAME, TITLE, quick, seed)
    width, depth, batch, nets = (32, 6, 16, 2) if quick else (128, 20, 64, 8)
    res, th = {}, {}
    for act in ACTS:
        for init in TP.INITS:
            hl = HIST[2] if (act, init) == HIST[:2] else ()
            res[act, init] = simulate_init(act, init, width, depth, batch, nets, seed=seed + 1,
                                           hist_layers=tuple(x for x in hl if x <= depth))
            th[act, init] = theory(act, init, width, depth)
    rep.say(f"  width {width}, depth {depth}, batch {batch}, {nets} nets; q = E[h^2] at the last layer, "
            "r = E[(dL/dh)^2] at the first (r_last = 1)")
    for act in ACTS:
        for init in TP.INITS:
            r, t = res[act, init], th[act, init]
            key = f"{act}_{init}"
            rep.compare(f"{act:7s} {INIT_LABELS[init]:11s} q_{depth}", f"{key}_q", t["q"][-1], r.q[-1].estimate,
                        r.q[-1].se, f"r_1 theory {t['r'][0]:.3g}, sim {r.r[0].estimate:.3g} ± {r.r[0].se:.2g}; "
                        f"|dW_1|/|dW_{depth}| {t['g'][0] / t['g'][-1]:.3g} (sim "
                        f"{r.grad_rms[0].estimate / r.grad_rms[-1].estimate:.3g})")
            rep.number(f"{key}_r1_theory", t["r"][0])
            rep.number(f"{key}_r1_sim", r.r[0].estimate)
    c = TP.relu_correlations(depth, 0.0)
    dead = {"theory": np.array([TP.relu_dead_fraction(x, batch) for x in c])}
    hm = res["relu", "he"]
    for layer in sorted({depth // 2, depth}):
        rep.compare(f"dead ReLU (off on all {batch}) layer {layer}", f"dead_l{layer}", dead["theory"][layer - 1],
                    hm.dead[layer - 1].estimate, hm.dead[layer - 1].se,
                    f"correlation theory {c[layer - 1]:.3f}, sim {hm.corr[layer - 1].estimate:.3f}")
    table = {"activation": [], "init": [], "layer": [], "q_theory": [], "q_sim": [], "q_se": [], "r_theory": [],
             "r_sim": [], "r_se": [], "grad_rms_theory": [], "grad_rms_sim": [], "dead_sim": []}
    for (act, init), r in res.items():
        for layer in range(depth):
            for k, v in (("activation", act), ("init", init), ("layer", layer + 1),
                         ("q_theory", th[act, init]["q"][layer]), ("q_sim", r.q[layer].estimate),
                         ("q_se", r.q[layer].se), ("r_theory", th[act, init]["r"][layer]),
                         ("r_sim", r.r[layer].estimate), ("r_se", r.r[layer].se),
                         ("grad_rms_theory", th[act, init]["g"][layer]), ("grad_rms_sim", r.grad_rms[layer].estimate),
                         ("dead_sim", r.dead[layer].estimate)):
                table[k].append(v)
    hist = res[HIST[0], HIST[1]].hist
    return rep.finish(plot(res, th, dead, hist, depth), table, save, {"width": width, "depth": depth, "batch": batch})


if __name__ == "__main__":
    results = main(quick=quick_from_env())
