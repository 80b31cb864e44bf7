"""mmdet-ohem: paper-faithful Online Hard Example Mining for MMDetection.

Importing the package registers its modules in MMDetection's registries
(``MODELS``, ``TASK_UTILS``, ``HOOKS``), so configs under
``default_scope='mmdet'`` name them without a prefix.
"""
from .compat import apply_stack_fixes
from .version import __version__

apply_stack_fixes()

from .hooks import *  # noqa: F401,F403,E402
from .roi_heads import *  # noqa: F401,F403,E402
from .samplers import *  # noqa: F401,F403,E402

__all__ = ['__version__', 'apply_stack_fixes']
