"""Losses that ignore label 2 (masked binary cross-entropy and Dice). Owned by the model library."""
