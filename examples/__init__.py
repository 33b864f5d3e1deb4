"""A user's own code, plugged into raytune-hp by import path (configs/custom*.yaml)."""
