"""Reproductions of the paper's experiments (Figure 6, Figure 7)."""
