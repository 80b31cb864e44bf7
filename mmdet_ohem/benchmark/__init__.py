"""The embedded benchmark's data generator (not a dataset class) and the
reading of the benchmark's committed results (:mod:`.results`)."""
