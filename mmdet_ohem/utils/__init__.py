"""Helpers of the command-line tools."""
from .data_check import check_dataset_files, iter_annotation_files
from .dist import setup_cpu_distributed

__all__ = [
    'check_dataset_files', 'iter_annotation_files', 'setup_cpu_distributed'
]
