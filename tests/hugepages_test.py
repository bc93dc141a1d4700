"""The commands' restart with glibc's huge-page tunable (hugepages.py)."""

import os
import subprocess
import sys

import pytest

from jaxgan import hugepages


@pytest.mark.parametrize('environ,mode,glibc,want', [
    ({}, 'madvise', (2, 36), True),
    ({'GLIBC_TUNABLES': 'glibc.malloc.arena_max=2'}, 'madvise', (2, 35),
     True),
    ({}, 'always', (2, 36), False),  # Already huge.
    ({}, 'never', (2, 36), False),  # Nothing to gain.
    ({}, None, (2, 36), False),  # No THP file: not Linux, or no THP.
    ({}, 'madvise', (2, 31), False),  # No such tunable before 2.35.
    ({}, 'madvise', None, False),  # musl and others.
    ({'JAXGAN_HUGEPAGES': '0'}, 'madvise', (2, 36), False),
    # Set already (by the restart, or by hand): never restart twice.
    ({'GLIBC_TUNABLES': hugepages.TUNABLE}, 'madvise', (2, 36), False),
    ({'GLIBC_TUNABLES': 'glibc.malloc.hugetlb=0'}, 'madvise', (2, 36),
     False),
])
def test_wanted(environ, mode, glibc, want):
  assert hugepages.wanted(environ, mode, glibc) == want


def test_tunable_added_to_others_and_taken_back():
  env = hugepages.with_tunable({'GLIBC_TUNABLES': 'glibc.malloc.arena_max=2',
                                'HOME': '/h'})
  assert env['GLIBC_TUNABLES'] == 'glibc.malloc.arena_max=2:' + (
      hugepages.TUNABLE)
  assert hugepages.without_tunable(env) == {
      'GLIBC_TUNABLES': 'glibc.malloc.arena_max=2', 'HOME': '/h'}
  assert hugepages.without_tunable(hugepages.with_tunable({})) == {}


def test_thp_mode_reads_the_bracketed_choice(tmp_path):
  path = tmp_path / 'enabled'
  path.write_text('always [madvise] never\n')
  assert hugepages.thp_mode(str(path)) == 'madvise'
  path.write_text('[always] madvise never\n')
  assert hugepages.thp_mode(str(path)) == 'always'
  assert hugepages.thp_mode(str(tmp_path / 'absent')) is None


_PROBE = '''
import os, sys
from jaxgan import hugepages
print('start', os.getpid(), flush=True)
hugepages.reexec(mode=sys.argv[1])
print('ran', os.getpid(), os.environ.get('GLIBC_TUNABLES'), sys.argv[1:],
      flush=True)
'''


@pytest.mark.parametrize('mode', ['madvise', 'never'])
def test_the_process_restarts_once_with_its_arguments(mode):
  env = {k: v for k, v in os.environ.items()
         if k not in ('GLIBC_TUNABLES', hugepages.OFF_ENV)}
  out = subprocess.run([sys.executable, '-c', _PROBE, mode, '--flag=x y'],
                       capture_output=True, text=True, env=env, check=True,
                       timeout=120).stdout.splitlines()
  restarts = (mode == 'madvise' and
              hugepages.glibc_version() is not None and
              hugepages.glibc_version() >= (2, 35))
  pid = out[0].split()[1]
  # Same process (exec keeps the PID), started once more, then ran once.
  assert out[:-1] == [f'start {pid}'] * (2 if restarts else 1)
  assert out[-1] == (f'ran {pid} '
                     f'{hugepages.TUNABLE if restarts else None} '
                     f"['{mode}', '--flag=x y']")
