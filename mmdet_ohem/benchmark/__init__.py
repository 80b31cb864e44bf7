"""The embedded benchmark's data generator (not a dataset class)."""
