"""`bnreg`: the thin command line, its commands and its entry point: parse, call the library, report.

Bad input exits 2 with a one-line message naming the parameter and its allowed range (the
argument conventions: bnreg/cli_args.py)."""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
from collections.abc import Sequence

from bnreg.bench import SUITES
from bnreg.errors import BnregError, ParameterError
from bnreg.runtime import check_output_file, check_writable, write_json

from .cli_args import SCALE_HELP, SEED_HELP_CHECKS, Parser, add_scale, check_seed, only_patterns, scale_of
from .cli_errors import check_library_environment, refuse_small_address_space, report_failure, survive_any_encoding

# What an interrupt leaves behind, set by each command before its long work (told truthfully).
_INTERRUPT = ["bnreg: interrupted"]

def cmd_formulas(args: argparse.Namespace) -> int:
    from bnreg.evidence import records
    from bnreg.theory.catalog import FORMULAS, get_formula

    if args.name is not None:  # the whole evidence record of one formula
        get_formula(args.name)  # unknown names: one line naming the known ones, exit 2
    recs = records()
    if args.name is not None:
        f, r = FORMULAS[args.name], recs[args.name]
        if args.json:
            print(json.dumps(_formula_dict(f, r), indent=1))
        else:
            print("\n".join([f"{f.name}: {f.summary}", f"  formula:    {f.formula}", *r.lines()[1:]]))
        return 0
    if args.json:
        print(json.dumps([_formula_dict(f, recs[f.name]) for f in FORMULAS.values()], indent=1))
        return 0
    for f in FORMULAS.values():
        params = ", ".join(f"{p.name}{'' if p.required else '=' + str(p.default)} [{p.range_text()}]"
                           for p in f.params)
        print(f"{f.name}\n  {f.summary}\n  topic:     {recs[f.name].topic}\n  formula:   {f.formula}\n"
              f"  params:    {params}\n  reference: {f.reference}\n  evidence:  {recs[f.name].compact()}\n")
    print("evidence: origin | twin = numeric function tested against the SymPy expression | mc = Monte-Carlo checks "
          "with power | mpmath = extreme parameters against mpmath | shown = figure/demo; "
          "'*' = missing, with a stated reason: `bnreg formulas NAME` shows the whole record")
    return 0


def _formula_dict(f, r) -> dict:
    return {"name": f.name, "topic": r.topic, "formula": f.formula, "reference": f.reference, "summary": f.summary,
            "params": [{"name": p.name, "kind": p.kind, "default": p.default, "range": p.range_text(),
                        "doc": p.doc} for p in f.params],
            "evidence": r.to_dict()}


def cmd_eval(args: argparse.Namespace) -> int:
    from bnreg.theory.catalog import evaluate_detail

    kw: dict[str, str] = {}
    for item in args.params:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ParameterError(f"parameters are key=value (got {item!r})")
        if key in kw:
            raise ParameterError(f"{key} is given twice ({key}={kw[key]} and {item}); give each parameter once")
        kw[key] = value
    res = evaluate_detail(args.name, **kw)
    if res.divergent:  # infinite by nature: JSON null with the reason (NaN/Infinity are not JSON)
        if args.json:
            print(json.dumps({"name": args.name, "params": kw, "value": None, "divergent": True,
                              "reason": res.divergent}))
        else:
            print("inf")
            print(f"bnreg: note: {args.name} diverges here: {res.divergent}", file=sys.stderr)
        return 0
    print(json.dumps({"name": args.name, "params": kw, "value": res.value}, allow_nan=False) if args.json
          else repr(res.value))
    return 0


def cmd_derive(args: argparse.Namespace) -> int:
    from bnreg.theory.derivations import DERIVATIONS, show
    from bnreg.topics import TOPICS

    if args.name in (None, "list"):  # by topic, in the manifest's order
        for t in TOPICS:
            if t.derivations:
                print(f"{t.name} ({t.doc})")
                for name in t.derivations:
                    print(f"  {name:28s} {DERIVATIONS[name][1]}")
        return 0
    print(show(args.name, latex=args.latex))
    return 0


def _print_table(r: object) -> None:
    from bnreg.testing.report import format_check

    print(format_check(r), flush=True)


