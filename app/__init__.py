"""Kalmanac: forecasting with epistemic uncertainty and online data assimilation."""
