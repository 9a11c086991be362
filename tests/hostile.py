"""A hostile HTTP endpoint for tests: real sockets on 127.0.0.1, answers no honest server sends.

The first path segment picks the behaviour, so one base URL per case serves the gateway's
``<base>/chat/completions``, discovery's ``<base>/models`` and a webhook's POST alike:

    /error8m       a 500 whose body is 8 MiB
    /endless       a 200 event stream that sends a token every 10 ms and never finishes
    /models100m    a 200 JSON model listing of 100 MB, sent as fast as the socket takes it
    /models6000    a 200 JSON model listing of 6,000 chat models (about 0.3 MB)
    /flood         a 200 event stream of one endless line, as fast as the socket takes it
    /trickle       the status line and headers one byte per second, never finished
    /redirect      a 307 to ``redirect_to`` (set by the test)

It answers at the raw socket (asyncio streams), so it can send what an HTTP library would
refuse to: headers that never end, a body that never ends. ``sent[case]`` counts the bytes
each case wrote.
"""

import asyncio
import contextlib
import itertools
import json
import threading
from collections import Counter

MIB = 1024 * 1024


def _head(status: str, content_type: str, length: int) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {length}\r\n\r\n"
    ).encode()


class Hostile:
    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, headers)
        self.redirect_to = ""
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait()

    def url(self, case: str) -> str:
        return f"http://127.0.0.1:{self.port}/{case}"

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(stop(), self._loop)
        self._thread.join(timeout=5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # CancelledError: the server is closing (a trickle may still be sleeping).
        with contextlib.suppress(
            ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError
        ):
            head = await reader.readuntil(b"\r\n\r\n")
            method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            headers = {}
            for line in head.decode().split("\r\n")[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            self.requests.append((method, path, headers))
            case = path.strip("/").split("/")[0]
            await getattr(self, "_" + case, self._unknown)(writer, case)
        writer.close()

    async def _write(self, writer: asyncio.StreamWriter, case: str, data: bytes) -> None:
        writer.write(data)
        await writer.drain()
        self.sent[case] += len(data)

    async def _unknown(self, writer, case) -> None:
        await self._write(writer, case, b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")

    async def _error8m(self, writer, case) -> None:
        body = b"x" * (8 * MIB)
        await self._write(writer, case, _head("500 Oops", "text/plain", len(body)))
        for i in range(0, len(body), 64 * 1024):
            await self._write(writer, case, body[i : i + 64 * 1024])

    async def _endless(self, writer, case) -> None:
        await self._write(
            writer,
            case,
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
        )
        event = 'data: {"choices":[{"index":0,"delta":{"content":"tok%d "}}]}\n\n'
        for i in itertools.count():
            await self._write(writer, case, (event % i).encode())
            await asyncio.sleep(0.01)

    async def _models100m(self, writer, case) -> None:
        entry = b'{"id":"model-%07d","object":"model","owned_by":"hostile"},'
        total = 100 * 1000 * 1000
        await self._write(writer, case, _head("200 OK", "application/json", total))
        await self._write(writer, case, b'{"object":"list","data":[')
        block = b"".join(entry % i for i in range(1000))
        while self.sent[case] < total:
            await self._write(writer, case, block)

    async def _models6000(self, writer, case) -> None:
        data = [{"id": f"chat-{i}", "object": "model", "owned_by": "hostile"} for i in range(6000)]
        body = json.dumps({"object": "list", "data": data}).encode()
        await self._write(writer, case, _head("200 OK", "application/json", len(body)) + body)

    async def _flood(self, writer, case) -> None:
        await self._write(
            writer,
            case,
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
        )
        await self._write(writer, case, b"data: ")
        block = b"x" * (64 * 1024)
        while self.sent[case] < 1024 * MIB:
            await self._write(writer, case, block)

    async def _trickle(self, writer, case) -> None:
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-padding: " + b"a" * 10000
        for byte in head:
            await self._write(writer, case, bytes([byte]))
            await asyncio.sleep(1)

    async def _redirect(self, writer, case) -> None:
        head = f"HTTP/1.1 307 Temporary Redirect\r\nlocation: {self.redirect_to}\r\n"
        await self._write(writer, case, head.encode() + b"content-length: 0\r\n\r\n")
