"""Run the BN-kernel throughput benchmark: `python benchmarks/run.py [--quick] [--json FILE]`."""

from __future__ import annotations

import argparse
import json

from bnreg.sims.benchmark import format_benchmark, run_benchmark


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="~0.3 s per measurement instead of ~2 s")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    args = p.parse_args(argv)
    result = run_benchmark(quick=args.quick)
    print(format_benchmark(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
