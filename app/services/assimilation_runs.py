"""Assimilating a stream's observations, and ensemble forecasts from it (worker side).

`cycle` drains pending observations in seq order under the stream's row lock, so any
number of workers, duplicate posts and redelivered tasks give the same analyses as one
sequential run. Randomness (initial draw, perturbed observations, rotations) comes from
generators keyed by (stream seed, seq), so batching never changes the numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from sqlalchemy.orm import Session, sessionmaker

from app.db.base import utcnow
from app.db.repositories import streams as repo
from app.db.tables import Stream
from app.services.forecast_runs import to_payload
from app.services.job_runner import JobInput, Progress, Store, run_job, store_rows
from models.assimilation import FilterConfig, LinearObs, analysis, ensemble_init
from models.dynamics import Dynamics, integrate, make_dynamics
from models.forecasting import summarize_samples

log = logging.getLogger(__name__)

BATCH = 1000  # observations assimilated per transaction
# A forecast or analysis that overflowed (e.g. an observation far off the model's scale):
# the observation is recorded as skipped and the last finite ensemble carries on.
NOT_FINITE = "the forecast or analysis overflowed; the previous ensemble was kept"
DTYPE = torch.float64


@dataclass(frozen=True)
class Setup:
    """A stream's numerics, rebuilt from its stored config."""

    dynamics: Dynamics
    dt: float
    obs: LinearObs
    filter: FilterConfig

    @property
    def random(self) -> bool:
        """Whether an analysis draws random numbers (perturbed observations, rotations)."""
        return self.filter.method == "enkf" or self.filter.rotate

    @classmethod
    def of(cls, config: dict[str, Any]) -> Setup:
        dyn, obs, flt = config["dynamics"], config["observation"], config["filter"]
        dynamics = make_dynamics(dyn["system"], dyn["params"])
        n = dynamics.n
        return cls(
            dynamics=dynamics,
            dt=float(dyn["dt"]),
            obs=(
                LinearObs.identity(n, obs["noise_std"])
                if obs["indices"] is None
                else LinearObs.subset(n, obs["indices"], obs["noise_std"])
            ),
            filter=FilterConfig(
                method=flt["method"],
                ensemble_size=flt["ensemble_size"],
                inflation=flt["inflation"],
                localization_radius=flt["localization_radius"],
                rotate=flt["rotate"],
            ),
        )


def generator(seed: int, seq: int) -> torch.Generator:
    key = int(np.random.SeedSequence([seed, seq]).generate_state(1, np.uint64)[0] >> 1)
    return torch.Generator().manual_seed(key)


def to_bytes(E: torch.Tensor) -> bytes:
    return save_tensors({"E": E.detach().contiguous().cpu()})


def from_bytes(data: bytes) -> torch.Tensor:
    return load_tensors(data)["E"]


def _summary(E: torch.Tensor, dim: int = 0) -> tuple[list[Any], list[Any]]:
    """Ensemble mean and spread (std over members, axis `dim`), as lists."""
    return E.mean(dim).tolist(), E.std(dim, unbiased=True).tolist()


def initial_ensemble(stream: Stream, n: int, N: int) -> torch.Tensor:
    initial = stream.config["initial"]
    mean = torch.tensor(initial["mean"] or [0.0] * n, dtype=DTYPE)
    return ensemble_init(mean, float(initial["std"]), N, generator(stream.seed, 0))


