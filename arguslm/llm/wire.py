"""Bytes from providers: bounded in size before anything parses them, and decoded.

Every body the gateway reads (a stream, a complete answer, an error body, a model listing) goes
through ``Decoder``, which caps the bytes received *and* the bytes a compressed body expands to.
httpx decodes ``Content-Encoding`` on ``aiter_bytes()``, but without a bound on the expansion
(a 64 KiB read of a gzip bomb becomes 64 MiB at once) and not at all on ``aiter_raw()``, which
the timing path needs to see every read as it arrives. So the gateway reads raw bytes and
decodes them here, incrementally: a compressed stream keeps its timing (each read decodes to
the events it carries), and a proxy that gzips even though identity was asked for no longer
turns an answer into "empty_response" and an error body into garbage.
"""

import zlib

import httpx

MAX_BODY_BYTES = 8 * 1024 * 1024  # a provider flooding bytes cannot exhaust memory

# The chat paths ask for identity (a compressing proxy may hold chunks back to fill its
# window, which would move TTFT); servers and proxies that compress anyway are decoded.
CHAT_ACCEPT_ENCODING = "identity"
# Listings and other small JSON bodies: compression costs no timing, so accept it.
JSON_ACCEPT_ENCODING = "gzip, deflate"


def _size(limit: int) -> str:
    return f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit // 1024} KiB"


class BodyError(Exception):
    """A body that cannot be read: too large, or encoded in a way we cannot decode."""


class Decoder:
    """Decode one body incrementally (identity, gzip, x-gzip, deflate), within a size cap."""

    def __init__(self, content_encoding: str | None, *, limit: int = MAX_BODY_BYTES):
        self.limit = limit
        self.received = 0
        self.decoded = 0
        self._zlib = None
        encodings = [e.strip().lower() for e in (content_encoding or "").split(",") if e.strip()]
        encodings = [e for e in encodings if e != "identity"]
        if len(encodings) > 1:
            raise BodyError(f"Unsupported stacked Content-Encoding: {content_encoding[:60]}")
        if encodings:
            kind = encodings[0]
            if kind in ("gzip", "x-gzip"):
                self._zlib = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            elif kind == "deflate":
                # RFC 9110 deflate is zlib-wrapped; some servers send raw deflate: auto-detect.
                self._zlib = zlib.decompressobj(wbits=zlib.MAX_WBITS + 32)
            else:
                raise BodyError(f"Unsupported Content-Encoding: {kind[:40]}")

    @property
    def encoded(self) -> bool:
        """Whether the body is compressed (and so decoded here)."""
        return self._zlib is not None

    def feed(self, raw: bytes) -> bytes:
        """The decoded bytes of one read; raises BodyError past the cap or on corrupt data."""
        self.received += len(raw)
        if self.received > self.limit:
            raise BodyError(f"Response exceeded the {_size(self.limit)} limit.")
        if self._zlib is None:
            data = raw
        else:
            room = self.limit - self.decoded + 1
            try:
                # max_length bounds what one read may expand to (a gzip bomb stops here).
                data = self._zlib.decompress(raw, room)
            except zlib.error as exc:
                raise BodyError(f"Corrupt compressed body: {exc}") from None
            if self._zlib.unconsumed_tail:
                raise BodyError(f"Response exceeded the {_size(self.limit)} limit when decoded.")
        self.decoded += len(data)
        if self.decoded > self.limit:
            raise BodyError(f"Response exceeded the {_size(self.limit)} limit.")
        return data


def decoder_for(response: httpx.Response, *, limit: int = MAX_BODY_BYTES) -> Decoder:
    return Decoder(response.headers.get("content-encoding"), limit=limit)


async def read_body(
    response: httpx.Response, *, limit: int = MAX_BODY_BYTES, truncate: bool = False
) -> bytes:
    """The whole decoded body of a streamed httpx response, never more than ``limit`` bytes.

    Past the limit: BodyError, or with ``truncate`` the first ``limit`` bytes (an error body
    is still worth its first words; the rest is not read).
    """
    decoder = decoder_for(response, limit=limit)
    parts = []
    async for raw in response.aiter_raw():
        if truncate:
            raw = raw[: max(0, limit - decoder.received)]
        try:
            parts.append(decoder.feed(raw))
        except BodyError:
            if not truncate:
                raise
            break
        if truncate and (decoder.received >= limit or decoder.decoded >= limit):
            break
    return b"".join(parts)[:limit]
