"""The command-line programs: ``mmdet-ohem-train`` and ``mmdet-ohem-test``
(MMDetection's ``tools/train.py`` and ``tools/test.py`` with mmdet-ohem's
input checks), installed with the package; the clone's ``tools/`` scripts
run the same ``main``."""
