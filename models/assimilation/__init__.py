"""Ensemble data assimilation in torch: stochastic EnKF, ETKF, LETKF, EnKF-N inflation."""

from models.assimilation.config import METHODS, AnalysisInfo, FilterConfig, analysis
from models.assimilation.cycle import CycleResult, assimilate, ensemble_init
from models.assimilation.enkf import enkf_analysis
from models.assimilation.etkf import etkf_analysis, etkf_step
from models.assimilation.inflation import enkf_n_factor, enkf_n_inflation, inflate
from models.assimilation.letkf import letkf_analysis, letkf_step
from models.assimilation.localization import gaspari_cohn, taper_matrix
from models.assimilation.observation import LinearObs, whitened_anomalies
from models.assimilation.rotation import random_rotation, rotate_anomalies

__all__ = [
    "METHODS",
    "AnalysisInfo",
    "CycleResult",
    "FilterConfig",
    "LinearObs",
    "analysis",
    "assimilate",
    "enkf_analysis",
    "enkf_n_factor",
    "enkf_n_inflation",
    "ensemble_init",
    "etkf_analysis",
    "etkf_step",
    "gaspari_cohn",
    "inflate",
    "letkf_analysis",
    "letkf_step",
    "random_rotation",
    "rotate_anomalies",
    "taper_matrix",
    "whitened_anomalies",
]
