"""Fuzz of `bnreg eval` (issue 14): every registered formula driven with extreme, malformed,
duplicate, missing and unknown parameters, options before and after the items.

Each case must end in one of two ways:
  exit 0 with one finite number on stdout (text) or valid JSON holding a finite "value" (--json),
      or an explicit divergence: "inf" on stdout plus a one-line note on stderr, JSON
      {"value": null, "divergent": true, "reason": ...};
  exit 2 with exactly one line on stderr, "bnreg: error: ...", naming a parameter or the formula.
Never a traceback, never nan/inf with exit 0, never NaN/Infinity in the JSON.

Cases are counted per class; `python tests/theory/test_fuzz_eval.py` prints the counts and any failure.
The whole fuzz is slow (quadrature formulas); a deterministic subset runs in the fast loop.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator

import pytest

from bnreg.cli import main
from bnreg.params import Param
from bnreg.theory.catalog import FORMULAS
from bnreg.theory.registry import Formula

# A valid value for every required parameter that has no default (the rest take their defaults).
NOMINAL = {"M": "32", "case": "identity", "alpha": "0.5", "lam": "0.1", "zeta": "0.1", "x": "1.0", "N": "128",
           "P": "10", "tau": "1.0", "keep": "0.5", "c": "0.5", "v": "1.0", "beta": "0.5", "lr": "0.01",
           "trace_sigma": "1.0", "lr_eff": "0.01", "steps": "100", "wd": "0.001", "layer": "2", "width": "64"}

TINY_HUGE = ["5e-324", "-5e-324", "1e-300", "-1e-300", "1e-100", "1e-10", "1e10", "1e100", "1e300", "-1e300",
             "1e308", "-1e308", "1.7976931348623157e308", "0", "-0.0", "1e309"]
NONFINITE = ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "-Infinity", "infinity"]
MALFORMED = ["abc", "1,5", "0x10", "1e", "--1", "1/2", "true", "[1]", "None", "1 2", "\u0663"]
INT_SYNTAX = ["1e308", "1e3", "32.0", "32.5", "1e9", "3.2e1", "1e-3", "-1e308", "9" * 400, "1" + "0" * 30]


def _num(x: float, kind: str) -> str:
    return str(int(x)) if kind == "int" else repr(float(x))


def edge_values(p: Param) -> list[str]:
    """Declared-range edges of a numeric parameter: the ends, just inside, just outside."""
    out: list[str] = []
    for end, inward in ((p.lo, math.inf), (p.hi, -math.inf)):
        if end is None:
            continue
        if p.kind == "int":
            step = 1 if inward > 0 else -1
            out += [str(int(end)), str(int(end) + step), str(int(end) - step)]
        else:
            e = float(end)
            out += [repr(e), repr(math.nextafter(e, inward)), repr(math.nextafter(e, -inward))]
    return out


def extreme_values(p: Param) -> list[str]:
    """Extremes of every magnitude and sign, in and out of the declared range."""
    if p.kind == "int":
        return [*edge_values(p), "0", "-1", "3", "1000", "10" + "0" * 5, str(10**9), str(10**12), str(10**18),
                str(2**63), str(10**30), str(10**308), "-" + str(10**30)]
    return [*edge_values(p), *TINY_HUGE]


def bad_values(p: Param) -> dict[str, list[str]]:
    """Class -> values for one parameter."""
    if p.kind in ("int", "float"):
        d = {"extreme": extreme_values(p), "nonfinite": NONFINITE, "malformed": MALFORMED}
        if p.kind == "int":
            d["int_syntax"] = INT_SYNTAX
        return d
    if p.kind == "bool":
        return {"malformed": ["maybe", "2", "-1", "TRUE", "False", "yes", "0", "1", "1.0", "nan", "t"]}
    return {"malformed": ["nope", p.choices[0].upper(), p.choices[0] + " ", "1", "nan", *p.choices]}


# Formulas whose legal range excludes a shared nominal value.
NOMINAL_FOR = {name: {"alpha": "1.5"} for name in ("bn_stationary_error", "bn_weight_norm_growth", "bn_noise_ridge",
                                                "bn_wd_effective_lr", "bn_sgd_error")}


def base(f: Formula) -> dict[str, str]:
    """The required parameters at nominal values."""
    nominal = {**NOMINAL, **NOMINAL_FOR.get(f.name, {})}
    return {p.name: nominal[p.name] for p in f.params if p.required}


def items(d: dict[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in d.items()]


BOOL_OK = {"true", "false", "1", "0", "yes", "no"}
INT_BAD = {"1e308", "-1e308", "32.5", "1e-3", "9" * 400, "1" + "0" * 30}  # floats that name no integer in range


def _must_fail(p: Param, cls: str, v: str) -> bool:
    """Inputs that no formula may accept: non-finite or malformed numbers, '1e308' for an integer,
    a bool or choice outside its set."""
    if cls == "nonfinite":
        return True
    if cls == "int_syntax":
        return v in INT_BAD
    if cls == "malformed":
        if p.kind == "bool":
            return v.lower() not in BOOL_OK
        if p.kind == "choice":
            return v not in p.choices
        return True
    return False


def cases(f: Formula) -> Iterator[tuple[str, list[str], bool]]:
    """(class, argument list after `eval NAME`, must it be refused?) for one formula."""
    b = base(f)
    numeric = [p for p in f.params if p.kind in ("int", "float")]
    choices = [p for p in f.params if p.kind == "choice"]
    # defaults: only the required ones; each optional one at its advertised default, explicitly
    yield "defaults", items(b), False
    for p in f.params:
        if not p.required and p.default is not None:
            dv = str(p.default).lower() if p.kind == "bool" else str(p.default)
            yield "defaults", items({**b, p.name: dv}), False
    # one parameter at a time, the others nominal
    for p in f.params:
        for cls, vals in bad_values(p).items():
            for v in vals:
                yield cls, items({**b, p.name: v}), _must_fail(p, cls, v)
        yield "malformed", [*items({k: v for k, v in b.items() if k != p.name}), f"{p.name}="], True
    # every choice value crossed with the numeric extremes of the others
    for c in choices:
        for cv in c.choices:
            for p in numeric:
                for v in extreme_values(p):
                    yield "choice_cross", items({**b, c.name: cv, p.name: v}), False
    # pairs of numeric extremes
    corners = {p.name: [v for v in extreme_values(p) if v in ("5e-324", "1e-300", "1e300", "1e308", "-1e308",
                                                              str(10**18), "3")] + edge_values(p)[:2]
               for p in numeric}
    for i, p in enumerate(numeric):
        for q in numeric[i + 1:]:
            for v in corners[p.name]:
                for w in corners[q.name]:
                    yield "pairs", items({**b, p.name: v, q.name: w}), False
    # duplicates, missing, unknown keys, malformed items
    for p in f.params:
        v = b.get(p.name, NOMINAL.get(p.name, str(p.default).lower()))
        yield "duplicate", [*items(b), f"{p.name}={v}"] if p.name in b else [*items(b), f"{p.name}={v}",
                                                                               f"{p.name}={v}"], True
        if p.kind in ("int", "float"):  # the issue's M=32 M=3: different values
            other = edge_values(p)[0] if edge_values(p) else "3"
            yield "duplicate", [*items({**b, p.name: v}), f"{p.name}={other}"], True
        if p.required:
            yield "missing", items({k: w for k, w in b.items() if k != p.name}), True
    yield "missing", [], bool(b)
    for extra in ("bogus=1", "m=32", "M =32", "=3", "M", "M==3", "==", "M=3=4", "-M=3", "rho=1e308=3"):
        yield "unknown", [*items(b), extra], True


def check(name: str, argv: list[str], rc: int, out: str, err: str) -> str | None:
    """None if the outcome is acceptable, else why not."""
    if "Traceback" in err or "Traceback" in out:
        return "traceback"
    is_json = "--json" in argv
    if rc == 0:
        if is_json:
            try:
                d = json.loads(out, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
            except ValueError as e:
                return f"invalid JSON ({e}): {out!r}"
            v = d.get("value")
            if v is None:
                if d.get("divergent") is not True or not d.get("reason"):
                    return f"null value without a divergence record: {out!r}"
            elif not (isinstance(v, float | int) and math.isfinite(v)):
                return f"non-finite or non-numeric value: {out!r}"
            return None
        lines = out.splitlines()
        if len(lines) != 1:
            return f"expected one line on stdout, got {out!r}"
        try:
            v = float(lines[0])
        except ValueError:
            return f"not a number: {out!r}"
        if math.isfinite(v):
            return None if err == "" else f"stderr on success: {err!r}"
        if v == math.inf and len(err.splitlines()) == 1 and "diverges" in err:
            return None
        return f"non-finite value with exit 0: {out!r} {err!r}"
    if rc != 2:
        return f"exit {rc}"
    lines = err.splitlines()
    if len(lines) != 1 or not lines[0].startswith("bnreg: error: "):
        return f"expected one error line, got {err!r}"
    if out:
        return f"stdout on error: {out!r}"
    msg = lines[0]
    f = FORMULAS.get(name)
    names = [name] + ([p.name for p in f.params] if f else [])
    given = [a.partition("=")[0] for a in argv if not a.startswith("--")]
    if not any(n and n in msg for n in names + given) and "key=value" not in msg:
        return f"error names no parameter: {msg!r}"
    return None


def run_main(argv: list[str]) -> tuple[int, str, str]:
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        try:
            rc = main(argv)
        except SystemExit as ex:  # pragma: no cover - would be a bug
            rc = ex.code if isinstance(ex.code, int) else 1
        except Exception as ex:  # noqa: BLE001 - a traceback is what we look for
            return -1, o.getvalue(), e.getvalue() + f"Traceback (in-process): {type(ex).__name__}: {ex}"
    return rc, o.getvalue(), e.getvalue()


def variants(name: str, args: list[str], k: int) -> list[list[str]]:
    """Text and --json forms, with the options at several places (before NAME, between items, after)."""
    j = k % 3
    if j == 0:
        return [["eval", name, *args], ["eval", name, *args, "--json"]]
    if j == 1:
        return [["eval", "--json", name, *args]]
    mid = len(args) // 2
    return [["eval", name, *args[:mid], "--json", *args[mid:]]]


def fuzz(names=None, limit: int | None = None, thin: dict[str, int] | None = None
         ) -> tuple[Counter, Counter, dict[str, list[str]]]:
    """Run the cases (every `limit`-th one per formula if given, every `thin[cls]`-th one of a
    class); returns (tried per class, exit-0 per class, failures per class)."""
    tried: Counter = Counter()
    ok0: Counter = Counter()
    failures: dict[str, list[str]] = defaultdict(list)
    for name in names or FORMULAS:
        for k, (cls, args, bad) in enumerate(cases(FORMULAS[name])):
            if (limit and k % limit) or (thin and cls in thin and k % thin[cls]):
                continue
            for argv in variants(name, args, k):
                rc, out, err = run_main(argv)
                tried[cls] += 1
                ok0[cls] += rc == 0
                why = check(name, argv, rc, out, err) or ("bad input accepted (exit 0)" if bad and rc == 0 else None)
                if why:
                    failures[cls].append(f"bnreg {' '.join(argv)}: {why}")
    return tried, ok0, failures


def _report(tried, ok0, failures) -> str:
    lines = [f"{'class':14s} {'tried':>6s} {'exit 0':>6s} {'failed':>6s}"]
    for cls in sorted(tried):
        lines.append(f"{cls:14s} {tried[cls]:6d} {ok0[cls]:6d} {len(failures.get(cls, [])):6d}")
    lines.append(f"{'total':14s} {sum(tried.values()):6d} {sum(ok0.values()):6d} "
                 f"{sum(len(v) for v in failures.values()):6d}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ tests
CHEAP = [n for n in FORMULAS if n not in ("zeta_special", "bn_loss_excess", "optimal_gamma_ratio", "gen_error_gd")]


def test_fuzz_eval_subset():
    """Fast loop: every 40th case of the formulas without quadrature."""
    tried, ok0, failures = fuzz(CHEAP, limit=40)
    assert sum(tried.values()) > 400
    assert not failures, _report(tried, ok0, failures) + "\n" + "\n".join(sum(failures.values(), [])[:40])


@pytest.mark.fuzz
def test_fuzz_eval_all():
    """Every formula, every case of every class, except every 5th of the two big cross-product
    classes (`python tests/theory/test_fuzz_eval.py` runs them all)."""
    tried, ok0, failures = fuzz(thin={"pairs": 5, "choice_cross": 5})
    print("\n" + _report(tried, ok0, failures))
    assert set(tried) >= {"defaults", "extreme", "nonfinite", "malformed", "int_syntax", "choice_cross", "pairs",
                          "duplicate", "missing", "unknown"}
    assert not failures, _report(tried, ok0, failures) + "\n" + "\n".join(sum(failures.values(), [])[:60])


@pytest.mark.fuzz
@pytest.mark.parametrize("argv", [
    ["eval", "simple_error", "--json", "M=32"],
    ["eval", "simple_error", "M=1e308"],
    ["eval", "gen_error_sgd", "alpha=1", "--json"],
    ["eval", "batch_mean_var", "M=2", "sigma=1e308"],
    ["eval", "bn_shrinkage"],
])
def test_fuzz_eval_subprocess(argv):
    p = subprocess.run([sys.executable, "-m", "bnreg", *argv], capture_output=True, text=True, timeout=120)
    assert check(argv[1] if argv[1] != "--json" else argv[2], argv, p.returncode, p.stdout, p.stderr) is None, \
        (p.returncode, p.stdout, p.stderr)


# ------------------------------------------------------------------ the classes, by name
@pytest.mark.parametrize("name", list(FORMULAS))
def test_every_advertised_default_works_and_is_the_default(name):
    """Only the required parameters; then each optional one at its advertised default, explicitly:
    the same finite value (bn_shrinkage with its advertised M=32 raised TypeError)."""
    from bnreg.theory.catalog import evaluate

    f = FORMULAS[name]
    v0 = evaluate(name, **base(f))
    assert math.isfinite(v0)
    for p in f.params:
        if not p.required and p.default is not None:
            assert evaluate(name, **base(f), **{p.name: p.default}) == v0, p.name


@pytest.mark.parametrize("name", list(FORMULAS))
def test_every_parameter_reaches_the_function_with_its_default(name):
    """A parameter the function does not take is silently dropped (zeta_special ignored family=):
    every registered parameter is an argument of the function, with the same default, except
    `family`, which fills the moments rho, skew, m5, m6 when the function has no family argument."""
    import inspect

    f = FORMULAS[name]
    sig = inspect.signature(f.func).parameters
    for p in f.params:
        if p.name == "family" and "family" not in sig:
            assert {"rho"} <= set(sig), name
            continue
        assert p.name in sig, (name, p.name)
        d = sig[p.name].default
        if d is not inspect.Parameter.empty:
            assert d == p.default, (name, p.name, d, p.default)


def test_family_changes_the_gamma_decay_values():
    from bnreg.theory import gamma_decay as G
    from bnreg.theory.catalog import evaluate

    for fam in ("laplace", "exponential"):
        v = evaluate("zeta_special", case="identity", M=32, family=fam)
        assert v == G.zeta_special("identity", 32, family=fam) != evaluate("zeta_special", case="identity", M=32)


ISSUE = [  # (argv, exit code, needle in stdout or stderr)
    (["eval", "simple_error", "M=1000000000", "exact=true"], 0, "1.5000000004375e-09"),
    (["eval", "gen_error_ridge", "alpha=0.5", "lam=1e-10"], 0, "0.7499999998"),
    (["eval", "gen_error_wn", "alpha=0.5", "zeta=1e-10"], 0, "0.7499999999"),
    (["eval", "simple_error", "M=2", "family=exponential", "order=2"], 2, "impossible"),
    (["eval", "simple_error", "M=1e308"], 2, "M must be an integer"),
    (["eval", "batch_mean_var", "M=2", "sigma=1e308"], 2, "sigma"),
    (["eval", "zeta_special", "case=poisson", "M=32", "beta=1e300"], 2, "beta"),
    (["eval", "optimal_gamma_ratio", "case=identity", "M=32", "gamma0=5e-324"], 2, "gamma0"),
    (["eval", "bn_shrinkage"], 0, "0.976346760379434"),
    (["eval", "simple_error", "M=32", "M=3"], 2, "M is given twice"),
    (["eval", "simple_error", "--json", "M=32"], 0, '"value": 0.046875'),
    (["eval", "--json", "simple_error", "M=32"], 0, '"value": 0.046875'),
    (["eval", "simple_error", "M=32", "--json", "exact=true"], 0, '"exact": "true"'),
    (["eval", "gen_error_sgd", "alpha=1", "--json"], 0, '"value": null, "divergent": true'),
    (["eval", "gen_error_sgd", "alpha=1.0000000000000002", "delta2=1e300"], 2, "no finite value"),
    (["eval", "gen_error_sgd_exact", "N=10", "P=11"], 0, "inf"),
    (["eval", "batch_std_var", "M=32", "skew=3"], 2, "skew^2 <= rho + 2"),
    # training practice (never fuzzed before): an integer cap, sigma^4's cap, values that were NaN, 0 or
    # six orders of magnitude off
    (["eval", "running_mean_var", "M=1" + "0" * 30], 2, "M must satisfy 2 <= M <= 1e+15"),
    (["eval", "running_var_var", "M=32", "sigma=1e100"], 2, "sigma must satisfy 0 < sigma <= 1e+75"),
    (["eval", "lasso_orthonormal_risk", "lam=0.1", "w_star=-1e100", "sigma=1e-300"], 0, "0.010000000000000002"),
    (["eval", "sgd_excess_loss", "lr=5e-324", "M=1000000000000000", "trace_sigma=1e300"], 0, "1.23516411460"),
    (["eval", "relu_dead_fraction", "c=0.001", "batch=1000"], 0, "2.88155101293"),
    (["eval", "init_backward_r", "init=standard", "depth=1000"], 2, "no finite value"),
    (["verify", "--only", ""], 2, "--only"),
    (["verify", "--only", ","], 2, "--only"),
    (["verify", "--threads", "0", "--only", "simple_error"], 2, "1 <= threads"),
    (["verify", "--threads", "-1", "--only", "simple_error"], 2, "1 <= threads"),
]


@pytest.mark.parametrize("argv, rc, needle", ISSUE, ids=[" ".join(a) for a, _, _ in ISSUE])
def test_issue_cases(argv, rc, needle):
    got, out, err = run_main(argv)
    assert got == rc, (out, err)
    assert needle in (out if rc == 0 else err), (out, err)
    if argv[0] == "eval":
        assert check(argv[1] if argv[1] != "--json" else argv[2], argv, got, out, err) is None
    else:
        assert len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("value", ["abc", "0", "-1", "2.5", "1e308"])
def test_bnreg_threads_invalid_is_one_line_exit_2(monkeypatch, value):
    from bnreg.params import ParameterError
    from bnreg.runtime import threads as mc

    monkeypatch.setenv("BNREG_THREADS", value)
    with pytest.raises(ParameterError, match="BNREG_THREADS"):
        mc.get_threads()
    monkeypatch.setenv("BNREG_THREADS", " 3 ")
    assert mc.get_threads() == 3


@pytest.mark.processes
def test_bnreg_threads_invalid_through_the_cli():
    import os

    p = subprocess.run([sys.executable, "-m", "bnreg", "verify", "--quick", "--only", "sample_mean_corr"],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "BNREG_THREADS": "abc"})
    assert p.returncode == 2 and p.stderr.splitlines() == [
        "bnreg: error: BNREG_THREADS must be an integer, "
        f"1 <= BNREG_THREADS <= {8 * (os.cpu_count() or 1)} (got 'abc')"], p.stderr


if __name__ == "__main__":  # pragma: no cover - the closing note's counts
    t, o, fl = fuzz(sys.argv[1:] or None)
    print(_report(t, o, fl))
    for cls, msgs in sorted(fl.items()):
        print(f"\n== {cls}: {len(msgs)}")
        print("\n".join(msgs))
