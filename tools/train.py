"""Train a detector: ``mmdet_ohem.cli.train``, the console script
``mmdet-ohem-train`` of an installed mmdet-ohem.

Kept here, beside ``dist_train.sh`` and ``slurm_train.sh`` (which
launch it), as MMDetection keeps its ``tools/train.py``; the flags are
in the module.
"""
from mmdet_ohem.cli.train import main

if __name__ == '__main__':
    main()
