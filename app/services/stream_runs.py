"""Assimilating a stream's observations, and ensemble forecasts from it (worker side).

`cycle` drains pending observations in seq order under the stream's row lock, so any
number of workers, duplicate posts and redelivered tasks give the same analyses as one
sequential run (the numerics, with their keyed randomness, are
`models.assimilation.stream`). This module loads, calls them, and stores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.db.base import utcnow
from app.db.repositories import streams as repo
from app.db.tables import Stream
from app.services import artifacts, observers
from app.services.fitting import load_version
from app.services.forecast_runs import located, to_payload
from app.services.job_runner import JobInput, Progress, Store, run_job, store_rows
from app.services.stream_config import StreamConfig, SurrogateDynamics, VersionRef
from models.assimilation.config import FilterConfig
from models.assimilation.filters import CycleAnalysis
from models.assimilation.observer import NeuralObserver
from models.assimilation.quality import Sensors
from models.assimilation.stream import (
    Ensemble,
    Memory,
    StreamModel,
    StreamState,
    from_bytes,
    summarize,
    summarize_cycles,
    surrogate,
    to_bytes,
)
from models.dynamics.base import Dynamics
from models.dynamics.registry import make_dynamics
from models.dynamics.surrogate import WindowForecaster
from models.dynamics.surrogate_start import starting_windows

log = logging.getLogger(__name__)

BATCH = 1000  # observations assimilated per transaction
# A forecast or analysis that overflowed (e.g. an observation far off the model's scale):
# the observation is recorded as skipped and the last finite ensemble carries on.
NOT_FINITE = "the forecast or analysis overflowed; the previous ensemble was kept"
STALE = "observation time is before the stream's time"


def _forecaster(session: Session, ref: VersionRef) -> WindowForecaster:
    """A surrogate's stored forecaster (decoded once per process)."""
    forecaster = artifacts.cached(ref.version_id, lambda: load_version(session, ref.version_id))
    if not isinstance(forecaster, WindowForecaster):
        raise ValueError(f"{ref.label} has no one-step sampler")
    return forecaster


def stream_model(session: Session, config: StreamConfig) -> StreamModel:
    """A stream's numerics, with the stored versions it pinned (decoded once per process)."""
    dyn, flt = config.dynamics, config.filter
    dynamics: Dynamics
    if isinstance(dyn, SurrogateDynamics):
        dynamics = surrogate(_forecaster(session, dyn.model), flt.ensemble_size, config.seed)
    else:
        dynamics = make_dynamics(dyn.system, dyn.params)
    method: FilterConfig | NeuralObserver
    if flt.observer is not None:
        method = observers.load(session, flt.observer.version_id)
    else:
        method = FilterConfig(
            method=flt.method,  # type: ignore[arg-type]  # validated at creation
            ensemble_size=flt.ensemble_size,
            inflation=flt.inflation,  # type: ignore[arg-type]  # validated at creation
            localization_radius=flt.localization_radius,
            rotate=flt.rotate,
        )
    obs = config.observation
    return StreamModel.build(
        dynamics,
        method,
        indices=obs.indices,
        noise_std=obs.noise_std,
        dt=dyn.dt,
        seed=config.seed,
        gate=config.qc_gate,
    )


def _initial_ensemble(
    session: Session, stream: Stream, config: StreamConfig, model: StreamModel
) -> Ensemble:
    """The stream's first ensemble (or a reset's). A surrogate's members start from the
    window of initial.series; what its screening set aside and what it drew for missing
    values go on record in config.initial, by index in the series as posted."""
    init = config.initial
    if init.series is None or not isinstance(config.dynamics, SurrogateDynamics):
        return model.initial_ensemble(init.mean, init.std)
    forecaster = _forecaster(session, config.dynamics.model)
    start, report = starting_windows(
        init.series, forecaster, config.filter.ensemble_size, config.seed
    )
    for entries in report.values():
        for entry in located(entries, config.dynamics.dim == 1, None):
            entry["index"] += init.first_index
    stream.config = {**stream.config, "initial": {**stream.config["initial"], **report}}
    return model.initial_ensemble(None, 1.0, start)


