"""A run's workdir: one run at a time, and no history lost on a fresh start.

`lock(workdir)` takes an exclusive `fcntl.flock` on WORKDIR/.lock, held until
the process ends however it ends (the kernel drops the lock with the file
descriptor, SIGKILL included), so a second run in the same workdir fails at
once naming the first one's PID. Bucket workdirs (gs://) cannot be locked
this way and are not.

A workdir with history (metrics rows, checkpoints moved aside as
corrupt-STEP, or readable checkpoints when restarting) is never silently
started again from step 0: the run refuses, or, with `restart`, first moves
that history into WORKDIR/restarted-N/.
"""

import contextlib
import fcntl
import os

from absl import logging
from etils import epath

from jaxgan import errors

LOCK = '.lock'
# What a run writes that a restart moves aside (checkpoints included).
RECORDS = ('config.json', 'metrics.jsonl', 'tensorboard', 'samples', 'eval',
           'networks.json', 'checkpoints', 'checkpoints_best')


def is_remote(workdir) -> bool:
  return '://' in os.fspath(workdir)


def check_usable(workdir):
  """Raises WorkdirError when `workdir` exists but is not a directory."""
  path = epath.Path(workdir)
  if path.exists() and not path.is_dir():
    raise errors.WorkdirError(
        f'--workdir={workdir} is a file, not a directory: give the directory '
        'the run should write into.')


class Lock:
  """An exclusive lock on a local workdir, for this process's lifetime."""

  def __init__(self, workdir):
    self.path = os.path.join(os.fspath(workdir), LOCK)
    self._file = None

  def acquire(self):
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    f = open(self.path, 'a+')  # pylint: disable=consider-using-with
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = f.read().strip() or 'unknown'
      f.close()
      raise errors.WorkdirError(
          f'{os.path.dirname(self.path)} is in use by another run (PID '
          f'{holder}): wait for it to finish, stop it, or use another '
          '--workdir.') from None
    f.seek(0)
    f.truncate()
    f.write(f'{os.getpid()}\n')
    f.flush()
    self._file = f
    return self

  def release(self):
    if self._file is not None:
      fcntl.flock(self._file, fcntl.LOCK_UN)
      self._file.close()
      self._file = None

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()
    return False


def lock(workdir, enabled: bool = True):
  """The workdir's lock (none for buckets or other processes than 0)."""
  if not enabled or is_remote(workdir):
    return contextlib.nullcontext()
  return Lock(workdir)


def _has_metrics(workdir) -> bool:
  path = epath.Path(workdir) / 'metrics.jsonl'
  return path.exists() and bool(path.read_text().strip())


def history(workdir, checkpoints_dir) -> list[str]:
  """What a fresh start at step 0 would overwrite: metrics rows and
  checkpoints moved aside as unreadable."""
  found = []
  if _has_metrics(workdir):
    found.append(os.path.join(os.fspath(workdir), 'metrics.jsonl'))
  ckpts = epath.Path(checkpoints_dir)
  if ckpts.exists():
    found += sorted(os.fspath(p) for p in ckpts.iterdir()
                    if p.name.startswith('corrupt-'))
  return found


def refuse_fresh_start(workdir, found: list[str]):
  raise errors.WorkdirError(
      f'{workdir} holds an earlier run ({", ".join(found[:3])}'
      f'{" ..." if len(found) > 3 else ""}) but no checkpoint that can be '
      'resumed; starting again at step 0 would overwrite its records. Use a '
      'new --workdir, or pass --restart to start again here with the old '
      'records moved to WORKDIR/restarted-N/.')


def archive(workdir) -> str | None:
  """Moves the run's records into WORKDIR/restarted-N/; returns it (None
  when there was nothing to move)."""
  root = epath.Path(workdir)
  present = [name for name in RECORDS if (root / name).exists()]
  if not present:
    return None
  n = 1
  while (root / f'restarted-{n}').exists():
    n += 1
  target = root / f'restarted-{n}'
  target.mkdir(parents=True)
  for name in present:
    (root / name).rename(target / name)
  logging.warning('--restart: the earlier records (%s) are now in %s.',
                  ', '.join(present), target)
  return os.fspath(target)
