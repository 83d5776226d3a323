"""`kalmanac forecast` and `kalmanac backtest`: a series from a CSV or Parquet file;
`kalmanac kinds`: what `--model` may name."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kalmanac.cli.inputs import InputError, read_future, read_series
from kalmanac.cli.progress import ProgressBar
from kalmanac.cli.tables import forecast_table
from kalmanac.client import Client
from kalmanac.results import SeriesForecast
from kalmanac.series import is_long_frame


def model_arg(args: argparse.Namespace) -> str | dict[str, Any] | None:
    """--model KIND | NAME@VERSION | NAME@ALIAS, with --params JSON for a kind."""
    model: str | None = args.model
    if args.params is None:
        return model
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as exc:
        raise InputError(f"--params: not JSON ({exc})") from exc
    if "@" in (args.model or ""):
        raise InputError("--params applies to a model kind, not a stored version")
    # Without --model the server applies the params to its default kind.
    return {"params": params} if args.model is None else {"kind": args.model, "params": params}


def add_series_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="CSV or Parquet (.parquet); '-' reads CSV from stdin")
    p.add_argument("--horizon", type=int, required=True, help="steps ahead")
    p.add_argument("--levels", type=float, nargs="+", default=[80, 95], help="interval levels, %%")
    p.add_argument(
        "--model",
        help="a kind (`kalmanac kinds` lists them; default: the server's default kind), "
        "NAME@VERSION or NAME@ALIAS",
    )
    p.add_argument("--params", help="model params as JSON, e.g. '{\"max_lag\": 24}'")
    p.add_argument("--time-column", help="column of times (default: time/date/ds/... if any)")
    p.add_argument("--columns", nargs="+", help="value columns (default: every numeric one)")
    p.add_argument("--num-samples", type=int)
    p.add_argument("--seed", type=int)


def add_commands(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("forecast", parents=[parent], help="forecast a series from a file")
    add_series_args(p)
    p.add_argument("--quantiles", type=float, nargs="+", default=[])
    p.add_argument("--conformal", action="store_true", help="also split-conformal intervals")
    p.add_argument("--plot", metavar="PNG", help="write a fan chart to this file")
    p.add_argument("--format", choices=["table", "csv"], default="table")
    p.add_argument(
        "--future",
        metavar="FILE",
        help="the covariates' future (unique_id, ds and the covariate columns), for a "
        "long-format file (unique_id, ds, y, covariates...)",
    )
    p.add_argument("--freq", help="time step of the timestamps (e.g. 15min, 1h, D, MS)")
    p.add_argument("--nonnegative", action="store_true", help="keep the forecast >= 0")
    p.add_argument(
        "--anomalies", type=float, metavar="LEVEL", help="list past readings outside LEVEL%% "
        "one-step-ahead intervals",
    )  # fmt: skip
    p.add_argument(
        "--exclude-anomalies",
        action="store_true",
        help="with --anomalies: fit through the flagged readings as missing values",
    )
    add_keep_outliers(p, "and listed on stderr")
    p.set_defaults(handler=forecast)

    p = sub.add_parser("backtest", parents=[parent], help="rolling-origin backtest of a file")
    add_series_args(p)
    p.add_argument("--folds", type=int, default=5)
    add_keep_outliers(p, "in each fold")
    p.set_defaults(handler=backtest)

    shows = sub.add_parser("forecasts", help="finished forecasts").add_subparsers(
        dest="forecasts_command", required=True
    )
    p = shows.add_parser("show", parents=[parent], help="a forecast's numbers, per series")
    p.add_argument("forecast_id")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(handler=forecasts_show)

    p = sub.add_parser("kinds", parents=[parent], help="the model kinds the server fits")
    p.add_argument("--params", action="store_true", help="also each kind's parameters")
    p.set_defaults(handler=kinds)


def add_keep_outliers(p: argparse.ArgumentParser, where: str) -> None:
    p.add_argument(
        "--keep-outliers",
        action="store_true",
        help=f"fit every reading (by default gross faults are fitted through as missing "
        f"values, {where})",
    )


def forecasts_show(client: Client, args: argparse.Namespace) -> int:
    """The numbers of a forecast (one table per series), or why there are none yet."""
    forecast = client.get_forecast(args.forecast_id)
    job = forecast.job
    if job.status != "succeeded":
        reason = f": {job.error['message']}" if job.error else ""
        print(f"forecast {job.id} is {job.status}{reason}", file=sys.stderr)
        return 1 if job.status in ("failed", "cancelled") else 4
    if args.format == "json":
        rows = {
            sid: s.to_frame().reset_index().to_dict("list") for sid, s in forecast.series.items()
        }
        print(json.dumps(rows, default=str))
        return 0
    for i, (sid, s) in enumerate(forecast.series.items()):
        if len(forecast.series) > 1:
            print(("\n" if i else "") + f"# {sid}")
        print(forecast_table(s, args.format))
    return 0


def kinds(client: Client, args: argparse.Namespace) -> int:
    for k in client.kinds():
        mark = " (default)" if k["default"] else ""
        print(f"{k['name']}{mark}: {k['summary']}")
        if args.params:
            for name, field in k["params"].get("properties", {}).items():
                default = field.get("default")
                note = field.get("description", "")
                print(f"    {name} = {json.dumps(default)}" + (f"  {note}" if note else ""))
    return 0


def forecast(client: Client, args: argparse.Namespace) -> int:
    history = read_series(args.file, args.time_column, args.columns)
    long = is_long_frame(history)
    if long and args.plot:
        raise InputError(f"{args.file}: --plot draws one series of a wide file, not a long one")
    result = client.forecast(
        history,
        horizon=args.horizon,
        levels=args.levels,
        quantiles=args.quantiles,
        model=model_arg(args),
        num_samples=args.num_samples,
        seed=args.seed,
        calibration="conformal" if args.conformal else None,
        X_df=read_future(args.future) if args.future else None,
        freq=args.freq,
        support="nonnegative" if args.nonnegative else None,
        detect_anomalies=args.anomalies,
        exclude_anomalies=args.exclude_anomalies,
        outliers="keep" if args.keep_outliers else None,
        timeout=args.timeout,
        progress=None if args.quiet else ProgressBar(),
    )
    if long:
        frame = result.to_frame()
        print(frame.to_csv(index=False) if args.format == "csv" else frame.to_string(index=False))
        for series in result.series.values():
            _print_anomalies(series, prefix=f"{series.id}: ")
        return 0
    series = result[0]
    print(forecast_table(series, args.format))
    _print_anomalies(series)
    if args.plot:
        from kalmanac.cli.plot import fan_chart

        fan_chart(history, series, args.plot)
        if not args.quiet:
            print(f"fan chart written to {args.plot}", file=sys.stderr)
    return 0


def _print_anomalies(series: SeriesForecast, prefix: str = "") -> None:
    """The set-aside and flagged past readings, the drivers' too, on stderr (stdout stays
    the forecast's table)."""
    drivers = series.fitted.get("covariates", {}).get("set_aside", [])
    for what, why, readings in (
        ("set aside", "a gross fault, fitted as missing", series.set_aside),
        ("anomaly", None, series.anomalies),
        ("set aside", "a gross fault, interpolated", drivers),
    ):
        for a in readings:
            when = a.get("timestamp") or f"index {a['index']}"
            expected = a["expected"] if a["expected"] is None else format(a["expected"], ".6g")
            where = f" in {a['covariate']}" if "covariate" in a else ""
            where += "'s future" if a.get("future") else ""
            line = f"{what}{where} at {when}: {a['value']:.6g}"
            print(f"{prefix}{line} ({why or a['reason']}, expected {expected})", file=sys.stderr)


def backtest(client: Client, args: argparse.Namespace) -> int:
    history = read_series(args.file, args.time_column, args.columns)
    result = client.backtest(
        history,
        horizon=args.horizon,
        folds=args.folds,
        levels=args.levels,
        model=model_arg(args),
        num_samples=args.num_samples,
        seed=args.seed,
        outliers="keep" if args.keep_outliers else None,
        timeout=args.timeout,
        progress=None if args.quiet else ProgressBar(),
    )
    frame = result.to_frame().T
    print(frame.to_string(float_format=lambda x: f"{x:.4f}"))
    return 0
