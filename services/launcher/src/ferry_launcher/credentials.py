"""Where ``ferry login`` keeps the session: one JSON file in the user's config folder, readable by its owner only.

The folder is ``$XDG_CONFIG_HOME/ferry`` (or the platform's equivalent, from
platformdirs); ``FERRY_CONFIG_DIR`` overrides it. The file holds the URL
signed in to, the username and the token pair, and is rewritten whenever the
client refreshes the pair (refresh tokens rotate: an old one is refused).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from ferry_sdk import Tokens

FILENAME = "credentials.json"


def config_dir() -> Path:
    override = os.environ.get("FERRY_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir("ferry", appauthor=False))


def credentials_path() -> Path:
    return config_dir() / FILENAME


@dataclass(frozen=True)
class Session:
    url: str
    username: str
    tokens: Tokens

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "username": self.username, "tokens": self.tokens.to_dict()}


def load() -> Session | None:
    """The stored session, or None when nobody is signed in (or the file is unreadable)."""
    try:
        data = json.loads(credentials_path().read_text())
        return Session(url=data["url"], username=data["username"], tokens=Tokens.from_dict(data["tokens"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(session: Session) -> Path:
    """Write the session with mode 0600 (the folder 0700), replacing the file atomically."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{FILENAME}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(session.to_dict(), out, indent=2)
        os.chmod(temporary, 0o600)  # in case the file existed with wider permissions
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return path


def forget() -> bool:
    """Remove the stored session; whether there was one."""
    try:
        credentials_path().unlink()
    except FileNotFoundError:
        return False
    return True
