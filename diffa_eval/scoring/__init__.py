"""Reusable scorers (one sample at a time) and metrics (aggregates over many samples)."""
