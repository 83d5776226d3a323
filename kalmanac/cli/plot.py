"""Fan chart of a forecast: history, mean, interval bands, and the uncertainty split into
its epistemic and aleatoric parts."""

from __future__ import annotations

from typing import Any

import numpy as np

from kalmanac.results import SeriesForecast

HISTORY_SHOWN = 200  # the last points of the history; the fan stays readable


def _axis(index: Any, n: int) -> np.ndarray:
    return np.asarray(index) if index is not None else np.arange(1, n + 1)


def fan_chart(history: Any, forecast: SeriesForecast, path: str) -> None:
    """One panel per component: the history, the mean, each central interval as a band
    (wider levels lighter) and mean +/- the epistemic std inside them; below, the epistemic
    and aleatoric std per step, so what the model does not know is seen apart from the
    noise it expects."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    mean = forecast.mean.reshape(len(forecast.mean), -1)
    d = mean.shape[1]
    fig, axes = plt.subplots(d + 1, 1, figsize=(10, 3 * (d + 1)), squeeze=False)
    frame = forecast.to_frame()
    steps = np.asarray(frame.index)
    hist = np.asarray(history).reshape(len(history), -1)[-HISTORY_SHOWN:]
    hist_x = _axis(getattr(history, "index", None), len(history))[-HISTORY_SHOWN:]
    if forecast.timestamps is None:  # positions: the forecast follows the history
        hist_x = np.arange(-len(hist) + 1, 1)
    levels = sorted(forecast.intervals, key=float, reverse=True)
    names = forecast.columns or tuple(str(j) for j in range(d))
    for j in range(d):
        ax = axes[j][0]
        ax.plot(hist_x, hist[:, j], color="black", lw=1, label="history")
        for k, level in enumerate(levels):
            iv = forecast.intervals[level]
            lower = iv.lower.reshape(len(steps), -1)[:, j]
            upper = iv.upper.reshape(len(steps), -1)[:, j]
            shade = 0.15 + 0.2 * k / max(len(levels) - 1, 1)
            ax.fill_between(
                steps, lower, upper, color="tab:blue", alpha=shade, lw=0, label=f"{level}% interval"
            )
        epi = forecast.epistemic_std.reshape(len(steps), -1)[:, j]
        ax.fill_between(
            steps,
            mean[:, j] - epi,
            mean[:, j] + epi,
            color="tab:orange",
            alpha=0.5,
            lw=0,
            label="mean ± epistemic std",
        )
        ax.plot(steps, mean[:, j], color="tab:blue", lw=1.5, label="mean")
        ax.set_title(f"{forecast.id}" + (f" [{names[j]}]" if d > 1 else ""))
        ax.legend(loc="upper left", fontsize="small")
    ax = axes[d][0]
    epi = forecast.epistemic_std.reshape(len(steps), -1)
    alea = forecast.aleatoric_std.reshape(len(steps), -1)
    for j in range(d):
        suffix = f" [{names[j]}]" if d > 1 else ""
        ax.plot(steps, epi[:, j], color="tab:orange", label="epistemic std" + suffix)
        ax.plot(steps, alea[:, j], color="tab:green", ls="--", label="aleatoric std" + suffix)
    ax.set_title("uncertainty by source")
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
