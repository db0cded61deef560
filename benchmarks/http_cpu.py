"""Client CPU per HTTP request for the transports issue 11 asks about (run by hand).

    python -m benchmarks.http_cpu [--requests 6000] [--concurrency 64]

Against a fresh emulator: `concurrency` tasks each poll the status of their own queued request
through `FalClient` until `requests` status calls are done; the process CPU (user + system)
divided by the calls is the client's cost of one request. Variants: the current pools, a
smaller and a larger request pool (httpx's own httpcore transport), and httpx over aiohttp
(`FalClient`'s default, and the `httpx-aiohttp` library's transport as it is).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable

import httpx
from httpx_aiohttp import AiohttpTransport

from fal_platform.client import ClientSettings, FalClient
from fal_platform.client.aiohttp_transport import pooled_transport
from fal_platform.devstack.emulator_process import EmulatorProcess

Transport = Callable[[int], httpx.AsyncBaseTransport]


def _httpcore(connections: int) -> httpx.AsyncBaseTransport:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncHTTPTransport(limits=limits)


def _variants() -> dict[str, tuple[int, Transport]]:
    variants: dict[str, tuple[int, Transport]] = {
        "httpx (httpcore) pool 32": (32, _httpcore),
        "httpx (httpcore) pool 128": (128, _httpcore),
        "httpx (httpcore) pool 8": (8, _httpcore),
        "httpx-aiohttp, errors remapped (FalClient default) pool 32": (32, pooled_transport),
    }

    def aiohttp_transport(connections: int) -> httpx.AsyncBaseTransport:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return AiohttpTransport(limits=limits)

    variants["httpx-aiohttp (library as is) pool 128"] = (128, aiohttp_transport)
    variants["httpx-aiohttp (library as is) pool 32"] = (32, aiohttp_transport)
    return variants


async def _measure(
    url: str, connections: int, transport: Transport, args: argparse.Namespace
) -> float:
    settings = ClientSettings.for_emulator(url, max_request_connections=connections)
    async with FalClient(settings, transport=transport(connections)) as client:
        handles = await asyncio.gather(
            *(
                client.queue.submit("fal-ai/flux/schnell", {"prompt": f"cpu {i}"})
                for i in range(args.concurrency)
            )
        )
        left = args.requests

        async def poll(handle: object) -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await client.queue.status(handle)  # type: ignore[arg-type]

        start = time.process_time()
        await asyncio.gather(*(poll(handle) for handle in handles))
        return (time.process_time() - start) * 1000 / args.requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    with EmulatorProcess(models=20, queue_wait=3600.0, queue_wait_jitter=0.0) as emulator:
        results = {
            name: round(asyncio.run(_measure(emulator.url, n, transport, args)), 3)
            for name, (n, transport) in _variants().items()
        }
    print(json.dumps({"cpu_ms_per_request": results, **vars(args)}, indent=1))


if __name__ == "__main__":
    main()
