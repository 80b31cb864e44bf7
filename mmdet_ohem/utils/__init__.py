"""Helpers of the command-line tools."""
from .annotation_check import (Finding, check_annotations, check_coco,
                               check_voc, run_data_check)
from .data_check import check_dataset_files, iter_annotation_files
from .dist import setup_cpu_distributed
from .image_check import BadImage, check_images

__all__ = [
    'BadImage', 'Finding', 'check_annotations', 'check_coco',
    'check_dataset_files', 'check_images', 'check_voc',
    'iter_annotation_files', 'run_data_check', 'setup_cpu_distributed'
]
