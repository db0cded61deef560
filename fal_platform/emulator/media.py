"""Real media bytes for the URLs the emulator hands out: PNG, WAV and a stand-in MP4.

Everything a file needs is in its URL (size, colour, duration, video bytes per second), so the
media route is stateless and a restart does not break old URLs. Files are deterministic; the
image and audio builders are cached because a benchmark asks for the same few sizes over and
over, and videos (up to many MiB) are streamed in chunks instead.
"""

from __future__ import annotations

import io
import math
import struct
import wave
import zlib
from collections.abc import Iterator
from functools import lru_cache

PALETTE: tuple[str, ...] = (
    "e63946",
    "f1a208",
    "2a9d8f",
    "264653",
    "8ab17d",
    "e9c46a",
    "f4a261",
    "6d597a",
    "3a86ff",
    "8338ec",
    "ff006e",
    "06d6a0",
    "118ab2",
    "ef476f",
    "ffd166",
    "073b4c",
)
SAMPLE_RATE = 16_000
TONE_HZ = 400  # divides the sample rate, so one period tiles the whole file
MP4_BYTES_PER_SECOND = 8_000
MP4_CHUNK_BYTES = 256 * 1024  # a multiple of the 256-byte filler pattern


def parse_colour(text: str) -> tuple[int, int, int]:
    if len(text) != 6:
        raise ValueError("colour must be 6 hex digits")
    value = int(text, 16)
    return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def png_bytes(width: int, height: int, colour: str) -> bytes:
    """A valid PNG of exactly width x height in one colour: a 1-bit image with a one-entry
    palette. Its pixel data (all index 0) is the same for every colour, so it is compressed once
    per size (`_blank_pixels`); an 8-bit RGB image compressed per (size, colour) cost ~8 ms per
    new colour at 1024 x 768 (`PALETTE` has 16), and held up a fresh emulator's first results
    (benchmarks/README.md section 7, "Eighth round")."""
    palette = bytes(parse_colour(colour))
    header = struct.pack(">IIBBBBB", width, height, 1, 3, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", palette)
        + _chunk(b"IDAT", _blank_pixels(width, height))
        + _chunk(b"IEND", b"")
    )


@lru_cache(maxsize=128)
def _blank_pixels(width: int, height: int) -> bytes:
    """The zlib stream of `height` rows of `width` 1-bit pixels, all 0 (filter byte 0 each)."""
    row = bytes(1 + (width + 7) // 8)
    compressor = zlib.compressobj(6)
    rows_per_chunk = max(1, 262_144 // len(row))
    full, rest = divmod(height, rows_per_chunk)
    parts = [compressor.compress(row * rows_per_chunk) for _ in range(full)]
    parts.append(compressor.compress(row * rest))
    parts.append(compressor.flush())
    return b"".join(parts)


def wav_sample_count(duration_ms: int) -> int:
    return duration_ms * SAMPLE_RATE // 1000


def wav_size(duration_ms: int) -> int:
    return 44 + 2 * wav_sample_count(duration_ms)


@lru_cache(maxsize=1)
def _tone_period() -> bytes:
    samples = SAMPLE_RATE // TONE_HZ
    return b"".join(
        struct.pack("<h", int(6000 * math.sin(2 * math.pi * i / samples))) for i in range(samples)
    )


@lru_cache(maxsize=32)
def wav_bytes(duration_ms: int) -> bytes:
    """A valid RIFF/WAVE file: 16 kHz, mono, 16-bit PCM, a quiet 400 Hz tone."""
    count = wav_sample_count(duration_ms)
    period = _tone_period()
    per_period = len(period) // 2
    pcm = period * (count // per_period) + period[: 2 * (count % per_period)]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm)
    return buffer.getvalue()


def mp4_payload_size(duration_ms: int, bytes_per_second: int = MP4_BYTES_PER_SECOND) -> int:
    return duration_ms * bytes_per_second // 1000


def mp4_size(duration_ms: int, bytes_per_second: int = MP4_BYTES_PER_SECOND) -> int:
    return len(_FTYP) + 8 + mp4_payload_size(duration_ms, bytes_per_second)


_FTYP = struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 512) + b"isomiso2"
_FILLER = bytes(range(256)) * (MP4_CHUNK_BYTES // 256)


def mp4_chunks(duration_ms: int, bytes_per_second: int = MP4_BYTES_PER_SECOND) -> Iterator[bytes]:
    """An ISO-BMFF file (ftyp + mdat of filler) in chunks, never whole in memory: a video of
    many MiB costs one chunk. It is not playable: a stand-in whose size scales with the
    duration, so downloads and file_size checks behave like the real thing."""
    payload = mp4_payload_size(duration_ms, bytes_per_second)
    if 8 + payload > 0xFFFFFFFF:
        raise ValueError("mdat too large for a 32-bit box size")
    yield _FTYP + struct.pack(">I", 8 + payload) + b"mdat"
    full, rest = divmod(payload, MP4_CHUNK_BYTES)
    for _ in range(full):
        yield _FILLER
    if rest:
        yield _FILLER[:rest]


def mp4_bytes(duration_ms: int, bytes_per_second: int = MP4_BYTES_PER_SECOND) -> bytes:
    """The whole of `mp4_chunks` (small files and tests)."""
    return b"".join(mp4_chunks(duration_ms, bytes_per_second))
