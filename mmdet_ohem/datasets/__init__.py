"""Datasets and dataset generators of mmdet-ohem."""
