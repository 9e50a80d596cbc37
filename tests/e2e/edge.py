"""The docker-compose nginx edge (deploy/nginx/ferry.conf), run locally in front of separately started services.

The config is used as written, except for where it listens and where its upstreams are:
the compose service names become the local processes' ports. nginx comes from the Debian
package (scripts/test-prereqs.sh installs it when it can); without it the journey runs
straight against the services.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from ferry_core.embedded_mongo import free_port
from tests.e2e.platform import Urls

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "deploy/nginx/ferry.conf"
UPSTREAMS = {"auth": "http://auth:8001", "notifier": "http://notifier:8002", "ingest": "http://ingest:8000"}

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
)


def local_config(listen: int, upstreams: dict[str, str], config: str | None = None) -> str:
    """ferry.conf listening on 127.0.0.1:``listen`` and proxying to ``upstreams`` (service → base URL)."""
    text = CONFIG.read_text() if config is None else config
    assert "listen 80 default_server;" in text
    text = text.replace("listen 80 default_server;", f"listen 127.0.0.1:{listen} default_server;")
    for service, url in upstreams.items():
        text = text.replace(UPSTREAMS[service], url)
    return text


def nginx_conf(work: Path, server_conf: str) -> Path:
    """A main nginx.conf under ``work`` that includes ``server_conf`` in its http block, as the image does."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(exist_ok=True)
    temp_paths = " ".join(
        f"{kind}_temp_path {work / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (work / "ferry.conf").write_text(server_conf)
    conf = work / "nginx.conf"
    conf.write_text(
        f"pid {work / 'nginx.pid'};\nerror_log {work / 'logs/error.log'};\n"
        "daemon off;\nmaster_process off;\nevents {}\n"
        f"http {{ access_log off; {temp_paths} include {work / 'ferry.conf'}; }}\n"
    )
    return conf


@contextlib.contextmanager
def running_nginx(work: Path, server_conf: str, listen: int, timeout: float = 10.0) -> Iterator[str]:
    """nginx serving ``server_conf`` until the block ends; yields its base URL once it answers."""
    assert NGINX is not None, "nginx is not installed"
    conf = nginx_conf(work, server_conf)
    process = subprocess.Popen([NGINX, "-p", str(work), "-c", str(conf)], stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{listen}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(base + "/health", timeout=1)  # any answer, even a 502, means nginx listens
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    raise RuntimeError(process.stderr.read().decode() if process.stderr else "nginx exited") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nginx did not answer within {timeout} s") from None
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def through_edge(urls: Urls, work: Path) -> Iterator[Urls]:
    """One origin for every request, as the distributed platform's clients see it (``urls`` unchanged without nginx)."""
    if NGINX is None:
        yield urls
        return
    listen = free_port()
    config = local_config(listen, {"auth": urls.auth, "notifier": urls.notifier, "ingest": urls.files})
    with running_nginx(work / "nginx", config, listen) as base:
        yield Urls(auth=base, files=base, notifier=base)
