"""One TLS context per process, shared by every HTTP client fal-platform opens.

Building a verifying context loads certifi's CA bundle: ~40 ms of CPU each time. httpx and the
aiohttp transport build one per client or transport unless given one, and a run opens several
(two queue pools, storage, the emulator check), which made TLS set-up a large share of a short
batch's CPU (benchmarks/README.md, "Engine CPU"). An `ssl.SSLContext` may be shared by any
number of connections and threads.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """The verifying context httpx would build (certifi's CAs, `SSL_CERT_FILE` honoured)."""
    return httpx.create_ssl_context()
