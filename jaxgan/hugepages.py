"""Transparent huge pages for XLA:CPU's buffers (Linux with glibc).

XLA:CPU allocates every execution's temporary buffer afresh: a
super-resolution GAN's iteration at batch 16 maps 1.29 GB a time (from the
runtime's threads, so glibc's per-thread arena hands it to `mmap` and frees
it back every iteration), and the kernel faults it in 4 KiB at a time,
about 310,000 page faults and half a second of kernel time per iteration.
With glibc's tunable `glibc.malloc.hugetlb=1` malloc advises transparent
huge pages for its mappings (`madvise(MADV_HUGEPAGE)`), where the kernel's
THP mode is 'madvise' (the common default): 2 MiB pages, under a thousand
faults per iteration, and that iteration 14-18% faster on a 2-core Zen 4
(benchmarks/README.md "Huge pages"). PyTorch's iteration did not change.

glibc reads its tunables once, at process start, so the training and
benchmark commands call `reexec()` first thing: the process replaces
itself (same PID, arguments and environment) with one that has the tunable
set, once. JAXGAN_HUGEPAGES=0 turns it off; THP 'always' (already huge) or
'never' (nothing to gain), another C library or a glibc before 2.35 (no
such tunable) leave the process as it is. Importing jaxgan never does this:
only the commands' `__main__` blocks.
"""

import os
import sys

TUNABLE = 'glibc.malloc.hugetlb=1'
OFF_ENV = 'JAXGAN_HUGEPAGES'
THP_PATH = '/sys/kernel/mm/transparent_hugepage/enabled'


def thp_mode(path: str = THP_PATH) -> str | None:
  """The kernel's THP mode ('always', 'madvise', 'never'), None if unknown."""
  try:
    with open(path) as f:
      text = f.read()
  except OSError:
    return None
  start, end = text.find('['), text.find(']')
  return text[start + 1:end] if 0 <= start < end else None


def glibc_version() -> tuple[int, int] | None:
  """(major, minor) of the C library if it is glibc, else None."""
  try:
    name, version = os.confstr('CS_GNU_LIBC_VERSION').split()
  except (AttributeError, ValueError, OSError):
    return None
  if name != 'glibc':
    return None
  major, minor = version.split('.')[:2]
  return int(major), int(minor)


def wanted(environ, mode: str | None, glibc: tuple[int, int] | None) -> bool:
  """Whether a process with `environ` should restart with the tunable."""
  return (environ.get(OFF_ENV, '1') != '0' and mode == 'madvise' and
          glibc is not None and glibc >= (2, 35) and
          'glibc.malloc.hugetlb' not in environ.get('GLIBC_TUNABLES', ''))


def with_tunable(environ) -> dict:
  """`environ` with TUNABLE added to GLIBC_TUNABLES."""
  env = dict(environ)
  env['GLIBC_TUNABLES'] = ':'.join(
      t for t in (env.get('GLIBC_TUNABLES'), TUNABLE) if t)
  return env


def without_tunable(environ) -> dict:
  """`environ` as it was before `reexec` added TUNABLE: for a child that
  must run as started (the PyTorch reference in benchmarks)."""
  env = dict(environ)
  rest = [t for t in env.get('GLIBC_TUNABLES', '').split(':')
          if t and t != TUNABLE]
  if rest:
    env['GLIBC_TUNABLES'] = ':'.join(rest)
  else:
    env.pop('GLIBC_TUNABLES', None)
  return env


def reexec(mode: str | None = None) -> None:
  """Restarts this process with TUNABLE set, if `wanted`; else returns.

  `mode` overrides the kernel's THP mode read from THP_PATH (for tests)."""
  mode = thp_mode() if mode is None else mode
  argv = getattr(sys, 'orig_argv', None)
  if not argv or not wanted(os.environ, mode, glibc_version()):
    return
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, argv, with_tunable(os.environ))
