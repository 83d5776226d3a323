"""The `kalmanac` command: serve the API, run migrations, manage API keys; the client
commands (forecast, backtest, models, jobs, stream) come from the `kalmanac` package.

Only the client commands' imports are loaded up front: with `pip install kalmanac` (the
client alone, no server dependencies) they work, and a server command says what to install.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kalmanac import cli as client_cli

ROOT = Path(__file__).resolve().parent.parent


def migrate() -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    command.upgrade(config, "head")


EXAMPLE_BODY = (
    '{"series": [{"id": "s1", "values": [1,3,2,4,3,5,4,6,5,7,6,8,7,9,8,10]}],'
    ' "horizon": 3, "levels": [80, 95]}'
)


def example_curl(base: str, auth: str) -> str:
    return (
        f"  curl -s -X POST '{base}/v1/forecasts?wait=10'{auth} \\\n"
        f"    -H 'Content-Type: application/json' -d '{EXAMPLE_BODY}'"
    )


def announce_when_listening(host: str, port: int, text: str, timeout_s: float = 600.0) -> None:
    """Print `text` once (host, port) accepts connections: a first start compiles the code
    for up to a minute, and a banner printed before that invites a refused connection."""
    import socket
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1.0).close()
        except OSError:
            time.sleep(0.2)
            continue
        print(text, flush=True)
        return


def port_taken(host: str, port: int) -> bool:
    """Whether something already listens on (host, port): then uvicorn would fail to bind
    only after the banner's check had found that other server and announced it as ready."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def serve(host: str, port: int) -> int:
    import threading

    import uvicorn

    from app.config import get_settings

    if port_taken(host, port):
        print(
            f"kalmanac serve: {host}:{port} is already in use (another server?); stop it, or "
            f"serve on another port: `make run PORT={port + 1}` or `--port {port + 1}`",
            file=sys.stderr,
        )
        return 1
    settings = get_settings()
    base = f"http://{host}:{port}"
    auth = "" if settings.auth == "off" else ' -H "Authorization: Bearer $KALMANAC_KEY"'
    print(f"\nStarting the Kalmanac API on {base} ...", flush=True)
    banner = f"\nKalmanac API ready on {base}   docs: {base}/docs\n\nTry:\n"
    banner += f"{example_curl(base, auth)}\n"
    threading.Thread(target=announce_when_listening, args=(host, port, banner), daemon=True).start()
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, log_level="warning")
    return 0


def keys(args: argparse.Namespace) -> int:
    from app.config import get_settings
    from app.db.session import get_sessionmaker
    from app.services import auth

    settings = get_settings()
    with get_sessionmaker(settings.database_url).begin() as session:
        if args.keys_command == "create":
            issued = auth.issue_key(session, args.tenant, settings)
            print(issued.key)
            print(
                f"# key for tenant {issued.tenant!r}; it is shown only this once", file=sys.stderr
            )
            return 0
        if auth.revoke_key(session, args.key):
            print("revoked", file=sys.stderr)
            return 0
        print("no active key with that prefix", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kalmanac", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser(
        "serve", help="serve the API (embedded worker when the broker is memory://)"
    )
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8000)
    p_serve.add_argument("--migrate", action="store_true", help="upgrade the schema first")
    sub.add_parser("migrate", help="upgrade the database schema to the latest revision")
    p_keys = sub.add_parser("keys", help="API keys")
    keys_sub = p_keys.add_subparsers(dest="keys_command", required=True)
    p_create = keys_sub.add_parser("create", help="issue a key for a tenant (printed once)")
    p_create.add_argument("--tenant", required=True)
    p_revoke = keys_sub.add_parser("revoke", help="revoke a key (the key or its prefix)")
    p_revoke.add_argument("key")
    client_cli.add_commands(sub)

    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is not None:
        return client_cli.run(args)
    try:
        return _server_command(args)
    except ModuleNotFoundError as exc:
        print(
            f"kalmanac {args.command}: the server's dependencies are not installed ({exc.name} "
            "is missing); install them with `pip install 'kalmanac[server]'`",
            file=sys.stderr,
        )
        return 2


def _server_command(args: argparse.Namespace) -> int:
    if args.command == "migrate":
        migrate()
    elif args.command == "serve":
        if args.migrate:
            migrate()
        return serve(args.host, args.port)
    elif args.command == "keys":
        return keys(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
