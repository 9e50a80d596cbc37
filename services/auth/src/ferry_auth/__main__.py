"""``ferry-auth``: run the auth service on its own, configured from ``FERRY_*`` environment variables.

``ferry-auth rotate-key`` rotates the kept development signing key instead (see
``rotation.py``); a running auth picks the new key up within a second.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvicorn

from ferry_auth.app import create_app
from ferry_auth.keys import SigningKeyError
from ferry_auth.rotation import KeyRotationError, rotate_signing_key
from ferry_auth.settings import AuthSettings
from ferry_core.observability import configure_logging
from ferry_core.settings import ProductionConfigError, require_production_ready

ROTATE_KEY = "rotate-key"


def serve() -> None:
    settings = AuthSettings()
    configure_logging("auth", settings.log_level, json=settings.log_json)
    require_production_ready(settings, extra=settings.auth_production_problems())
    # proxy_headers off: FERRY_TRUSTED_PROXIES alone decides whose X-Forwarded-For is believed.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, proxy_headers=False)


def rotate_key(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=f"ferry-auth {ROTATE_KEY}",
        description="Sign new access tokens with a new key; the old key stays in the JWKS for the access-token "
        "lifetime (FERRY_ACCESS_TOKEN_TTL_SECONDS) plus a minute, so tokens it signed stay valid until they expire. "
        "Only for the key auth generated under FERRY_DATA_DIR; configured keys are rotated by configuration.",
    )
    parser.parse_args(argv)
    settings = AuthSettings()
    try:
        rotation = rotate_signing_key(settings)
    except (KeyRotationError, SigningKeyError, ProductionConfigError) as exc:
        print(f"ferry-auth {ROTATE_KEY}: {exc}", file=sys.stderr)
        return 1
    print(
        f"new signing key {rotation.new_kid}; previous key {rotation.previous_kid} "
        f"stays published until {rotation.previous_published_until.isoformat(timespec='seconds')}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    # Anything but "rotate-key" serves, as before: `ferry serve auth` calls this with its own arguments.
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == [ROTATE_KEY]:
        sys.exit(rotate_key(args[1:]))
    serve()


if __name__ == "__main__":
    main()