@dataclass
class CycleOutcome:
    assimilated: int = 0
    skipped: int = 0
    retry_in_s: float | None = None  # a gap is awaited: run again after this long


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
    setup = Setup.of(stream.config)
    N = setup.filter.ensemble_size
    E = (
        from_bytes(stream.ensemble)
        if stream.ensemble is not None
        else initial_ensemble(stream, stream.state_dim, N)
    )
    repo.mark_late(session, stream.id, stream.last_seq)
    pending = repo.pending(session, stream.id, stream.last_seq, BATCH)
    timeout = timedelta(seconds=float(stream.config["gap_timeout_s"]))
    analyses: list[dict[str, Any]] = []
    ensembles: list[torch.Tensor] = []
    done: list[int] = []
    stale: list[int] = []
    diverged: list[int] = []
    blocked = False
    for o in pending:
        if o.seq != stream.last_seq + 1:
            waited = now - o.received_at
            if waited < timeout:
                outcome.retry_in_s = (timeout - waited).total_seconds() + 0.05
                blocked = True
                break
            repo.add_gap(session, stream.id, stream.last_seq + 1, o.seq - 1)
            stream.n_skipped += o.seq - 1 - stream.last_seq
            outcome.skipped += o.seq - 1 - stream.last_seq
        if o.t < stream.t:
            stale.append(o.seq)
        elif (result := _assimilate(E, o, stream, setup)) is None:
            diverged.append(o.seq)
        else:
            E, row = result
            analyses.append(row)
            ensembles.append(E)
            done.append(o.seq)
            stream.t = o.t
            stream.n_assimilated += 1
        stream.last_seq = o.seq
    if analyses:  # mean and spread of every analysis at once: per-analysis calls add up
        means, spreads = _summary(torch.stack(ensembles), dim=1)
        for row, mean, spread in zip(analyses, means, spreads, strict=True):
            row["mean"], row["spread"] = mean, spread
    repo.add_analyses(session, stream.id, analyses)
    repo.mark_observations(session, stream.id, done, "assimilated")
    repo.mark_observations(
        session, stream.id, stale, "skipped", "observation time is before the stream's time"
    )
    repo.mark_observations(session, stream.id, diverged, "skipped", NOT_FINITE)
    outcome.assimilated += len(done)
    if stream.ensemble is None or analyses:
        stream.ensemble = to_bytes(E)
        stream.mean, stream.spread = _summary(E)
        stream.updated_at = now
    return len(pending) == BATCH and not blocked


def _assimilate(
    E: torch.Tensor, o: repo.PendingObservation, stream: Stream, setup: Setup
) -> tuple[torch.Tensor, dict[str, Any]] | None:
    """The analysis at o, or None when it overflowed (the ensemble is then kept)."""
    Ef = integrate(setup.dynamics, E, stream.t, o.t, setup.dt)
    y = torch.tensor(o.values, dtype=E.dtype)
    try:  # an overflowed forecast gives a non-finite analysis, or fails to decompose
        Ea, info = analysis(
            Ef,
            y,
            setup.obs,
            setup.filter,
            periodic=setup.dynamics.periodic,
            generator=generator(stream.seed, o.seq) if setup.random else None,
        )
        if not bool(torch.isfinite(Ea).all()):
            raise OverflowError("analysis")
    except (OverflowError, torch.linalg.LinAlgError) as exc:
        log.warning("stream %s: seq %d skipped: %s (%s)", stream.id, o.seq, NOT_FINITE, exc)
        return None
    return Ea, {
        "seq": o.seq,
        "t": o.t,
        "innovation_rms": float(info.innovation.pow(2).mean().sqrt()),
        "inflation": float(info.inflation.mean()),
    }


def forecast_compute(factory: sessionmaker[Session]) -> Any:
    """The compute step of a stream-forecast job: integrate every member from the latest state."""

    def compute(job: JobInput, progress: Progress) -> Store:
        request = job.request
        with factory() as session:
            stream = repo.get(session, request["stream_id"])
            if stream is None or stream.ensemble is None:
                raise ValueError("the stream has no ensemble yet; try again in a moment")
            setup, E, t0, name = (
                Setup.of(stream.config),
                from_bytes(stream.ensemble),
                stream.t,
                stream.name,
            )
        horizon = int(request["horizon"])
        path = torch.empty((E.shape[0], horizon, E.shape[1]), dtype=E.dtype)
        for k in range(horizon):
            E = setup.dynamics.step(E, setup.dt)
            path[:, k] = E
            progress((k + 1) / horizon)
        X = path.numpy()
        # Deterministic dynamics: member spread is all the uncertainty there is (epistemic).
        forecast = summarize_samples(X, X, request["levels"], request["quantiles"])
        payload = to_payload(
            forecast, univariate=False, fitted={"t0": t0, "dt": setup.dt}, timestamps=None
        )
        payload["times"] = [t0 + setup.dt * (k + 1) for k in range(horizon)]
        return store_rows([(name or request["stream_id"], payload)])

    return compute


def run_forecast(factory: sessionmaker[Session], job_id: str, worker: str) -> str:
    return run_job(factory, job_id, worker, forecast_compute(factory))
