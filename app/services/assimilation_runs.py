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
from typing import Any, NamedTuple

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from sqlalchemy.orm import Session, sessionmaker

from app.db.base import utcnow
from app.db.repositories import streams as repo
from app.db.tables import Stream
from app.services import observers, surrogate_runs
from app.services.forecast_runs import to_payload
from app.services.job_runner import JobInput, Progress, Store, run_job, store_rows
from models.assimilation import FilterConfig, LinearObs, analysis, ensemble_init
from models.assimilation.observer import NeuralObserver
from models.dynamics import Dynamics, integrate, make_dynamics
from models.dynamics.surrogate import SurrogateDynamics
from models.forecasting import summarize_samples

log = logging.getLogger(__name__)

BATCH = 1000  # observations assimilated per transaction
# A forecast or analysis that overflowed (e.g. an observation far off the model's scale):
# the observation is recorded as skipped and the last finite ensemble carries on.
NOT_FINITE = "the forecast or analysis overflowed; the previous ensemble was kept"
DTYPE = torch.float64
SINGLE_DRAWS = 64  # forecast paths of a one-member (single observer) stream


class Analysed(NamedTuple):
    """One analysis: the ensemble, the variance its members do not show (a neural
    observer's predicted error variance; None for the EnKF family), and diagnostics."""

    E: torch.Tensor
    extra_var: torch.Tensor | None
    innovation_rms: float
    inflation: float | None


@dataclass(frozen=True)
class Setup:
    """A stream's numerics, rebuilt from its stored config."""

    dynamics: Dynamics
    dt: float
    obs: LinearObs
    filter: FilterConfig | None  # the EnKF family
    observer: NeuralObserver | None = None

    @property
    def random(self) -> bool:
        """Whether an analysis draws random numbers (perturbed observations, rotations)."""
        return self.filter is not None and (self.filter.method == "enkf" or self.filter.rotate)

    @classmethod
    def of(cls, config: dict[str, Any], session: Session) -> Setup:
        dyn, obs, flt = config["dynamics"], config["observation"], config["filter"]
        dynamics: Dynamics
        indices = obs["indices"]
        if "model" in dyn:  # a learned surrogate: it observes the series' newest value
            dynamics = surrogate_runs.load(session, config)
            indices = dynamics.newest_indices(indices)
        else:
            dynamics = make_dynamics(dyn["system"], dyn["params"])
        n = dynamics.n
        operator = LinearObs(n, indices=indices, noise_std=obs["noise_std"])  # None: all
        if flt["method"] == "observer":
            observer = observers.load(session, flt["model"]["version_id"])
            return cls(dynamics, float(dyn["dt"]), operator, None, observer)
        return cls(
            dynamics=dynamics,
            dt=float(dyn["dt"]),
            obs=operator,
            filter=FilterConfig(
                method=flt["method"],
                ensemble_size=flt["ensemble_size"],
                inflation=flt["inflation"],
                localization_radius=flt["localization_radius"],
                rotate=flt["rotate"],
            ),
        )

    def dynamics_up_to(self, seed: int, seq: int) -> Dynamics:
        """The dynamics for the steps up to observation seq: a surrogate's step noise is
        keyed by (seed, seq), so batching never changes it."""
        if isinstance(self.dynamics, SurrogateDynamics):
            return surrogate_runs.up_to(self.dynamics, seed, seq)
        return self.dynamics

    def cycle(
        self, E: torch.Tensor, t0: float, t1: float, y: torch.Tensor, seq_key: tuple[int, int]
    ) -> Analysed:
        """The members forecast from t0 to t1, then the analysis with y observed at t1.
        seq_key: (stream seed, observation seq), which keys all randomness of the cycle."""
        dynamics = self.dynamics_up_to(*seq_key)
        if self.observer is not None:  # one call: on Lorenz-96, one compiled kernel
            Ef, Ea, var = self.observer.cycle(dynamics, E, t0, t1, self.dt, y)
            innovation = y - self.obs.H_apply(Ef.mean(0))
            return Analysed(Ea, var.mean(0), float(innovation.pow(2).mean().sqrt()), None)
        Ef = integrate(dynamics, E, t0, t1, self.dt)
        gen = generator(*seq_key) if self.random else None
        assert self.filter is not None
        Ea, info = analysis(
            Ef, y, self.obs, self.filter, periodic=self.dynamics.periodic, generator=gen
        )
        return Analysed(
            Ea, None, float(info.innovation.pow(2).mean().sqrt()), float(info.inflation.mean())
        )


def generator(seed: int, seq: int) -> torch.Generator:
    key = int(np.random.SeedSequence([seed, seq]).generate_state(1, np.uint64)[0] >> 1)
    return torch.Generator().manual_seed(key)


def to_bytes(E: torch.Tensor) -> bytes:
    return save_tensors({"E": E.detach().contiguous().cpu()})


def from_bytes(data: bytes) -> torch.Tensor:
    return load_tensors(data)["E"]


