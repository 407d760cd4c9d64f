"""Prelabel: pre-labels inspection photos for Label Studio (see README.md for the main flow)."""
