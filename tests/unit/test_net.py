"""bot.net: httpx's transport on asyncio's streams, against real servers on loopback."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trustme
from aiohttp import web

from bot import net

LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=4)


async def serve(ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    """A server answering POST /echo with the body it got, GET /slow after 1 s."""

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"got": (await request.read()).decode()})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    server = site._server
    assert server is not None
    return runner, server.sockets[0].getsockname()[1]


@pytest.fixture
async def plain() -> AsyncIterator[int]:
    runner, port = await serve()
    yield port
    await runner.cleanup()


def client(**kwargs: object) -> httpx.AsyncClient:
    transport = net.transport(LIMITS)
    assert isinstance(transport, net.Transport)
    return httpx.AsyncClient(transport=transport, **kwargs)  # type: ignore[arg-type]


async def test_requests_go_over_asyncio_streams_and_reuse_the_connection(plain: int) -> None:
    async with client() as http:
        answers = [
            await http.post(f"http://127.0.0.1:{plain}/echo", content=f"note {n}") for n in range(3)
        ]
        pool = http._transport._pool  # type: ignore[attr-defined]
        assert len(pool.connections) == 1
        assert isinstance(pool._network_backend, net.AsyncioBackend)
    assert [a.json() for a in answers] == [{"got": f"note {n}"} for n in range(3)]


async def test_a_kept_connection_the_server_closed_is_not_used_again() -> None:
    """A server that closes each connection after one answer, without saying so: the next
    request must see the kept connection is gone and open another."""
    closed = asyncio.Event()
    connections = 0

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        closed.set()

    server = await asyncio.start_server(once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with client() as http:
            first = await http.get(f"http://127.0.0.1:{port}/")
            await closed.wait()
            second = await http.get(f"http://127.0.0.1:{port}/")
    finally:
        server.close()
        await server.wait_closed()
    assert (first.text, second.text, connections) == ("ok", "ok", 2)


async def test_a_server_that_does_not_answer_times_out(plain: int) -> None:
    async with client(timeout=httpx.Timeout(5.0, read=0.2)) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"http://127.0.0.1:{plain}/slow")


async def test_nobody_listening_is_a_connect_error(unused_tcp_port: int) -> None:
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{unused_tcp_port}/")


async def test_https_is_verified_against_the_trusted_authorities(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    runner, port = await serve(server_context)
    try:
        # Not yet trusted: the handshake fails as a connection error.
        async with client() as http:
            with pytest.raises(httpx.ConnectError):
                await http.post(f"https://localhost:{port}/echo", content="hello")
        bundle = tmp_path / "ca.pem"
        authority.cert_pem.write_to_path(str(bundle))
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
        async with client() as http:
            answer = await http.post(f"https://localhost:{port}/echo", content="hello")
    finally:
        await runner.cleanup()
    assert answer.json() == {"got": "hello"}


def test_a_proxy_in_the_environment_keeps_httpx_s_own_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert net.transport(LIMITS) is not None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert net.transport(LIMITS) is None


async def test_the_pool_keeps_its_bounds(plain: int) -> None:
    """At most max_connections at once (the rest wait for one), at most
    max_keepalive_connections kept once they are done."""
    limits = httpx.Limits(max_connections=3, max_keepalive_connections=1)
    transport = net.transport(limits)
    assert isinstance(transport, net.Transport)
    async with httpx.AsyncClient(transport=transport) as http:
        pool = transport._pool
        answers = await asyncio.gather(
            *(http.post(f"http://127.0.0.1:{plain}/echo", content=f"{n}") for n in range(8))
        )
        assert len(pool.connections) == 1
        answers.append(await http.post(f"http://127.0.0.1:{plain}/echo", content="8"))
        assert len(pool.connections) == 1
    assert [a.json()["got"] for a in answers] == [str(n) for n in range(9)]
