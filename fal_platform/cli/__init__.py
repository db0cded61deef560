"""`fal-platform`: the command line. Each subcommand lives in its own module; this file only routes."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from pathlib import Path

from fal_platform.cli.run_batch import add_arguments as add_run_batch_arguments
from fal_platform.cli.run_batch import run_from_args as run_batch_from_args
from fal_platform.devstack.dev import add_arguments as add_dev_arguments
from fal_platform.devstack.dev import run_from_args as dev_from_args
from fal_platform.emulator.__main__ import add_arguments as add_emulator_arguments
from fal_platform.emulator.__main__ import run_from_args as emulator_from_args
from fal_platform.webhooks.server import add_arguments as add_webhooks_arguments
from fal_platform.webhooks.server import run_from_args as webhooks_from_args


@functools.cache
def build_parser() -> argparse.ArgumentParser:
    """Built once per process (~0.1 s: the emulator's options come from its pydantic settings);
    parsing does not change it, so a script or test that calls `main` again reuses it."""
    parser = argparse.ArgumentParser(
        prog="fal-platform",
        description="Run generative-media batches on fal.ai as Dagster assets.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    emulator = sub.add_parser(
        "emulator",
        help="Serve the local fal-compatible emulator.",
        description="Local fal-compatible emulator (queue, platform API, media) on one port.",
    )
    add_emulator_arguments(emulator)
    emulator.set_defaults(subparser=emulator)  # option errors are reported against its usage
    demo = sub.add_parser(
        "demo",
        help="The main job on a local emulator: catalog, every prompt set, media, stats.",
    )
    demo.add_argument(
        "--data-dir", type=Path, default=None, help="default: FAL_PLATFORM_DATA_DIR or data/"
    )
    demo.add_argument(
        "--prompts", type=Path, default=None, help="default: FAL_PLATFORM_PROMPTS_DIR or prompts/"
    )
    run_batch = sub.add_parser(
        "run-batch", help="Run one prompt set through fal's queue without Dagster."
    )
    add_run_batch_arguments(run_batch)
    dev = sub.add_parser("dev", help="Start the fal emulator and the Dagster UI (dg dev).")
    add_dev_arguments(dev)
    webhooks = sub.add_parser(
        "webhooks", help="Receive fal's webhooks (signature-checked) into the batch store."
    )
    add_webhooks_arguments(webhooks)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "emulator":
        return emulator_from_args(args.subparser, args)
    if args.command == "demo":
        from fal_platform.devstack.demo import run_demo

        return run_demo(args.data_dir, args.prompts)
    if args.command == "run-batch":
        return run_batch_from_args(args)
    if args.command == "dev":
        return dev_from_args(args)
    if args.command == "webhooks":
        return webhooks_from_args(args)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
