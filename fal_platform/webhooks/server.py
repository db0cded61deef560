"""`fal-platform webhooks --host --port [--db PATH] [--jwks-url URL]`: the receiver under uvicorn.

The JWKS URL defaults to `FAL_PLATFORM_WEBHOOK_JWKS_URL`, else fal's published one; `--db` is
the platform's DuckDB file the runs use (else `FAL_PLATFORM_DUCKDB`, else
data/fal_platform.duckdb), and deliveries go to the inbox beside it (`inbox.py` says why). Real fal must reach this process: put an ingress or a tunnel in
front of it and give the engine that public URL (README, "Webhooks").
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import uvicorn

from fal_platform.paths import DataPaths
from fal_platform.store.target import StoreTarget
from fal_platform.webhooks.inbox import WebhookInbox, inbox_path
from fal_platform.webhooks.jwks import FAL_JWKS_URL
from fal_platform.webhooks.receiver import WEBHOOK_PATH, Receiver, create_receiver_app

ENV_JWKS_URL = "FAL_PLATFORM_WEBHOOK_JWKS_URL"
DEFAULT_PORT = 8788


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="Interface to bind.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port to bind.")
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="The platform's DuckDB file (default: FAL_PLATFORM_DUCKDB, else "
        "data/fal_platform.duckdb); deliveries go to the inbox file beside it.",
    )
    parser.add_argument(
        "--jwks-url",
        default=None,
        help=f"fal's webhook keys (default: {ENV_JWKS_URL}, else {FAL_JWKS_URL}).",
    )
    parser.add_argument(
        "--min-refetch-seconds",
        type=float,
        default=30.0,
        help="Least time between two JWKS fetches caused by unknown signatures.",
    )
    parser.add_argument("--log-level", default="warning")


def jwks_url_from(environ: Mapping[str, str], flag: str | None) -> str:
    return flag or environ.get(ENV_JWKS_URL) or FAL_JWKS_URL


def run_from_args(args: argparse.Namespace) -> int:
    paths = DataPaths.from_env(os.environ)
    # FAL_PLATFORM_DATABASE_URL set: the inbox is in that database, beside the other tables.
    store = StoreTarget.from_url(paths.database_url, args.db or paths.duckdb)
    jwks_url = jwks_url_from(os.environ, args.jwks_url)
    receiver = Receiver(
        WebhookInbox.of(store),
        jwks_url,
        min_refetch_seconds=args.min_refetch_seconds,
    )
    print(
        f"fal webhook receiver on http://{args.host}:{args.port}{WEBHOOK_PATH} "
        f"(inbox {_inbox_place(store)}, keys from {jwks_url})",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        create_receiver_app(receiver),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=2,
        backlog=4096,
    )
    return 0


def _inbox_place(store: StoreTarget) -> str:
    """Where the inbox is, for the start-up line (never a password)."""
    return store.describe() if store.postgres is not None else str(inbox_path(store.duckdb_path))