def cmd_verify(args: argparse.Namespace) -> int:
    from bnreg.evidence import coverage_of_run
    from bnreg.runtime import resolve_backend, resolve_parallelism
    from bnreg.sims.catalog import select_checks
    from bnreg.testing.report import summary_line
    from bnreg.testing.runner import run_suite

    # validated before any work; in-process by default (--workers or --backend dask spread each
    # check's points over processes or a Dask cluster)
    resolve_parallelism(1 if args.workers is None else args.workers, args.threads)
    resolve_backend(args.backend, 1 if args.workers is None else args.workers)
    checks = select_checks(args.only, "--only")
    if not checks:
        raise ParameterError(f"--only {args.only!r} matches no check; see `bnreg verify --list`")
    scale = scale_of(args)
    if args.seed is not None:
        check_seed(args.seed)
    if args.json is not None:
        check_output_file(args.json, "--json")  # before any work
    if args.list:
        for c in checks:
            print(f"{c.name:32s} {c.claim}")
        return 0
    _INTERRUPT[0] = "bnreg: interrupted (verify keeps no partial results; re-run it)"
    results = run_suite(checks, scale, seed=args.seed, threads=args.threads, workers=args.workers,
                        backend=args.backend, address=args.address, on_result=_print_table)
    print(summary_line(results))
    cov = coverage_of_run(results)
    print(cov["line"] + ("" if args.only is None else " (this run: the --only selection)"))
    if args.json is not None:
        write_json(args.json, {"scale": scale, "seed": args.seed, "checks": [r.to_dict() for r in results],
                               "coverage": cov})
    return 0 if all(r.passed for r in results) else 1


def cmd_check(args: argparse.Namespace) -> int:
    """`bnreg check PATH.py`: run the checks the file declares (bnreg.testing; docs/testing.md) and
    print the table of `bnreg verify`; exit 1 if one fails, 2 on bad input."""
    from bnreg.runtime import resolve_parallelism
    from bnreg.testing.load import load_checks
    from bnreg.testing.report import summary_line
    from bnreg.testing.runner import run_suite

    scale = scale_of(args)
    resolve_parallelism(1, args.threads)  # validated before any work
    if args.json is not None:
        check_output_file(args.json, "--json")
    _INTERRUPT[0] = "bnreg: interrupted (check keeps no partial results; re-run it)"
    # the file is loaded under the run's settings: its check_formula calls run when it is imported
    results = run_suite(lambda: load_checks(args.path), scale, seed=args.seed, threads=args.threads,
                        on_result=_print_table)
    print(summary_line(results, "check"))
    if args.json is not None:
        write_json(args.json, {"scale": scale, "seed": args.seed, "checks": [r.to_dict() for r in results]})
    return 0 if all(r.passed for r in results) else 1


def cmd_figures(args: argparse.Namespace) -> int:
    from bnreg.figures import FIGURE_MODULES
    from bnreg.figures.run import figure_module, make_figures
    from bnreg.runtime import resolve_backend, resolve_parallelism

    names = args.names or ["all"]
    if names == ["list"]:
        width = max(map(len, FIGURE_MODULES))
        for n in FIGURE_MODULES:
            print(f"{n:{width}s}  {figure_module(n).TITLE}")
        return 0
    if "all" in names:
        names = list(FIGURE_MODULES)
    for n in names:
        figure_module(n)  # validate every name before any work
    scale = scale_of(args)
    check_seed(args.seed)
    # validated before any work (make_figure picks each figure's default); oversubscription warns once
    resolve_backend(args.backend, 1 if args.workers is None else max(1, args.workers))
    resolve_parallelism(args.workers, args.threads)
    check_writable(args.out, "--out")
    _INTERRUPT[0] = ("bnreg: interrupted (finished points are cached under --out; re-run the same command to "
                     "resume" + (", without --force" if args.force else "") + ")")
    def report(r: dict) -> None:
        extra = f" in {r['elapsed_s']:.1f} s" if "elapsed_s" in r else ""
        if "worker_cpu_s" in r:  # shared pool: the CPU its points and plot took in the workers
            extra += f" (worker CPU {r['worker_cpu_s']:.1f} s)"
        print(f"{r['name']}: {r['status']}{extra} -> {', '.join(r['files'])}", flush=True)

    make_figures(names, scale, args.out, force=args.force, seed=args.seed, workers=args.workers, threads=args.threads,
                 backend=args.backend, address=args.address, report=report)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import platform

    from bnreg import __version__
    from bnreg.bench import SUITES, suite_module

    names = list(SUITES) if args.suite in (None, "all") else [args.suite]
    mods = {n: suite_module(n) for n in names}  # validated before any work
    if args.json is not None:
        check_output_file(args.json, "--json")
    _INTERRUPT[0] = "bnreg: interrupted (benchmarks keep no partial results)"
    report: dict = {"bnreg": __version__, "quick": args.quick, "machine": {
        "python": platform.python_version(), "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(), "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None},
        "suites": {}}
    for n, mod in mods.items():
        res = mod.run_benchmark(quick=args.quick)
        report["suites"][n] = res
        print(mod.format_benchmark(res), flush=True)
    if args.json is not None:
        write_json(args.json, report if len(names) > 1 else report["suites"][names[0]])
    return 0


