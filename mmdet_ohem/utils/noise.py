"""The stack's known, non-actionable warnings, in one place.

The package itself only silences them while it imports the stack
(:func:`stack_import_noise_silenced`): a library leaves the process's
warning filters as it found them. The tools, which are programs, call
:func:`silence_import_noise` for their whole run.
"""
import contextlib
import warnings
from typing import Iterator

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
    """Hide the stack's known deprecation warnings for the whole process.

    For programs (``tools/``), not for library code: see
    :func:`stack_import_noise_silenced`.
    """
    for category, message in NOISE:
        warnings.filterwarnings('ignore', message=message, category=category)


@contextlib.contextmanager
def stack_import_noise_silenced() -> Iterator[None]:
    """Hide :data:`NOISE` inside the block only; the filters are restored.

    Wraps the package's imports of mmengine/mmcv/mmdet, which are what
    warns. Other warnings raised inside still reach the user's filters.
    """
    with warnings.catch_warnings():
        silence_import_noise()
        yield
