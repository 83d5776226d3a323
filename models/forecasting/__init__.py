"""Probabilistic forecasters sharing one interface (`base.Forecaster`) and one result type
(`base.Forecast`); `registry` describes every kind.

Nothing is imported here: the API process imports `models.forecasting.registry` to list and
validate kinds, and must not load torch by doing so. Import from the submodules.
"""
