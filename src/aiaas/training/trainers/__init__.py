"""Trainers: one module per family of models (tabular first)."""