@dataclass
class CycleOutcome:
    assimilated: int = 0
    skipped: int = 0
    retry_in_s: float | None = None  # a gap is awaited: run again after this long


@dataclass
class Batch:
    """What one transaction did with the pending observations it read."""

    analysed: list[tuple[repo.PendingObservation, CycleAnalysis]] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)  # before the stream's time
    diverged: list[int] = field(default_factory=list)  # overflowed: skipped
    screened_out: dict[str, list[int]] = field(default_factory=dict)  # reason -> seqs
    blocked: bool = False  # stopped at a gap that is still awaited

    def analysis_rows(self) -> list[dict[str, Any]]:
        if not self.analysed:
            return []
        means, spreads = summarize_cycles([r for _, r in self.analysed])
        return [
            {
                "seq": o.seq,
                "t": o.t,
                "innovation_rms": r.innovation_rms,
                "inflation": r.inflation,
                "mean": mean,
                "spread": spread,
                "z": None if r.screened is None else r.screened.z,
                "screening": None if r.screened is None else r.screened.code_array,
            }
            for (o, r), mean, spread in zip(self.analysed, means, spreads, strict=True)
        ]


def cycle(
    factory: sessionmaker[Session], stream_id: str, now: datetime | None = None
) -> CycleOutcome:
    """Assimilate every pending observation that can be, in seq order; persist per batch."""
    outcome = CycleOutcome()
    while True:
        with factory.begin() as session:
            stream = repo.lock(session, stream_id)
            if stream is None:
                log.warning("stream %s does not exist; dropping the task", stream_id)
                return outcome
            more = _drain_batch(session, stream, outcome, now or utcnow())
        if not more:
            return outcome


def _drain_batch(session: Session, stream: Stream, outcome: CycleOutcome, now: datetime) -> bool:
    """One transaction's worth. Returns True when another batch may be waiting."""
    config = StreamConfig.parse(stream.config)
    model = stream_model(session, config)
    E, memory = (
        from_bytes(stream.ensemble)
        if stream.ensemble is not None
        else (_initial_ensemble(session, stream, config, model), None)
    )
    if stream.n_skipped:  # only a skipped gap lets an observation arrive behind last_seq
        repo.mark_late(session, stream.id, stream.last_seq)
    pending = repo.pending(session, stream.id, stream.last_seq, BATCH)
    timeout = timedelta(seconds=config.gap_timeout_s)
    batch = Batch()
    sensors = _sensors(stream)
    # The stream's position in locals, written back once: each set of a mapped attribute
    # runs the ORM's change tracking (a few microseconds), three per observation.
    last_seq, t = stream.last_seq, stream.t
    failing_since, n_failing = stream.failing_since, stream.n_failing
    i = 0
    while i < len(pending):
        o = pending[i]
        if o.seq != last_seq + 1:
            waited = now - o.received_at
            if waited < timeout:
                outcome.retry_in_s = (timeout - waited).total_seconds() + 0.05
                batch.blocked = True
                break
            repo.add_gap(session, stream.id, last_seq + 1, o.seq - 1)
            stream.n_skipped += o.seq - 1 - last_seq
            outcome.skipped += o.seq - 1 - last_seq
        if o.t < t:
            batch.stale.append(o.seq)
            last_seq, i = o.seq, i + 1
            continue
        row = pending[i : i + (_in_a_row(pending, i) if model.runs else 1)]
        row, results, sensors = _assimilate(model, E, memory, t, row, sensors)
        for p, result in zip(row, results, strict=True):
            if result is None:
                log.warning("stream %s: seq %d skipped: %s", stream.id, p.seq, NOT_FINITE)
                batch.diverged.append(p.seq)
                failing_since, n_failing = failing_since or p.seq, n_failing + 1
                continue
            if result.E is None:
                assert result.screened is not None  # only the screening leaves nothing
                batch.screened_out.setdefault(result.screened.describe(), []).append(p.seq)
            else:
                E, memory, t = result.E, result.memory, p.t
                batch.analysed.append((p, result))
            failing_since, n_failing = None, 0  # the forecast and the analysis came out finite
        last_seq, i = row[-1].seq, i + len(row)
    stream.last_seq, stream.t = last_seq, t
    if (failing_since, n_failing) != (stream.failing_since, stream.n_failing):
        stream.failing_since, stream.n_failing = failing_since, n_failing
    stream.n_assimilated += len(batch.analysed)
    stream.sensors = sensors.to_json() or None
    stream.n_skipped += len(batch.stale) + len(batch.diverged)
    stream.n_skipped += sum(len(seqs) for seqs in batch.screened_out.values())
    _store(session, stream, batch, E, memory)
    outcome.assimilated += len(batch.analysed)
    return len(pending) == BATCH and not batch.blocked


