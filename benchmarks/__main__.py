"""`python -m benchmarks [--size tiny|full] [--only NAME ...] [--out DIR]` (`make bench`).

Prints the markdown report and writes, under `--out` (default `benchmarks/results/`):
`latest.json` (every number of this run), `latest.md` (the report) and `throughput.png`
(items/s against concurrency). Exits 1 if a benchmark crashed (the others still run).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

from benchmarks.config import SIZES
from benchmarks.plot import throughput_chart
from benchmarks.report import render
from benchmarks.suite import BENCHMARKS, BenchResults, run_suite

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        help="Run only this benchmark (repeatable). Default: all of them.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Where results go.")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="Keep temp files here (default: a temp dir)."
    )
    return parser


def write_outputs(results: BenchResults, report: str, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "latest.json", out / "latest.md"]
    written[0].write_text(json.dumps(results.to_json(), indent=2) + "\n")
    written[1].write_text(report)
    if results.throughput is not None and results.throughput.rows:
        chart = out / "throughput.png"
        throughput_chart(results.throughput, chart)
        written.append(chart)
    return written


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # dlt warns about every column it cannot type in the plain rest_api load; not our news.
    logging.getLogger("dlt").setLevel(logging.ERROR)
    names = [name for name in BENCHMARKS if not args.only or name in args.only]
    config = SIZES[args.size]
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        results = run_suite(config, names, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="fal-bench-") as workdir:
            results = run_suite(config, names, Path(workdir))
    report = render(results)
    print(report)
    for path in write_outputs(results, report, args.out):
        print(f"wrote {path}", file=sys.stderr)
    return 1 if results.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