def _summary(
    E: torch.Tensor, dim: int = 0, extra_var: torch.Tensor | None = None
) -> tuple[list[Any], list[Any]]:
    """Ensemble mean and spread (std over members, axis `dim`, plus any variance the members
    do not show), as lists."""
    var = E.var(dim, unbiased=True) if E.shape[dim] > 1 else torch.zeros_like(E.select(dim, 0))
    if extra_var is not None:
        var = var + extra_var
    return E.mean(dim).tolist(), var.sqrt().tolist()


def initial_ensemble(stream: Stream, n: int, N: int) -> torch.Tensor:
    initial = stream.config["initial"]
    start = surrogate_runs.start(stream.config, DTYPE)
    if start is not None:  # the series' window is known: the forecaster supplies the spread
        return start.expand(N, -1).clone()
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
    setup = Setup.of(stream.config, session)
    N = stream.config["filter"]["ensemble_size"]
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
    extra: list[torch.Tensor | None] = []
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
            E = result.E
            analyses.append(
                {
                    "seq": o.seq,
                    "t": o.t,
                    "innovation_rms": result.innovation_rms,
                    "inflation": result.inflation,
                }
            )
            ensembles.append(E)
            extra.append(result.extra_var)
            done.append(o.seq)
            stream.t = o.t
            stream.n_assimilated += 1
        stream.last_seq = o.seq
    if analyses:  # mean and spread of every analysis at once: per-analysis calls add up
        extra_var = None if extra[0] is None else torch.stack(extra)  # type: ignore[arg-type]
        means, spreads = _summary(torch.stack(ensembles), dim=1, extra_var=extra_var)
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
        stream.mean, stream.spread = _summary(E, extra_var=extra[-1] if extra else None)
        stream.updated_at = now
    return len(pending) == BATCH and not blocked


def _assimilate(
    E: torch.Tensor, o: repo.PendingObservation, stream: Stream, setup: Setup
) -> Analysed | None:
    """The analysis at o, or None when it overflowed (the ensemble is then kept)."""
    y = torch.tensor(o.values, dtype=E.dtype)
    try:  # an overflowed forecast gives a non-finite analysis, or fails to decompose
        result = setup.cycle(E, stream.t, o.t, y, (stream.seed, o.seq))
        if not bool(torch.isfinite(result.E).all()):
            raise OverflowError("analysis")
    except (OverflowError, torch.linalg.LinAlgError) as exc:
        log.warning("stream %s: seq %d skipped: %s (%s)", stream.id, o.seq, NOT_FINITE, exc)
        return None
    return result


def forecast_compute(factory: sessionmaker[Session]) -> Any:
    """The compute step of a stream-forecast job: integrate every member from the latest state."""

    def compute(job: JobInput, progress: Progress) -> Store:
        request = job.request
        with factory() as session:
            stream = repo.get(session, request["stream_id"])
            if stream is None or stream.ensemble is None:
                raise ValueError("the stream has no ensemble yet; try again in a moment")
            setup, E, t0, name = (
                Setup.of(stream.config, session),
                from_bytes(stream.ensemble),
                stream.t,
                stream.name,
            )
            seed, last_seq, spread = stream.seed, stream.last_seq, stream.spread
        horizon = int(request["horizon"])
        if isinstance(setup.dynamics, SurrogateDynamics):  # a forecast of the series itself
            payload = surrogate_runs.forecast_payload(
                setup.dynamics, E, t0, (seed, last_seq), request, progress
            )
            return store_rows([(name or request["stream_id"], payload)])
        single = E.shape[0] == 1
        if single:  # one observer: draws of its predicted analysis error (the stream's spread)
            noise = torch.randn(
                (SINGLE_DRAWS, E.shape[1]), generator=generator(seed, last_seq), dtype=E.dtype
            )
            E = torch.cat((E, E + torch.tensor(spread, dtype=E.dtype) * noise))
        path = torch.empty((E.shape[0], horizon, E.shape[1]), dtype=E.dtype)
        for k in range(horizon):
            E = setup.dynamics.step(E, setup.dt)
            path[:, k] = E
            progress((k + 1) / horizon)
        X = path.numpy()
        if single:  # no members to disagree: the analysis error is aleatoric
            paths = X[1:]
            forecast = summarize_samples(
                paths, np.broadcast_to(X[:1], paths.shape), request["levels"], request["quantiles"]
            )
        else:  # deterministic dynamics: member spread is all the uncertainty there is (epistemic)
            forecast = summarize_samples(X, X, request["levels"], request["quantiles"])
        payload = to_payload(
            forecast, univariate=False, fitted={"t0": t0, "dt": setup.dt}, timestamps=None
        )
        payload["times"] = [t0 + setup.dt * (k + 1) for k in range(horizon)]
        return store_rows([(name or request["stream_id"], payload)])

    return compute


def run_forecast(factory: sessionmaker[Session], job_id: str, worker: str) -> str:
    return run_job(factory, job_id, worker, forecast_compute(factory))
