"""Triage's dirtyduck tutorial (Chicago's food inspections) as a second example project: the
tutorial's own SQL and experiment configs, over simulated inspections in the schema of the city's
data file, which is not available here. See README.md."""
