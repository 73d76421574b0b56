"""tabular_ladder."""
