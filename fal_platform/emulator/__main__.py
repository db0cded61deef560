"""`python -m fal_platform.emulator [options]`: run the local fal-compatible server.

Every EmulatorConfig field is a flag (`queue_wait` -> `--queue-wait`; booleans also take
`--no-...`; lists are comma-separated). Unset flags fall back to FAL_EMULATOR_<NAME> in the
environment, then to the defaults. `add_arguments`/`config_from_args` let another CLI mount
the same options as a subcommand.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pydantic import SecretStr, ValidationError

from fal_platform.emulator.config import (
    ENV_PREFIX,
    EmulatorConfig,
    load_config,
    option_kind,
    parse_option_text,
)
from fal_platform.emulator.server import serve


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    for name, field in EmulatorConfig.model_fields.items():
        flag = "--" + name.replace("_", "-")
        default = field.get_default(call_default_factory=True)
        if isinstance(default, list):
            default = ",".join(default)
        shown = "unset" if default is None or isinstance(default, SecretStr) else default
        help_text = f"{field.description} [default: {shown}; env {ENV_PREFIX}{name.upper()}]"
        help_text = help_text.replace("%", "%%")
        if option_kind(name) == "bool":
            parser.add_argument(
                flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        else:
            parser.add_argument(flag, dest=name, default=None, metavar="VALUE", help=help_text)
    return parser


def build_parser(prog: str | None = "python -m fal_platform.emulator") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Local fal-compatible emulator (queue, platform API, media)."
    )
    return add_arguments(parser)


def config_from_args(namespace: argparse.Namespace) -> EmulatorConfig:
    given = {
        name: parse_option_text(name, value) if isinstance(value, str) else value
        for name, value in vars(namespace).items()
        if name in EmulatorConfig.model_fields and value is not None
    }
    return load_config(given)


def run_from_args(parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> int:
    """Serve with the parsed options (shared by this module and `fal-platform emulator`)."""
    try:
        config = config_from_args(namespace)
    except (ValidationError, ValueError) as error:
        parser.error(str(error))
    serve(config)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    return run_from_args(parser, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
