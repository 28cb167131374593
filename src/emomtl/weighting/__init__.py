"""weighting package."""
