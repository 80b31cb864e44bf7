"""Where a benchmark number came from: code, stack and machine of a run.

``tools/analysis/run_bench.py`` stores these fields in every results
record (``docs/results/*.json``), so that a number can be traced to the
commit, the dumped config and the CPU it was measured on, and runs of
different commits are never mixed unseen.

Nothing here imports torch or mmdet: the versions are read from the
installed distributions' metadata.
"""
import hashlib
import importlib.metadata
import os
import platform
import subprocess
from typing import Dict, Optional, Sequence, Tuple

# Results key -> distribution name.
DISTRIBUTIONS = (('torch', 'torch'), ('mmcv', 'mmcv'), ('mmdet', 'mmdet'),
                 ('mmengine', 'mmengine'), ('mmdet_ohem', 'mmdet-ohem'))


def _git(root: str, *args: str) -> Optional[str]:
    try:
        out = subprocess.run(['git', '-C', root, *args],
                             capture_output=True,
                             text=True,
                             check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout


def git_state(root: str,
              outputs: Sequence[str] = ()
              ) -> Tuple[Optional[str], Optional[bool]]:
    """The commit checked out in ``root`` and whether the tree differs.

    Args:
        root (str): A folder inside a git work tree.
        outputs (Sequence[str]): Folders (relative to ``root``) of results
            the runs themselves write, left out of the dirty check: a
            results file written by the run before does not change what
            runs.

    Returns:
        tuple: ``(commit, dirty)``: the 40-hex ``HEAD`` and whether any
        tracked file is modified or staged, or an untracked, not ignored
        file exists (a new module or config changes what runs as much as
        an edit does). ``(None, None)`` outside a git work tree or
        without git.
    """
    commit = _git(root, 'rev-parse', 'HEAD')
    if commit is None:
        return None, None
    status = _git(root, 'status', '--porcelain', '--', '.',
                  *(f':(exclude){path}' for path in outputs))
    return commit.strip(), None if status is None else bool(status.strip())


def versions() -> Dict[str, Optional[str]]:
    """Python and the stack's versions (``None`` for one not installed)."""
    found: Dict[str, Optional[str]] = {'python': platform.python_version()}
    for key, dist in DISTRIBUTIONS:
        try:
            found[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[key] = None
    return found


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform``
    knows, else ``'unknown'``."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or 'unknown'


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def environment(root: str,
                threads: Optional[int] = None,
                outputs: Sequence[str] = ()) -> dict:
    """The provenance fields of a run record that do not depend on the run.

    Args:
        root (str): The repository the run's code comes from.
        threads (int, optional): Threads the training used; default:
            ``OMP_NUM_THREADS`` if set, else the CPU count.
        outputs (Sequence[str]): See :func:`git_state`.

    Returns:
        dict: ``commit``, ``dirty``, ``versions``, ``cpu``, ``threads``,
        ``hostname_hash`` (always ``None``: no host name leaves the
        machine).
    """
    commit, dirty = git_state(root, outputs)
    if threads is None:
        threads = int(os.environ.get('OMP_NUM_THREADS') or os.cpu_count()
                      or 1)
    return dict(
        commit=commit,
        dirty=dirty,
        versions=versions(),
        cpu=cpu_model(),
        threads=threads,
        hostname_hash=None)
