"""The stack's known, non-actionable warnings, filtered in one place.

Imports nothing heavy, so the tools can apply it (through
``tools/_package_files.py``) before mmengine prints anything;
``mmdet_ohem.compat`` applies it when the package is imported.
"""
import warnings

# Deprecations the stack raises at import time on every run (dozens of
# lines), which hide the warnings a user must see; none is actionable by us.
NOISE = (
    # mmcv/mmdet decorate functions with torch.jit.script (deprecated 2.10+)
    (DeprecationWarning, r'`torch\.jit\.(script|interface)` is deprecated'),
    # mmengine imports pkg_resources (setuptools < 81 still ships it)
    (UserWarning, r'pkg_resources is deprecated as an API'),
    # mmengine's optimizer registry touches torch.cuda.amp aliases
    (FutureWarning, r'.*torch\.cuda\.amp\..*is deprecated'),
)


def silence_import_noise() -> None:
    """Hide the stack's known, non-actionable deprecation warnings."""
    for category, message in NOISE:
        warnings.filterwarnings('ignore', message=message, category=category)
