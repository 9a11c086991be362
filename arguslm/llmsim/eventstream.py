"""The AWS event stream binary framing (application/vnd.amazon.eventstream), both ways.

Bedrock's ConverseStream answers with these frames. Layout of one message (big-endian),
from the AWS event stream encoding spec, as botocore's ``botocore/eventstream.py`` parses it:

    prelude   total length (uint32) | headers length (uint32) | prelude CRC32 (uint32)
    headers   repeated: name length (uint8) | name | value type (uint8) | value
              (type 7 = string: length uint16 | UTF-8 bytes)
    payload   the event's JSON
    trailer   CRC32 of everything before it (uint32)

The simulator only writes string headers; ``decode`` reads what ``encode`` writes and
checks both CRCs, for tests that want the frames without botocore.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

_STRING = 7
_PRELUDE = 12  # total length, headers length, prelude CRC
_CRC = 4


class EventStreamError(ValueError):
    """A frame is truncated or a CRC does not match."""


def _crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack(">B", len(raw_name))
        + raw_name
        + struct.pack(">BH", _STRING, len(raw_value))
        + raw_value
    )


def encode(headers: dict[str, str], payload: bytes) -> bytes:
    """One message with string headers."""
    raw_headers = b"".join(_header(name, value) for name, value in headers.items())
    total = _PRELUDE + len(raw_headers) + len(payload) + _CRC
    prelude = struct.pack(">II", total, len(raw_headers))
    message = prelude + struct.pack(">I", _crc(prelude)) + raw_headers + payload
    return message + struct.pack(">I", _crc(message))


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def event(event_type: str, data: Any) -> bytes:
    """A Bedrock stream event: ``:event-type`` names it, the payload is its JSON body."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode(headers, _json(data))


def exception(exception_type: str, message: str) -> bytes:
    """An in-stream error, e.g. ``internalServerException`` (Bedrock ConverseStream)."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode(headers, _json({"message": message}))


def decode(data: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Every complete message in ``data`` as (headers, payload); raises on bad framing."""
    messages = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < _PRELUDE:
            raise EventStreamError("truncated prelude")
        total, headers_length = struct.unpack_from(">II", data, offset)
        (prelude_crc,) = struct.unpack_from(">I", data, offset + 8)
        if prelude_crc != _crc(data[offset : offset + 8]):
            raise EventStreamError("prelude CRC mismatch")
        end = offset + total
        if end > len(data):
            raise EventStreamError("truncated message")
        (message_crc,) = struct.unpack_from(">I", data, end - _CRC)
        if message_crc != _crc(data[offset : end - _CRC]):
            raise EventStreamError("message CRC mismatch")
        headers: dict[str, str] = {}
        pos = offset + _PRELUDE
        headers_end = pos + headers_length
        while pos < headers_end:
            name_length = data[pos]
            name = data[pos + 1 : pos + 1 + name_length].decode()
            pos += 1 + name_length
            kind, value_length = struct.unpack_from(">BH", data, pos)
            if kind != _STRING:
                raise EventStreamError(f"header {name!r}: only string values are supported")
            pos += 3
            headers[name] = data[pos : pos + value_length].decode()
            pos += value_length
        messages.append((headers, data[headers_end : end - _CRC]))
        offset = end
    return messages
