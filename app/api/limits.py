"""Refuse, before any parsing, request bodies over the configured size (413) and paths or
query strings holding a NUL character (422: no identifier or filter may contain one, and
PostgreSQL cannot even compare text with one, so it must not reach a query)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        # Chunked bodies have no declared length: buffer up to the limit, then replay.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        msg = f"request body is over the limit of {self.max_bytes} bytes"
        await send_error(send, 413, "payload_too_large", "body", msg, close=True)


class RejectNul:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = (scope.get("raw_path") or b"") + scope["path"].encode("utf-8", "replace")
            for field, raw in (("path", path), ("query", scope["query_string"])):
                if b"%00" in raw or b"\x00" in raw:
                    msg = f"the {field} contains a NUL character"
                    await send_error(send, 422, "validation_error", field, msg)
                    return
        await self.app(scope, receive, send)


async def send_error(
    send: Send, status: int, code: str, field: str, msg: str, close: bool = False
) -> None:
    """The uniform error body, sent from an ASGI middleware (outside FastAPI's handlers)."""
    item = {"loc": [field], "field": field, "msg": msg, "type": code}
    body = json.dumps({"error": code, "detail": [item]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
