"""`kalmanac models|jobs|stream ...`: the service's resources from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kalmanac._ops import model_spec
from kalmanac.cli.inputs import InputError, read_observations, read_series
from kalmanac.cli.progress import ProgressBar
from kalmanac.cli.tables import forecast_table, rows
from kalmanac.client import Client
from kalmanac.results import Job
from kalmanac.series import is_long_frame


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def add_commands(sub: Any, parent: argparse.ArgumentParser) -> None:
    models = sub.add_parser("models", help="model versions and aliases").add_subparsers(
        dest="models_command", required=True
    )
    p = models.add_parser("list", parents=[parent], help="models with their latest version")
    p.set_defaults(handler=models_list)
    p = models.add_parser("show", parents=[parent], help="a model's versions")
    p.add_argument("name")
    p.add_argument("--version", type=int, help="one version in full (JSON)")
    p.set_defaults(handler=models_show)
    p = models.add_parser("alias", parents=[parent], help="point an alias at a version")
    p.add_argument("name")
    p.add_argument("alias")
    p.add_argument("version", type=int)
    p.set_defaults(handler=models_alias)

    jobs = sub.add_parser("jobs", help="job history").add_subparsers(
        dest="jobs_command", required=True
    )
    p = jobs.add_parser("list", parents=[parent], help="newest first")
    p.add_argument("--status", choices=["queued", "running", "succeeded", "failed", "cancelled"])
    p.add_argument("--kind")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(handler=jobs_list)
    for name, handler, text in (
        ("show", jobs_show, "one job (add --wait to wait for it)"),
        ("cancel", jobs_cancel, "cancel a queued or running job"),
    ):
        p = jobs.add_parser(name, parents=[parent], help=text)
        p.add_argument("job_id")
        p.set_defaults(handler=handler)
        if name == "show":
            p.add_argument("--wait", action="store_true", help="wait until it is final")

    add_stream_commands(sub, parent)


def models_list(client: Client, args: argparse.Namespace) -> int:
    page = client.list_models()
    data = [
        (m.name, m.latest_version, ", ".join(f"{a}={v}" for a, v in m.aliases.items()))
        for m in page.items
    ]
    print(rows(("name", "latest", "aliases"), data) if data else "no models")
    return 0


def models_show(client: Client, args: argparse.Namespace) -> int:
    if args.version is not None:
        v = client.get_version(args.name, args.version)
        print(json.dumps({**v.__dict__, "created_at": _when(v.created_at)}, indent=2))
        return 0
    model = client.get_model(args.name)
    data = [
        (
            v.version,
            v.kind,
            _when(v.created_at),
            ", ".join(v.aliases),
            v.parent_version,
            v.data_fingerprint[:12],
            v.artifact_bytes,
        )
        for v in model.versions
    ]
    headers = ("version", "kind", "created", "aliases", "parent", "data", "bytes")
    print(rows(headers, data))
    return 0


def models_alias(client: Client, args: argparse.Namespace) -> int:
    model = client.set_alias(args.name, args.alias, args.version)
    print(f"{model.name}@{args.alias} -> version {model.aliases[args.alias]}")
    return 0


def _job_row(j: Job) -> tuple[Any, ...]:
    return (j.id, j.kind, j.status, f"{j.progress:.0%}", _when(j.created_at), j.device or "")


def jobs_list(client: Client, args: argparse.Namespace) -> int:
    page = client.list_jobs(status=args.status, kind=args.kind, limit=args.limit)
    headers = ("id", "kind", "status", "progress", "created", "device")
    print(rows(headers, [_job_row(j) for j in page.items]) if page.items else "no jobs")
    return 0


def _print_job(job: Job) -> None:
    for key, value in job.__dict__.items():
        if key.endswith("_at"):
            value = _when(value)
        elif isinstance(value, dict):
            value = json.dumps(value) if value else ""
        print(f"{key:<12} {'' if value is None else value}")


def jobs_show(client: Client, args: argparse.Namespace) -> int:
    if args.wait:
        progress = None if args.quiet else ProgressBar()
        job = client.wait_job(args.job_id, timeout=args.timeout, progress=progress)
    else:
        job = client.get_job(args.job_id)
    _print_job(job)
    return 0 if job.status != "failed" else 1


def jobs_cancel(client: Client, args: argparse.Namespace) -> int:
    _print_job(client.cancel_job(args.job_id))
    return 0


SERIES_HELP = (
    "model streams: CSV or Parquet of the series up to t0 (as `kalmanac forecast` reads it; "
    "empty cells are missing values)"
)


def add_stream_commands(sub: Any, parent: argparse.ArgumentParser) -> None:
    streams = sub.add_parser("stream", help="online data assimilation").add_subparsers(
        dest="stream_command", required=True
    )
    p = streams.add_parser("create", parents=[parent], help="open a stream; prints its id")
    p.add_argument("--system", choices=["lorenz63", "lorenz96", "ks"], help="default lorenz63")
    p.add_argument(
        "--model", help="NAME@VERSION or NAME@ALIAS: a stored forecaster as the dynamics (a "
        "learned surrogate), with --series",
    )  # fmt: skip
    p.add_argument("--series", help=SERIES_HELP)
    p.add_argument("--system-params", help='JSON, e.g. \'{"n": 40, "F": 8}\'')
    p.add_argument("--dt", type=float)
    p.add_argument("--indices", type=int, nargs="+", help="observed components (default all)")
    p.add_argument("--noise-std", type=float, default=1.0)
    p.add_argument("--method", choices=["enkf", "etkf", "letkf"], default="etkf")
    p.add_argument("--ensemble-size", type=int)
    p.add_argument("--inflation", help='a factor >= 1, "adaptive" or "enkf_n"')
    p.add_argument("--localization-radius", type=float)
    p.add_argument("--initial-mean", type=float, nargs="+")
    p.add_argument("--initial-std", type=float)
    p.add_argument("--name")
    p.add_argument("--seed", type=int)
    p.add_argument("--gap-timeout", type=float, help="seconds a missing seq is awaited")
    p.set_defaults(handler=stream_create)

    p = streams.add_parser("push", parents=[parent], help="push observations from CSV/Parquet")
    p.add_argument("stream_id")
    p.add_argument("file", nargs="?", default="-", help="seq,t,v0,... or t,v0,...; '-': stdin")
    p.add_argument("--with-seq", action="store_true", help="a headerless file starts with seq")
    p.add_argument("--start-seq", type=int, help="first seq for rows without one")
    p.add_argument("--wait", action="store_true", help="wait until all are assimilated")
    p.set_defaults(handler=stream_push)

    p = streams.add_parser("watch", parents=[parent], help="print analyses as they come")
    p.add_argument("stream_id")
    p.add_argument("--after-seq", type=int, default=0)
    p.add_argument("--count", type=int, help="stop after this many")
    p.set_defaults(handler=stream_watch)

    p = streams.add_parser("show", parents=[parent], help="a stream's current state")
    p.add_argument("stream_id")
    p.set_defaults(handler=stream_show)
    p = streams.add_parser("forecast", parents=[parent], help="ensemble forecast")
    p.add_argument("stream_id")
    p.add_argument("--horizon", type=int, default=20)
    p.add_argument("--levels", type=float, nargs="+", default=[80, 95])
    p.set_defaults(handler=stream_forecast)
    p = streams.add_parser("reset", parents=[parent], help="redraw a diverged ensemble")
    p.add_argument("stream_id")
    p.add_argument("--initial-mean", type=float, nargs="+")
    p.add_argument("--initial-std", type=float)
    p.add_argument("--series", help=SERIES_HELP.replace("t0", "the stream's time"))
    p.set_defaults(handler=stream_reset)
    p = streams.add_parser("close", parents=[parent], help="close (history stays)")
    p.add_argument("stream_id")
    p.set_defaults(handler=stream_close)


def _json_arg(name: str, text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError as exc:
        raise InputError(f"{name}: not JSON ({exc})") from exc


def _given(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def stream_create(client: Client, args: argparse.Namespace) -> int:
    inflation: Any = args.inflation
    if inflation is not None and inflation not in ("adaptive", "enkf_n"):
        try:
            inflation = float(inflation)
        except ValueError as exc:
            raise InputError('--inflation: a number >= 1, "adaptive" or "enkf_n"') from exc
    if args.model is not None:
        if args.system is not None or args.series is None:
            raise InputError("--model: give --series (the series up to now), not --system")
        dynamics: dict[str, Any] = {"model": model_spec(args.model)}
    else:
        dynamics = {
            "system": args.system or "lorenz63",
            **_given(params=_json_arg("--system-params", args.system_params), dt=args.dt),
        }
    series = None if args.series is None else _series_values(args.series)
    stream = client.create_stream(
        dynamics,
        observation={"indices": args.indices, "noise_std": args.noise_std},
        filter={
            "method": args.method,
            **_given(
                ensemble_size=args.ensemble_size,
                inflation=inflation,
                localization_radius=args.localization_radius,
            ),
        },
        initial=_given(mean=args.initial_mean, std=args.initial_std, series=series) or None,
        name=args.name,
        seed=args.seed,
        gap_timeout_s=args.gap_timeout,
    )
    print(stream.id)
    if not args.quiet:
        print(f"# stream {stream.name or stream.id} opened at t={stream.t:g}", file=sys.stderr)
    return 0


def stream_push(client: Client, args: argparse.Namespace) -> int:
    frame = read_observations(args.file, args.with_seq)
    pushed = client.push(args.stream_id, frame, start_seq=args.start_seq)
    print(
        f"accepted {pushed.accepted}, duplicates {pushed.duplicates}, "
        f"pending {pushed.pending}, last_seq {pushed.last_seq}"
    )
    if args.wait:
        last = int(frame["seq"].max()) if "seq" in frame.columns else None
        if last is None:
            last = pushed.last_seq + pushed.pending
        stream = client.wait_assimilated(args.stream_id, last, timeout=args.timeout)
        print(f"assimilated to seq {stream.last_seq}, t={stream.t:g}")
    return 0


def _fmt(values: Any) -> str:
    return " ".join(f"{v:.4g}" for v in values)


def stream_watch(client: Client, args: argparse.Namespace) -> int:
    print("seq  t  innovation_rms  mean  [readings rejected by quality control]", flush=True)
    for n, a in enumerate(client.watch(args.stream_id, after_seq=args.after_seq), 1):
        # Which of the observation's components were present but not used: a user watching
        # a sensor's spike sees it kept out, not only a smaller innovation.
        rejected = f"  rejected {a.rejected}" if a.rejected else ""
        print(f"{a.seq}  {a.t:g}  {a.innovation_rms:.4g}  {_fmt(a.mean)}{rejected}", flush=True)
        if args.count is not None and n >= args.count:
            break
    return 0


def stream_show(client: Client, args: argparse.Namespace) -> int:
    s = client.get_stream(args.stream_id)
    print(
        rows(
            ("id", "status", "t", "last_seq", "assimilated", "skipped", "pending"),
            [(s.id, s.status, f"{s.t:g}", s.last_seq, s.n_assimilated, s.n_skipped, s.pending)],
        )
    )
    if s.mean is not None and s.spread is not None:
        print(f"mean    {_fmt(s.mean)}\nspread  {_fmt(s.spread)}")
    if s.health.get("status") != "ok":
        print(f"health  {s.health['status']}: {s.health.get('detail')}")
    return 0


def stream_forecast(client: Client, args: argparse.Namespace) -> int:
    result = client.stream_forecast(
        args.stream_id, args.horizon, levels=args.levels, timeout=args.timeout
    )
    print(forecast_table(result[0]))
    return 0


def _series_values(path: str) -> Any:
    """A model stream's series from a file, read as `kalmanac forecast` reads one: (T,) or
    (T, d) values, NaN where missing (the server draws those)."""
    history = read_series(path)
    if is_long_frame(history):
        raise InputError(f"{path}: one series (wide), not a long-format file")
    return history.to_numpy(dtype=float)


def stream_reset(client: Client, args: argparse.Namespace) -> int:
    series = None if args.series is None else _series_values(args.series)
    s = client.reset_stream(
        args.stream_id, mean=args.initial_mean, std=args.initial_std, series=series
    )
    print(f"stream {s.id}: ensemble redrawn at t={s.t:g}")
    return 0


def stream_close(client: Client, args: argparse.Namespace) -> int:
    s = client.close_stream(args.stream_id)
    print(f"stream {s.id} {s.status}")
    return 0
