"""`Client` and `AsyncClient`: thin transports (httpx) driving the shared operations.

    from kalmanac import Client
    with Client("http://127.0.0.1:8000", api_key="...") as kc:
        fc = kc.forecast(series, horizon=48, levels=[80, 95])
        fc.to_frame()          # mean, median, std, epistemic/aleatoric std, intervals

Both classes expose the same methods, listed once in `_ops` (each method's docstring is the
operation's); the sync one blocks, the async one returns a coroutine.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import httpx

from kalmanac import _ops, _stream_ops
from kalmanac._protocol import Call, Op, Outcome, Reply, RetryPolicy, Sleep, error_of
from kalmanac.results import Analysis

P = ParamSpec("P")
T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:8000"
SSE_READ_TIMEOUT_S = 60.0  # the server sends a keep-alive comment every 15 s


def reply_of(response: httpx.Response) -> Reply:
    headers = {k.lower(): v for k, v in response.headers.items()}
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return Reply(response.status_code, headers, body)


class _Method(Generic[P, T]):
    """Turns an operation `op(core, *args)` into a client method; `run` is how the client
    class drives a generator (blocking, or as a coroutine)."""

    def __init__(self, op: Callable[Concatenate[_ops.Core, P], Op[T]]) -> None:
        self.op = op
        functools.update_wrapper(self, op)  # type: ignore[arg-type]  # a descriptor, not a function
        params = list(inspect.signature(op).parameters.values())[1:]
        self.signature = inspect.signature(op).replace(parameters=params)

    def bind(self, client: Any) -> Callable[P, Any]:
        op = self.op

        def method(*args: P.args, **kwargs: P.kwargs) -> Any:
            return client._drive(op(client._core, *args, **kwargs))

        functools.update_wrapper(method, op)
        method.__signature__ = self.signature  # type: ignore[attr-defined]  # for help()
        return method


class sync(_Method[P, T]):
    @overload
    def __get__(self, client: None, owner: type) -> sync[P, T]: ...
    @overload
    def __get__(self, client: object, owner: type) -> Callable[P, T]: ...
    def __get__(self, client: object | None, owner: type) -> Any:
        return self if client is None else self.bind(client)


class aio(_Method[P, T]):
    @overload
    def __get__(self, client: None, owner: type) -> aio[P, T]: ...
    @overload
    def __get__(self, client: object, owner: type) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, client: object | None, owner: type) -> Any:
        return self if client is None else self.bind(client)


class _Base:
    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        *,
        backoff: float = 0.25,
        long_poll_s: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        """`base_url` defaults to $KALMANAC_URL (else http://127.0.0.1:8000), `api_key` to
        $KALMANAC_API_KEY. `timeout`: seconds per request (long-polls get their wait on
        top). `retries`: how often a 429, 503 or connection error is retried, with
        exponential backoff and jitter from `backoff` seconds, honouring Retry-After."""
        self.base_url = (base_url or os.environ.get("KALMANAC_URL") or DEFAULT_URL).rstrip("/")
        api_key = api_key if api_key is not None else os.environ.get("KALMANAC_API_KEY")
        self.headers = {"User-Agent": "kalmanac-client", **(headers or {})}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.timeout = timeout
        self._core = _ops.Core(RetryPolicy(retries, backoff), httpx.ConnectError, long_poll_s)

    def _request_args(self, call: Call) -> dict[str, Any]:
        return {
            "method": call.method,
            "url": call.path,
            "params": call.params,
            "json": call.json,
            "headers": call.headers,
            "timeout": httpx.Timeout(self.timeout, read=self.timeout + call.extra_timeout),
        }

    def _client_args(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "headers": self.headers, "timeout": self.timeout}


class Client(_Base):
    """Blocking client; use as a context manager (or call `close()`)."""

    def __init__(self, *args: Any, transport: httpx.BaseTransport | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self._http = httpx.Client(transport=transport, **self._client_args())

    forecast = sync(_ops.forecast)
    get_forecast = sync(_ops.get_forecast)
    backtest = sync(_ops.backtest)
    get_backtest = sync(_ops.get_backtest)
    kinds = sync(_ops.kinds)
    list_jobs = sync(_ops.list_jobs)
    get_job = sync(_ops.get_job)
    cancel_job = sync(_ops.cancel_job)
    wait_job = sync(_ops.wait_job)
    list_models = sync(_ops.list_models)
    get_model = sync(_ops.get_model)
    get_version = sync(_ops.get_version)
    set_alias = sync(_ops.set_alias)
    train_model = sync(_ops.train_model)
    create_stream = sync(_stream_ops.create_stream)
    get_stream = sync(_stream_ops.get_stream)
    list_streams = sync(_stream_ops.list_streams)
    push = sync(_stream_ops.push)
    analyses = sync(_stream_ops.analyses)
    wait_assimilated = sync(_stream_ops.wait_assimilated)
    stream_forecast = sync(_stream_ops.stream_forecast)
    close_stream = sync(_stream_ops.close_stream)
    reset_stream = sync(_stream_ops.reset_stream)

    def _send(self, call: Call) -> Outcome:
        try:
            return reply_of(self._http.request(**self._request_args(call)))
        except httpx.TransportError as exc:
            return exc

    def _drive(self, op: Op[T]) -> T:
        outcome: Outcome = None
        try:
            while True:
                step = op.send(outcome)
                if isinstance(step, Sleep):
                    time.sleep(step.seconds)
                    outcome = None
                else:
                    outcome = self._send(step)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]  # the generator's T

    def watch(self, stream_id: str, *, after_seq: int = 0) -> Iterator[Analysis]:
        """Each new analysis as it is made (server-sent events), until the stream is closed
        and fully assimilated. Break out of the loop to stop watching."""
        args = self._request_args(_stream_ops.watch_call(stream_id, after_seq))
        args["timeout"] = httpx.Timeout(self.timeout, read=SSE_READ_TIMEOUT_S)
        with self._http.stream(**args) as response:
            if response.status_code >= 400:
                response.read()
                raise error_of(reply_of(response))
            feed = _stream_ops.WatchFeed()
            for line in response.iter_lines():
                analysis = feed.feed(line)
                if analysis is not None:
                    yield analysis
                if feed.closed:
                    return

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Base):
    """The same methods as `Client`, as coroutines; use `async with`."""

    def __init__(
        self, *args: Any, transport: httpx.AsyncBaseTransport | None = None, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self._http = httpx.AsyncClient(transport=transport, **self._client_args())

    forecast = aio(_ops.forecast)
    get_forecast = aio(_ops.get_forecast)
    backtest = aio(_ops.backtest)
    get_backtest = aio(_ops.get_backtest)
    kinds = aio(_ops.kinds)
    list_jobs = aio(_ops.list_jobs)
    get_job = aio(_ops.get_job)
    cancel_job = aio(_ops.cancel_job)
    wait_job = aio(_ops.wait_job)
    list_models = aio(_ops.list_models)
    get_model = aio(_ops.get_model)
    get_version = aio(_ops.get_version)
    set_alias = aio(_ops.set_alias)
    train_model = aio(_ops.train_model)
    create_stream = aio(_stream_ops.create_stream)
    get_stream = aio(_stream_ops.get_stream)
    list_streams = aio(_stream_ops.list_streams)
    push = aio(_stream_ops.push)
    analyses = aio(_stream_ops.analyses)
    wait_assimilated = aio(_stream_ops.wait_assimilated)
    stream_forecast = aio(_stream_ops.stream_forecast)
    close_stream = aio(_stream_ops.close_stream)
    reset_stream = aio(_stream_ops.reset_stream)

    async def _send(self, call: Call) -> Outcome:
        try:
            return reply_of(await self._http.request(**self._request_args(call)))
        except httpx.TransportError as exc:
            return exc

    async def _drive(self, op: Op[T]) -> T:
        outcome: Outcome = None
        try:
            while True:
                step = op.send(outcome)
                if isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                    outcome = None
                else:
                    outcome = await self._send(step)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]  # the generator's T

    async def watch(self, stream_id: str, *, after_seq: int = 0) -> AsyncIterator[Analysis]:
        """As `Client.watch`, as an async iterator."""
        args = self._request_args(_stream_ops.watch_call(stream_id, after_seq))
        args["timeout"] = httpx.Timeout(self.timeout, read=SSE_READ_TIMEOUT_S)
        async with self._http.stream(**args) as response:
            if response.status_code >= 400:
                await response.aread()
                raise error_of(reply_of(response))
            feed = _stream_ops.WatchFeed()
            async for line in response.aiter_lines():
                analysis = feed.feed(line)
                if analysis is not None:
                    yield analysis
                if feed.closed:
                    return

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
