"""bot.net: httpx on aiohttp's connections, against real servers on loopback."""

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
    """A server answering POST /echo with the body it got and the client's port, GET /slow
    after 1 s, GET /lines with three lines sent one by one."""

    async def echo(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        raw = await request.read()
        return web.json_response(
            {
                "got": raw.decode(),
                "bytes": len(raw),
                "length": request.content_length,  # None when sent chunked
                "port": peer[1] if peer else None,
            }
        )

    async def lines(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for n in range(3):
            await response.write(f"line {n}\n".encode())
        await response.write_eof()
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_get("/slow", slow)
    app.router.add_get("/lines", lines)
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


def client(limits: httpx.Limits = LIMITS, **kwargs: object) -> httpx.AsyncClient:
    transport = net.transport(limits)
    assert isinstance(transport, net.Transport)
    return httpx.AsyncClient(transport=transport, **kwargs)  # type: ignore[arg-type]


async def test_requests_go_through_aiohttp_and_reuse_the_connection(plain: int) -> None:
    async with client() as http:
        answers = [
            await http.post(f"http://127.0.0.1:{plain}/echo", content=f"note {n}") for n in range(3)
        ]
        transport = http._transport
        assert isinstance(transport, net.Transport)
        assert not transport.session.closed
    assert [a.json()["got"] for a in answers] == [f"note {n}" for n in range(3)]
    assert len({a.json()["port"] for a in answers}) == 1


async def test_a_streamed_body_goes_whole_and_a_streamed_answer_comes_in_pieces(
    plain: int, tmp_path: Path
) -> None:
    """A file upload (httpx streams multipart from the file, with its Content-Length) and an
    answer read line by line as it comes, as Mistral's event stream is."""
    upload = tmp_path / "note.ogg"
    upload.write_bytes(b"voice " * 50_000)
    async with client() as http:
        with upload.open("rb") as file:
            sent = await http.post(
                f"http://127.0.0.1:{plain}/echo", files={"file": ("note.ogg", file)}
            )
        async with http.stream("GET", f"http://127.0.0.1:{plain}/lines") as answer:
            got = [line async for line in answer.aiter_lines()]
    assert sent.status_code == 200
    assert sent.json()["length"] == sent.json()["bytes"]
    assert "voice " * 50_000 in sent.json()["got"]
    assert got == ["line 0", "line 1", "line 2"]


async def test_an_answer_left_unread_does_not_spoil_the_next_request(plain: int) -> None:
    async with client() as http:
        async with http.stream("GET", f"http://127.0.0.1:{plain}/lines") as answer:
            assert answer.status_code == 200  # closed before its body is read
        after = await http.post(f"http://127.0.0.1:{plain}/echo", content="next")
    assert after.json()["got"] == "next"


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


async def test_nobody_listening_is_a_connect_error_without_the_url(unused_tcp_port: int) -> None:
    async with client() as http:
        with pytest.raises(httpx.ConnectError) as refused:
            await http.get(f"http://127.0.0.1:{unused_tcp_port}/bot123:SECRET/getMe")
    assert "SECRET" not in str(refused.value)


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
    assert answer.json()["got"] == "hello"


def test_a_proxy_in_the_environment_keeps_httpx_s_own_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert net.transport(LIMITS) is not None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert net.transport(LIMITS) is None


async def test_the_pool_keeps_its_bound(plain: int) -> None:
    """At most max_connections requests at once; the rest wait for a connection."""
    runner_app = web.Application()
    in_flight = peak = 0
    three = asyncio.Event()

    async def hold(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == 3:
            three.set()
        await three.wait()  # no answer until three are in at once
        in_flight -= 1
        return web.json_response({})

    runner_app.router.add_get("/hold", hold)
    runner = web.AppRunner(runner_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert site._server is not None
    port = site._server.sockets[0].getsockname()[1]
    try:
        limits = httpx.Limits(max_connections=3, max_keepalive_connections=3)
        async with client(limits) as http:
            answers = await asyncio.gather(
                *(http.get(f"http://127.0.0.1:{port}/hold") for _ in range(8))
            )
    finally:
        await runner.cleanup()
    assert [a.status_code for a in answers] == [200] * 8
    assert peak == 3
