"""`python -m fal_platform.emulator [options]`: run the local fal-compatible server.

Every EmulatorConfig field is a flag (`queue_wait` -> `--queue-wait`; booleans also take
`--no-...`; lists are comma-separated). Unset flags fall back to FAL_EMULATOR_<NAME> in the
environment, then to the defaults; pydantic-settings does the layering (`EmulatorSettings` in
config.py). `add_arguments`/`run_from_args` let another CLI mount the same options as a
subcommand (`fal-platform emulator`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_settings import CliSettingsSource

from fal_platform.emulator.config import ENV_PREFIX, EmulatorConfig, EmulatorSettings
from fal_platform.emulator.server import serve

ENV_HELP = (
    f"Each option can also be set as {ENV_PREFIX}<NAME> in the environment; "
    "a flag wins over the environment, which wins over the default."
)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """One flag per EmulatorConfig field, added to `parser` (its help is the field description)."""
    CliSettingsSource(EmulatorSettings, root_parser=parser)
    parser.epilog = ENV_HELP
    return parser


def build_parser(prog: str | None = "python -m fal_platform.emulator") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Local fal-compatible emulator (queue, platform API, media)."
    )
    return add_arguments(parser)


def config_from_args(namespace: argparse.Namespace) -> EmulatorConfig:
    """The flags in `namespace` over the FAL_EMULATOR_* environment over the defaults."""
    flags: CliSettingsSource[EmulatorSettings] = CliSettingsSource(
        EmulatorSettings, root_parser=argparse.ArgumentParser()
    )
    # `_cli_settings_source` is BaseSettings' documented way in; mypy only sees the fields.
    settings = EmulatorSettings(_cli_settings_source=flags(parsed_args=namespace))  # type: ignore[call-arg]
    return settings.options()


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
