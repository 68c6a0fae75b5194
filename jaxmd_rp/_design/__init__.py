"""Design methods (Algorithm 1's SPSA, gradient-based design), their objectives and the one scan
driver that runs any method on many paths."""
