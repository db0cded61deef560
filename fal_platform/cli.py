"""`fal-platform`: the command line. Each subcommand lives in its own module; this file only routes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fal-platform",
        description="Run generative-media batches on fal.ai as Dagster assets.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    emulator = sub.add_parser(
        "emulator", help="Serve the local fal-compatible emulator.", add_help=False
    )
    emulator.add_argument("args", nargs=argparse.REMAINDER)
    smoke = sub.add_parser(
        "smoke", help="Start an emulator and send one request through the platform client."
    )
    smoke.add_argument("--endpoint", default="fal-ai/flux/schnell")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "emulator":
        from fal_platform.emulator.__main__ import main as emulator_main

        return emulator_main(args.args)
    if args.command == "smoke":
        from fal_platform.smoke import run_smoke

        return run_smoke(args.endpoint)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
