"""Test (and evaluate) a detector: ``mmdet_ohem.cli.test``, the console script
``mmdet-ohem-test`` of an installed mmdet-ohem.

Kept here, beside ``dist_test.sh`` and ``slurm_test.sh`` (which
launch it), as MMDetection keeps its ``tools/test.py``; the flags are
in the module.
"""
from mmdet_ohem.cli.test import main

if __name__ == '__main__':
    main()
