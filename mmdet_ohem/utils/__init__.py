"""Helpers of the command-line tools."""
from .data_check import check_dataset_files, iter_annotation_files
from .dist import setup_cpu_distributed
from .image_check import BadImage, check_images

__all__ = [
    'BadImage', 'check_dataset_files', 'check_images',
    'iter_annotation_files', 'setup_cpu_distributed'
]
