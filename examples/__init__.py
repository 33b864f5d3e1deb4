"""Examples of a user's own code plugged into raytune-hp by import path (see configs/custom*.yaml)."""
