"""``ferry dev`` · ``ferry serve auth|ingest|parser|notifier`` · ``ferry contracts write|check`` ·
``ferry dead-letters list|show|replay|discard``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

SERVICES = ("auth", "ingest", "parser", "notifier")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferry", description="Ferry: file ingestion and parsing.")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run the whole platform in one process (embedded mode)")
    dev.add_argument("--port", type=int, help="port to listen on (default: FERRY_PORT or 8000)")
    dev.add_argument("--host", help="address to bind (default: FERRY_HOST or 127.0.0.1)")
    dev.add_argument("--data-dir", type=Path, help="where data is kept (default: FERRY_DATA_DIR or ./.ferry)")

    serve = commands.add_parser("serve", help="run one service against RabbitMQ, MongoDB and S3")
    serve.add_argument("service", choices=SERVICES)

    contracts = commands.add_parser("contracts", help="write or check the generated contracts/ folder")
    contracts.add_argument("action", choices=("write", "check"))
    contracts.add_argument("--root", type=Path, default=Path("contracts"))

    from ferry_launcher import deadletters

    deadletters.add_parser(commands)

    args = parser.parse_args(argv)
    if args.command == "dead-letters":
        return deadletters.run(args)
    if args.command == "dev":
        return _dev(args)
    if args.command == "serve":
        importlib.import_module(f"ferry_{args.service}.__main__").main()
        return 0
    from ferry_launcher import contracts as contract_files

    return contract_files.run(args.action, args.root)


def _dev(args: argparse.Namespace) -> int:
    for flag, env in (("port", "FERRY_PORT"), ("host", "FERRY_HOST"), ("data_dir", "FERRY_DATA_DIR")):
        value = getattr(args, flag)
        if value is not None:
            os.environ[env] = str(value)
    from ferry_core.observability import configure_logging
    from ferry_launcher import embedded

    config = embedded.config_from_env()
    configure_logging(
        "ferry", os.environ.get("FERRY_LOG_LEVEL", "info"), json=os.environ.get("FERRY_LOG_JSON", "1") != "0"
    )
    embedded.run(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
