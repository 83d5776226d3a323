"""The client side of the `kalmanac` command: forecast, backtest, forecasts, kinds, models,
jobs, stream.

`app.cli` (the server's commands: serve, migrate, keys) adds these to its parser with
`add_commands`; `python -m kalmanac` runs them alone where only the client is installed.

Exit codes: 0 done; 1 the server refused the request or the job failed; 2 bad usage or an
unusable input file; 3 the server could not be reached; 4 a job or wait timed out.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from kalmanac.cli import forecasting, resources
from kalmanac.cli.inputs import InputError
from kalmanac.client import DEFAULT_URL, Client
from kalmanac.errors import JobTimeout, KalmanacError


def connection_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument(
        "--url",
        default=os.environ.get("KALMANAC_URL", DEFAULT_URL),
        help="server (env KALMANAC_URL; default %(default)s)",
    )
    group.add_argument(
        "--api-key", default=os.environ.get("KALMANAC_API_KEY"), help="env KALMANAC_API_KEY"
    )
    group.add_argument(
        "--timeout", type=float, help="seconds to wait for a job (default: no limit)"
    )
    group.add_argument("--retries", type=int, default=4, help="on 429/503/connection errors")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parent


def add_commands(sub: Any) -> None:
    """Adds the client commands to a subparsers object; each sets `handler`."""
    parent = connection_options()
    forecasting.add_commands(sub, parent)
    resources.add_commands(sub, parent)


def report(error: KalmanacError) -> None:
    """The server's words: the code, then each field and its reason on its own line."""
    head = f"{error.status} {error.code}" if error.status is not None else error.code
    print(f"error: {head}" + (f": {error.message}" if error.message else ""), file=sys.stderr)
    for d in error.details:
        print(f"  {d.field or '(request)'}: {d.msg}", file=sys.stderr)
    if error.retry_after is not None:
        print(f"  retry after {error.retry_after:g} s", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Runs a parsed client command; errors become a message on stderr and an exit code."""
    try:
        with Client(args.url, api_key=args.api_key, retries=args.retries) as client:
            return int(args.handler(client, args))
    except JobTimeout as exc:
        report(exc)
        return 4
    except KalmanacError as exc:
        report(exc)
        return 3 if exc.code == "connection_error" else 1
    except BrokenPipeError:
        # The reader went away (`kalmanac jobs list | head`): stop quietly, as Unix tools do;
        # stdout goes to /dev/null so that the interpreter's last flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (InputError, ValueError, TypeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # an optional extra not installed: its message says which
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TimeoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kalmanac", description=__doc__.split("\n")[0])
    add_commands(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))