def _in_a_row(pending: list[repo.PendingObservation], i: int) -> int:
    """How many observations from pending[i] (not stale) one compiled run may take: seqs in
    a row, at times that do not go back."""
    j = i + 1
    while (
        j < len(pending)
        and pending[j].seq == pending[j - 1].seq + 1
        and pending[j].t >= pending[j - 1].t
    ):
        j += 1
    return j - i


def _sensors(stream: Stream) -> Sensors:
    """The stream's sensor health, one per observed component."""
    return Sensors.from_json(stream.sensors) if stream.sensors else Sensors.new(stream.obs_dim)


def _assimilate(
    model: StreamModel,
    E: Ensemble,
    memory: Memory | None,
    t: float,
    row: list[repo.PendingObservation],
    sensors: Sensors,
) -> tuple[list[repo.PendingObservation], list[CycleAnalysis | None], Sensors]:
    """Observations in a row from t (none stale), as many as one call takes: all of them in
    one compiled run where the model has one, else the first alone, leaving out the sensors
    that have failed. -> the observations taken, their results, the sensors after them."""
    if model.runs:
        ran = model.run(E, t, [(o.t, o.values, o.noise_std) for o in row], sensors, memory)
        if ran is not None:
            return row, *ran
    o = row[0]
    failed, recent = sensors.failed, sensors.recent
    result = model.cycle(E, t, o.t, o.values, o.seq, o.noise_std, failed, recent, memory)
    if result is not None and result.screened is not None:
        sensors = sensors.update(result.screened)
    return row[:1], [result], sensors


def _store(
    session: Session, stream: Stream, batch: Batch, E: Ensemble, memory: Memory | None
) -> None:
    # The stream's row first: the statements below flush it as one UPDATE, not two.
    if stream.ensemble is None or batch.analysed:
        stream.ensemble = to_bytes(E, memory)
        last = batch.analysed[-1][1].extra_var if batch.analysed else None
        stream.mean, stream.spread = summarize(E, last)
        stream.updated_at = utcnow()  # when this batch's analyses were stored
    repo.add_analyses(session, stream.id, batch.analysis_rows())
    done = [o.seq for o, _ in batch.analysed]
    repo.mark_observations(session, stream.id, done, "assimilated")
    repo.mark_observations(session, stream.id, batch.stale, "skipped", STALE)
    repo.mark_observations(session, stream.id, batch.diverged, "skipped", NOT_FINITE)
    for reason, seqs in batch.screened_out.items():
        repo.mark_observations(session, stream.id, seqs, "skipped", reason[:200])


def forecast_compute(factory: sessionmaker[Session]) -> Any:
    """The compute step of a stream-forecast job: every member from the latest analysis."""

    def compute(job: JobInput, progress: Progress) -> Store:
        request = job.request
        with factory() as session:
            stream = repo.get(session, request["stream_id"])
            if stream is None or stream.ensemble is None:
                raise ValueError("the stream has no ensemble yet; try again in a moment")
            model = stream_model(session, StreamConfig.parse(stream.config))
            start = StreamState(
                from_bytes(stream.ensemble)[0], stream.spread, stream.t, stream.last_seq
            )
            name = stream.name
        result = model.forecast(
            start, int(request["horizon"]), request["levels"], request["quantiles"], progress
        )
        payload = to_payload(result.forecast, result.univariate, result.fitted, timestamps=None)
        payload["times"] = result.times
        return store_rows([(name or request["stream_id"], payload)])

    return compute


def run_forecast(factory: sessionmaker[Session], job_id: str, worker: str) -> str:
    return run_job(factory, job_id, worker, forecast_compute(factory))
