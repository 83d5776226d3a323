"""Pure numerics for Kalmanac: forecasters and scoring rules (numpy/scipy only)."""
