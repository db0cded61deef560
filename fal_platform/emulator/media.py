"""Real media bytes for the URLs the emulator hands out: PNG, WAV and a stand-in MP4.

Everything a file needs is in its URL (size, colour, duration), so the media route is
stateless and a restart does not break old URLs. Files are deterministic, and the builders are
cached because a benchmark asks for the same few sizes over and over.
"""

from __future__ import annotations

import io
import math
import struct
import wave
import zlib
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
MP4_BYTES_PER_MS = 8


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


@lru_cache(maxsize=128)
def png_bytes(width: int, height: int, colour: str) -> bytes:
    """A valid 8-bit RGB PNG of exactly width x height, filled with one colour."""
    red, green, blue = parse_colour(colour)
    row = b"\x00" + bytes((red, green, blue)) * width  # filter byte 0, then the pixels
    compressor = zlib.compressobj(6)
    parts = []
    rows_per_chunk = max(1, 262_144 // len(row))
    block = row * rows_per_chunk
    full, rest = divmod(height, rows_per_chunk)
    for _ in range(full):
        parts.append(compressor.compress(block))
    parts.append(compressor.compress(row * rest))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


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


def mp4_size(duration_ms: int) -> int:
    return len(_FTYP) + 8 + duration_ms * MP4_BYTES_PER_MS


_FTYP = struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 512) + b"isomiso2"


@lru_cache(maxsize=32)
def mp4_bytes(duration_ms: int) -> bytes:
    """An ISO-BMFF file (ftyp + mdat of filler). It is not playable: a stand-in whose size
    scales with the duration, so downloads and file_size checks behave like the real thing."""
    payload = bytes(range(256)) * (duration_ms * MP4_BYTES_PER_MS // 256 + 1)
    payload = payload[: duration_ms * MP4_BYTES_PER_MS]
    return _FTYP + struct.pack(">I", 8 + len(payload)) + b"mdat" + payload
