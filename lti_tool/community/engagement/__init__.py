"""Participation events: one table every grade and analytic reads."""
