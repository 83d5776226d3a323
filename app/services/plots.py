"""PNG plots of a forecast (fan chart) and of a stream (analysis mean ± spread), by matplotlib.

Takes plain rows already loaded and checked by the caller, so it stays free of the database.
The API imports this module by name on a plot request only: answering any other request must
not load numpy or matplotlib (see the import-linter contracts in pyproject.toml).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on a server; must precede pyplot's import

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

BAND_COLOR = "#2b6cb0"
EPISTEMIC_COLOR = "#c05621"
ALEATORIC_COLOR = "#2f855a"
OBS_COLOR = "#1a202c"


@dataclass(frozen=True)
class Observed:
    """The observations of one state component: times and values."""

    t: Sequence[float]
    values: Sequence[float]


def _column(steps: Sequence[Any], component: int) -> np.ndarray:
    """One component of a univariate ([h]) or multivariate ([h][d]) list of steps."""
    a = np.asarray(steps, dtype=float)
    return a if a.ndim == 1 else a[:, component]


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def forecast_png(
    forecast: dict[str, Any], history: Sequence[Any] | None, component: int = 0
) -> bytes:
    """Fan chart over the history (top) and the std split into its parts (bottom).

    `forecast` is one stored series result (mean, intervals, epistemic_std, ...); `history`
    the posted values of that series, or None when the job kept none (stream forecasts)."""
    mean = _column(forecast["mean"], component)
    h = len(mean)
    steps = np.arange(1, h + 1)
    # The std panel has the forecast's steps only (sharing the history's axis squeezed it).
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), gridspec_kw={"height_ratios": [3, 1.6]})
    if history is not None and len(history):
        past = _column(history, component)
        top.plot(np.arange(1 - len(past), 1), past, color=OBS_COLOR, lw=1, label="history")
    # Widest band first, so narrower (darker) ones are drawn over it.
    levels = sorted(forecast.get("intervals", {}), key=float, reverse=True)
    for i, level in enumerate(levels):
        band = forecast["intervals"][level]
        lo, hi = _column(band["lower"], component), _column(band["upper"], component)
        alpha = 0.15 + 0.2 * i / max(1, len(levels) - 1)
        top.fill_between(steps, lo, hi, color=BAND_COLOR, alpha=alpha, lw=0, label=f"{level}%")
    top.plot(steps, mean, color=BAND_COLOR, lw=2, label="mean")
    top.axvline(0.5, color="#a0aec0", lw=0.8, ls="--")
    top.set_title(
        f"forecast of {forecast.get('id', '')}" + (f" [{component}]" if component else "")
    )
    top.legend(loc="upper left", fontsize=8, ncol=3)
    top.grid(alpha=0.3)
    for key, color, label in (
        ("epistemic_std", EPISTEMIC_COLOR, "epistemic std"),
        ("aleatoric_std", ALEATORIC_COLOR, "aleatoric std"),
        ("std", "#4a5568", "total std"),
    ):
        ls = ":" if key == "std" else "-"
        bottom.plot(steps, _column(forecast[key], component), color=color, ls=ls, label=label)
    bottom.set_xlabel("step ahead")
    bottom.set_xlim(0.5, h + 0.5)
    bottom.legend(loc="upper left", fontsize=8, ncol=3)
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def stream_png(
    analyses: Sequence[tuple[float, float, float]],
    observed: Observed | None,
    component: int,
    title: str,
) -> bytes:
    """Analysis mean ± 1 and 2 spreads of one component over time, with its observations.

    `analyses` are (t, mean, spread) of that component in time order."""
    fig, ax = plt.subplots(figsize=(8, 4))
    if analyses:
        t, mean, spread = (np.asarray(c, dtype=float) for c in zip(*analyses, strict=True))
        for k, alpha in ((2, 0.15), (1, 0.3)):
            ax.fill_between(
                t,
                mean - k * spread,
                mean + k * spread,
                color=BAND_COLOR,
                alpha=alpha,
                lw=0,
                label=f"± {k} spread",
            )
        ax.plot(t, mean, color=BAND_COLOR, lw=1.5, label="analysis mean")
    if observed is not None and len(observed.t):
        ax.plot(observed.t, observed.values, "o", ms=3, color=OBS_COLOR, label="observations")
    if not analyses:
        ax.text(0.5, 0.5, "no analyses yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(f"{title}: component {component}")
    ax.set_xlabel("t")
    ax.legend(loc="upper left", fontsize=8, ncol=4)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)