def cmd_cnn(args: argparse.Namespace) -> int:
    """`bnreg cnn key=value ... [options]`: train one `CNNConfig` (docs/cnn.md, "Setup"); print the
    final metrics, write them as JSON with --out.  Returns the exit code: 0, or 1 if the run
    diverged (bad input raises ParameterError: exit 2)."""
    from bnreg.sims.nn.config import config_from_strings
    from bnreg.sims.nn.train import train

    kv: dict[str, str] = {}
    for item in args.params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ParameterError(f"config items are key=value (got {item!r}); e.g. norm=bn batch=64")
        if key in kv:
            raise ParameterError(f"{key} is given twice ({key}={kv[key]} and {item}); give each field once")
        kv[key] = value
    if args.data_dir is not None:
        kv["data_dir"] = args.data_dir
    if args.seed is not None:  # --seed is the config's seed field (the seed rule: docs/verification.md)
        if "seed" in kv:
            raise ParameterError(f"--seed {args.seed} and seed={kv['seed']} both give the seed; give it once")
        kv["seed"] = str(args.seed)
    if args.threads is not None and args.threads < 1:
        raise ParameterError(f"--threads must satisfy threads >= 1 (got {args.threads})")
    cfg = config_from_strings(kv)
    if args.out is not None:
        check_output_file(args.out, "--out")  # before any work
    if args.checkpoint_dir is not None:
        check_writable(args.checkpoint_dir, "--checkpoint-dir")
    _INTERRUPT[0] = ("bnreg: interrupted (the last checkpoint in --checkpoint-dir is kept; re-run the same "
                     "command to resume)" if args.checkpoint_dir else
                     "bnreg: interrupted (nothing was saved: give --checkpoint-dir DIR to make a run resumable)")
    r = train(cfg, progress=not args.no_progress, checkpoint_dir=args.checkpoint_dir, threads=args.threads)
    f = r["final"]
    print(f"config: {' '.join(f'{k}={v}' for k, v in r['config'].items())}")
    print(f"data: {cfg.dataset} n_train={r['n_train']} n_val={r['n_val']} steps={r['steps']} "
          f"wall={r['wall_time_s']:.1f}s")
    if r["diverged"]:
        print(r["message"])
    else:
        print(f"train loss {f['train_loss']:.4f} acc {f['train_acc']:.4f} | val loss {f['val_loss']:.4f} "
              f"acc {f['val_acc']:.4f} | gap (val - train loss) {f['gap']:.4f}")
        if f["gamma2"]:
            print("gamma^2: " + " ".join(f"{k}={v:.4f}" for k, v in f["gamma2"].items()))
    if args.out is not None:
        write_json(args.out, r)
    return 1 if r["diverged"] else 0


