"""deploy/nginx/ferry.conf: the edge sends each path to the right service.

The routing table is checked twice: by reading the config and applying nginx's
location-matching rules here, and, when an nginx binary is installed, by running
nginx against stub upstreams and sending it real requests. The end-to-end journey also runs
through it (tests/e2e/edge.py).
"""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ferry_core.embedded_mongo import free_port
from tests.e2e.edge import NGINX, local_config, nginx_conf, running_nginx

needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx-light)")


# -- reading the config ------------------------------------------------------------------------


@dataclass
class Block:
    name: str
    args: list[str]
    directives: list[tuple[str, list[str]]] = field(default_factory=list)
    children: list[Block] = field(default_factory=list)

    def values(self, name: str) -> list[list[str]]:
        return [args for directive, args in self.directives if directive == name]


def parse(text: str) -> Block:
    """A minimal nginx config reader: directives and nested blocks, comments dropped."""
    text = re.sub(r"#[^\n]*", "", text)
    tokens = re.findall(r'"[^"]*"|\'[^\']*\'|[{};]|[^\s{};]+', text)
    root = Block("main", [])
    stack: list[Block] = [root]
    words: list[str] = []
    for token in tokens:
        if token == ";":
            stack[-1].directives.append((words[0], words[1:]))
            words = []
        elif token == "{":
            block = Block(words[0], words[1:])
            stack[-1].children.append(block)
            stack.append(block)
            words = []
        elif token == "}":
            stack.pop()
        else:
            words.append(token.strip("\"'"))
    assert len(stack) == 1 and not words, "unbalanced braces or a missing semicolon"
    return root


def match_location(server: Block, path: str) -> Block:
    """nginx's rule: an exact match wins; else the longest prefix, unless a regex matches first."""
    prefixes: list[tuple[str, Block]] = []
    for location in (c for c in server.children if c.name == "location"):
        if location.args[0] == "=" and location.args[1] == path:
            return location
        if location.args[0] not in ("=", "~", "~*") and path.startswith(location.args[-1]):
            prefixes.append((location.args[-1], location))
    longest = max(prefixes, key=lambda item: len(item[0]), default=None)
    if longest is not None and longest[1].args[0] == "^~":
        return longest[1]
    for location in (c for c in server.children if c.name == "location"):
        if location.args[0] in ("~", "~*"):
            flags = re.IGNORECASE if location.args[0] == "~*" else 0
            if re.search(location.args[1], path, flags):
                return location
    assert longest is not None, f"no location matches {path}"
    return longest[1]


@pytest.fixture(scope="module")
def config_text(repo: Path) -> str:
    return (repo / "deploy/nginx/ferry.conf").read_text()


@pytest.fixture(scope="module")
def server(config_text: str) -> Block:
    (server,) = (block for block in parse(config_text).children if block.name == "server")
    return server


def upstream_of(server: Block, location: Block) -> str:
    """The service host a location proxies to, following ``set $var http://host:port``."""
    (target,) = location.values("proxy_pass")[0]
    variables = {args[0]: args[1] for args in server.values("set")}
    url = variables.get(target, target)
    host = re.match(r"https?://([^:/]+)", url)
    assert host is not None, url
    return host.group(1)


def test_routing_table(server: Block, edge_routes: dict[str, str]) -> None:
    routed = {path: upstream_of(server, match_location(server, path)) for path in edge_routes}
    assert routed == edge_routes


def test_upstream_ports_match_the_services(server: Block, ports: dict[str, int]) -> None:
    variables = {args[0]: args[1] for args in server.values("set")}
    assert sorted(variables.values()) == sorted(
        f"http://{name}:{port}" for name, port in ports.items() if name != "parser"
    )


def test_streaming_uploads_websockets_and_sse(server: Block) -> None:
    assert ["0"] in server.values("client_max_body_size")
    assert ["off"] in server.values("proxy_request_buffering")
    assert ["1.1"] in server.values("proxy_http_version")
    for path in ("/ws", "/ws/abc"):
        headers = match_location(server, path).values("proxy_set_header")
        assert ["Upgrade", "$http_upgrade"] in headers
        assert ["Connection", "$connection_upgrade"] in headers
        # Own proxy_set_header lines replace the server's: the forwarding ones must be repeated.
        assert {"Host", "X-Forwarded-For", "X-Request-ID"} <= {name for name, *_ in headers}
    assert ["off"] in match_location(server, "/events").values("proxy_buffering")


# -- running it -----------------------------------------------------------------------------------


@needs_nginx
def test_nginx_accepts_the_config(tmp_path: Path, config_text: str) -> None:
    assert NGINX is not None
    conf = nginx_conf(tmp_path, config_text)
    result = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers with the service's name and what it received."""

    service = ""

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.dumps(
            {
                "service": self.service,
                "path": self.path,
                "upgrade": self.headers.get("Upgrade"),
                "connection": self.headers.get("Connection"),
                "request_id": self.headers.get("X-Request-ID"),
                "received": len(self.rfile.read(length)) if length else 0,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stub_upstreams(ports: dict[str, int]) -> Iterator[dict[str, int]]:
    servers = {}
    for name in ports:
        handler = type(f"Echo_{name}", (_Echo,), {"service": name})
        servers[name] = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=servers[name].serve_forever, daemon=True).start()
    yield {name: server.server_address[1] for name, server in servers.items()}
    for server in servers.values():
        server.shutdown()
        server.server_close()


@needs_nginx
def test_nginx_routes_requests(
    tmp_path: Path, config_text: str, stub_upstreams: dict[str, int], edge_routes: dict[str, str]
) -> None:
    listen = free_port()
    upstreams = {name: f"http://127.0.0.1:{stub_upstreams[name]}" for name in ("auth", "notifier", "ingest")}
    with running_nginx(tmp_path, local_config(listen, upstreams, config_text), listen) as base:

        def get(path: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> dict[str, object]:
            request = urllib.request.Request(base + path, headers=headers or {}, data=data)
            with urllib.request.urlopen(request, timeout=5) as response:
                answer: dict[str, object] = json.load(response)
                return answer

        for path, service in edge_routes.items():
            assert get(path)["service"] == service, path
        assert get("/events?file_id=abc")["path"] == "/events?file_id=abc"
        upgraded = get("/ws/abc", {"Upgrade": "websocket", "Connection": "Upgrade"})
        assert (upgraded["upgrade"], upgraded["connection"]) == ("websocket", "upgrade")
        assert get("/files", {"X-Request-ID": "req-1"})["request_id"] == "req-1"
        assert len(str(get("/files")["request_id"])) == 32
        big = b"x" * (3 * 1024 * 1024)  # past nginx's default 1 MiB body limit
        assert get("/files", {"Content-Type": "application/octet-stream"}, big)["received"] == len(big)
