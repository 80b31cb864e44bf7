"""Refuse config keys a class does not use, naming the closest valid one.

mmengine builds a registered class as ``cls(**cfg)``. A class that swallows
``**kwargs`` (as mmdet's ``BaseSampler`` does) lets a misspelt key train
silently with the default; one without ``**kwargs`` fails with Python's
``unexpected keyword argument``, which does not say what was meant.
"""
import inspect
from difflib import get_close_matches
from typing import Dict, Iterable, List, Optional


def init_keys(cls: type) -> List[str]:
    """The keyword arguments of ``cls.__init__`` (no ``self``, no ``*``)."""
    params = inspect.signature(cls.__init__).parameters.values()
    return [
        p.name for p in params if p.name != 'self' and p.kind in (
            p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def check_unknown_keys(cls: type,
                       unknown: Iterable[str],
                       hints: Optional[Dict[str, str]] = None) -> None:
    """Raise a ``TypeError`` if ``unknown`` (the ``**kwargs`` that
    ``cls.__init__`` received) holds any key.

    ``TypeError``, as Python raises for an unexpected keyword argument (and
    mmdet's own classes without ``**kwargs`` do), with the key, the closest
    valid key and the valid ones.

    Args:
        cls (type): The class whose ``__init__`` received the keys.
        unknown (Iterable[str]): The keys it does not use.
        hints (dict[str, str], optional): Advice for keys that other
            classes use (e.g. the one this class replaces).
    """
    unknown = sorted(unknown)
    if not unknown:
        return
    key = unknown[0]
    valid = init_keys(cls)
    hint = (hints or {}).get(key)
    if hint is None:
        close = get_close_matches(key, valid, n=1)
        hint = f'did you mean `{close[0]}`?' if close else \
            'remove it or check its spelling.'
    others = f' (also unknown: {", ".join(unknown[1:])})' \
        if len(unknown) > 1 else ''
    raise TypeError(f'{cls.__name__}: unknown key `{key}`{others}; {hint} '
                    f'Valid keys: {", ".join(valid) or "none"}.')
