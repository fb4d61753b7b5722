"""Neuron rankings and their evaluation (numpy, torch, scikit-learn; never Textual)."""
