"""Neural observer: a learned, state-dependent gain on the innovation, trained offline.

Prediction by the system's own dynamics, correction by a learned gain (Singh et al. 2024,
"Learning Semilinear Neural Operators: A Unified Recursive Framework for Prediction and
Data Assimilation", ICLR; the Luenberger form of an observer):
    x_f = M(x_a, previous),   x_a = x_f + K_theta(x_f) (y - H x_f).
The gain is a small MLP of the standardised forecast. On a periodic grid it is local and
shared by every grid point (the dynamics are translation invariant there): point i's
correction is sum_o g_o(x_f[i-p..i+p]) d[i+o] over innovations d (zero where a component is
not observed) within `reach` points, which keeps it cheap and lets one network serve any n.
Elsewhere (Lorenz-63) the network gives a background covariance P of the whole state, and
the gain is its Kalman gain P H^T (H P H^T + R)^-1, which cannot amplify an innovation.

Uncertainty: M observers (independent initialisations, batched as stacked weights) run side
by side, each with a head predicting its own analysis-error variance. As for the deep
ensemble forecaster, the spread of their analyses is the epistemic part and the mean of
their predicted variances the aleatoric part (Lakshminarayanan et al. 2017).

Training (truncated back-propagation through time): B truth trajectories of the dynamics
with simulated noisy observations; every member filters all of them from a perturbed
start, and the loss over each window of cycles is the mean squared analysis error (in
climatological units), plus the Gaussian NLL of the variance head on the detached error.
Filter states carry over between windows, so the gain learns the filter's own steady
state; a few are reset to far-off starts each window, so it also learns to converge.
"""

from models.assimilation.observer.evaluate import ObserverScore, evaluate
from models.assimilation.observer.gain import CovarianceGain, DenseGain, LocalGain
from models.assimilation.observer.model import NeuralObserver
from models.assimilation.observer.train import climatology, initial_weights, train_observer
from models.observer_config import ObserverConfig

__all__ = [
    "CovarianceGain",
    "DenseGain",
    "LocalGain",
    "NeuralObserver",
    "ObserverConfig",
    "ObserverScore",
    "climatology",
    "evaluate",
    "initial_weights",
    "train_observer",
]