def _cli_text(value: object) -> str:
    """A value as `bnreg cnn` spells it: none, true/false, comma-separated lists."""
    if isinstance(value, (tuple, list)):
        return ",".join(map(_cli_text, value)) or "none"
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _cnn_fields_help() -> str:
    """The epilog of `bnreg cnn --help`: the declaration table of CNNConfig rendered, one field
    (key=default, doc) and its range per two lines."""
    from bnreg.sims.nn.config import CNN_FIELDS

    keys = [f"{p.name}={_cli_text(p.default)}" for p in CNN_FIELDS]
    w = max(map(len, keys))
    lines = ["config fields (key=DEFAULT, what it sets; then the allowed values):"]
    for key, p in zip(keys, CNN_FIELDS, strict=True):
        lines += [f"  {key:{w}}  {p.doc}", f"  {'':{w}}  range: {p.range_text()}"]
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    """`bnreg demo [list | NAME] [--save DIR | --no-save] [--quick] [--notebook DIR]`: list the demos,
    run one (prints its key numbers, saves NAME.png/.pdf/.csv/.json) or write it as a notebook."""
    from bnreg.demos import DEMOS, demo_module, run_demo

    if args.name in (None, "list"):
        width = max(map(len, DEMOS))
        for n, doc in DEMOS.items():
            print(f"{n:{width}s}  {doc}")
        return 0
    demo_module(args.name)  # validate the name before any work
    check_seed(args.seed)
    if args.notebook is not None:
        from bnreg.demos.notebook import write_notebook

        print(f"{args.name}: notebook -> {write_notebook(args.name, args.notebook, seed=args.seed)}")
        return 0
    if not args.no_save:
        check_writable(args.save, "--save")  # before any work
    run_demo(args.name, save=None if args.no_save else args.save, quick=args.quick, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="bnreg", description="Regularization by batch normalization and dropout: "
                "derivations, Monte Carlo checks and figures.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    s = sub.add_parser("formulas", help="list every registered formula with its evidence; "
                       "bnreg formulas NAME: the whole evidence record of one")
    s.add_argument("name", nargs="?", default=None, help="a registered formula: show its whole evidence record")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_formulas)
    s = sub.add_parser("eval", help="evaluate one formula: bnreg eval NAME key=value ...")
    s.add_argument("name")
    s.add_argument("params", nargs="*")
    s.add_argument("--json", action="store_true")
    s.intermixed = True
    s.set_defaults(func=cmd_eval)
    s = sub.add_parser("derive", help="print a SymPy derivation step by step")
    s.add_argument("name", nargs="?")
    s.add_argument("--latex", action="store_true")
    s.set_defaults(func=cmd_derive)
    s = sub.add_parser("verify", help="run the formula-vs-Monte-Carlo checks (" + SCALE_HELP + ")")
    add_scale(s)
    s.add_argument("--only", type=only_patterns, help="a topic (e.g. dropout), or a glob or substring of check names "
                   "(comma-separated)")
    s.add_argument("--json", help="write the full results to this file")
    s.add_argument("--threads", type=int, default=None,
                   help="Monte Carlo / numba / BLAS threads (default: BNREG_THREADS or all cores)")
    s.add_argument("--workers", type=int, default=None, help="processes for the checks' points (default 1)")
    s.add_argument("--backend", default=None, choices=("serial", "processes", "dask"),
                   help="where the points run (dask: --address of a scheduler, or a local cluster)")
    s.add_argument("--address", default=None, help="Dask scheduler address, e.g. tcp://host:8786")
    s.add_argument("--list", action="store_true", help="list the checks and exit")
    s.add_argument("--seed", type=int, default=None, help=SEED_HELP_CHECKS)
    s.set_defaults(func=cmd_verify)
    s = sub.add_parser("check", help="run the formula checks a Python file declares (bnreg.testing; "
                       "docs/testing.md) and print the verify table (" + SCALE_HELP + ")")
    s.add_argument("path", help="a .py file with module-level formula_check(...) objects or check_formula results")
    s.add_argument("--seed", type=int, default=None, help=SEED_HELP_CHECKS)
    add_scale(s)
    s.add_argument("--json", help="write the full results to this file")
    s.add_argument("--threads", type=int, default=None,
                   help="Monte Carlo / numba / BLAS threads (default: BNREG_THREADS or all cores)")
    s.set_defaults(func=cmd_check)
    s = sub.add_parser("figures", help="regenerate figures: list | NAME... | all (" + SCALE_HELP + ")")
    s.add_argument("names", nargs="*", help="figures to make (`bnreg figures list`), or all (the default)")
    add_scale(s)
    s.add_argument("--workers", type=int, default=None,
                   help="processes for the sweep points and plots, shared by all the figures of the run (default: one "
                   "per core; 1: one figure after another, each as `bnreg figures NAME` alone)")
    s.add_argument("--threads", type=int, default=None,
                   help="Monte Carlo / numba / BLAS threads in each worker (default: cores // workers; "
                   "workers x threads above the cores needs both options)")
    s.add_argument("--out", default="bnreg-figures", help="output directory (default: bnreg-figures)")
    s.add_argument("--force", action="store_true", help="recompute, ignoring outputs and cache")
    s.add_argument("--seed", type=int, default=2019,
                   help="the run's seed (default 2019; docs/verification.md, 'Seeds')")
    s.add_argument("--backend", default=None, choices=("serial", "processes", "dask"),
                   help="where sweep points run (default: serial for 1 worker, "
                   "else processes; dask: --address of a scheduler, or a local cluster of --workers processes)")
    s.add_argument("--address", default=None, help="Dask scheduler address, e.g. tcp://host:8786")
    s.set_defaults(func=cmd_figures)
    s = sub.add_parser("bench", help="benchmarks, as ratios against a baseline measured in the same run: "
                       + " | ".join(SUITES))
    s.add_argument("suite", nargs="?", default="all", help="which suite (default: all, one report)")
    s.add_argument("--quick", action="store_true", help="small sizes and few repeats (seconds; CI)")
    s.add_argument("--json", help="write results to this file")
    s.set_defaults(func=cmd_bench)
    s = sub.add_parser("cnn", help="train one CNN config (Luo et al. 2019, arXiv:1809.00846, §5): bnreg cnn "
                       "norm=bn batch=64 ... [--out metrics.json]; keys: the fields of sims.nn.config.CNNConfig "
                       "(bnreg cnn --help lists them)", formatter_class=argparse.RawDescriptionHelpFormatter)
    s.epilog_from = _cnn_fields_help
    s.add_argument("params", nargs="*", help="key=value, e.g. dataset=mnist1d norm=pn widths=16,16,32,32")
    s.add_argument("--out", help="write the metrics (curves, final, gamma^2, diverged) as JSON")
    s.add_argument("--data-dir", default=None, help="CIFAR-10 binary directory (dataset=cifar10)")
    s.add_argument("--checkpoint-dir", default=None, help="checkpoint here; an interrupted run resumes")
    s.add_argument("--threads", type=int, default=1, help="numba/BLAS threads (default 1)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--seed", type=int, default=None,
                   help="the run's seed: the config's seed field (default 0; the data split has its own, split_seed)")
    s.intermixed = True
    s.set_defaults(func=cmd_cnn)
    s = sub.add_parser("demo", help="classroom demos, declared per topic: list | NAME [--save DIR] [--quick] "
                       "[--notebook DIR]")
    s.add_argument("name", nargs="?", help="a demo (`bnreg demo list`)")
    s.add_argument("--save", default="bnreg-demos", help="directory for NAME.png/.pdf/.csv/.json (default bnreg-demos)")
    s.add_argument("--no-save", action="store_true", help="print the key numbers only")
    s.add_argument("--quick", action="store_true", help="a few seconds (smaller sizes)")
    s.add_argument("--notebook", metavar="DIR", help="write the demo as DIR/plot_NAME.ipynb instead of running it")
    s.add_argument("--seed", type=int, default=0, help="the run's seed (default 0; docs/verification.md, 'Seeds')")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    survive_any_encoding()  # LC_ALL=C: ± and § are escaped, not a UnicodeEncodeError
    if refuse_small_address_space():  # too small to load numpy & co: refused before importing them
        return 1
    code = check_library_environment()  # NUMBA_NUM_THREADS=0 would fail deep inside numba's import
    if code is not None:
        return code
    from bnreg.runtime.threads import check_environment, fit_memory_limit

    fit_memory_limit()  # under `ulimit -v`: threads must not each reserve a malloc arena (glibc aborts)
    stdout_closed = sys.stdout is None  # started with `>&-`: Python leaves sys.stdout None
    if stdout_closed:  # run anyway (a --json file is still written), then report the lost output
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    try:
        args = build_parser().parse_args(argv)
        check_environment()  # a bad BNREG_THREADS is refused by every command, before any work
        if getattr(args, "address", None) is not None and getattr(args, "backend", None) != "dask":
            raise ParameterError("--address is a Dask scheduler's: give it with --backend dask")
        code = int(args.func(args))
        sys.stdout.flush()  # a full or closed stdout is reported here, not at interpreter exit
        if stdout_closed:
            raise OSError(errno.EBADF, "standard output is closed")
        return code
    except KeyboardInterrupt:
        print(_INTERRUPT[0], file=sys.stderr)
        return 130
    except (BnregError, MemoryError, OSError, ImportError) as e:
        return report_failure(e)


def run() -> None:
    """The `bnreg` command (console script and `python -m bnreg`): exit with main()'s code.  Once
    main() has returned, the work is done and reported: a Ctrl-C during the interpreter's teardown
    is ignored, so it cannot turn a finished run into a silent death by SIGINT."""
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
