"""Shared test setup: 8 fake CPU devices, float64 available, shared data,
one compilation cache per test run."""

import os
import pathlib
import shutil
import tempfile

# Before JAX initialises: 8 CPU devices for the multi-device tests, and
# LLVM at -O1 instead of -O2: compiling is most of the suite's time on 2
# cores, and -O1 compiles the LSTM loops of TadGAN in about half the time
# while the tests' training runs about as fast. Measured 2026-12-08 on a
# 2-core AMD EPYC (family 25 model 17), `pytest -n 2`: 1,506 s at -O2,
# 1,244 s at -O1 (the sum of test durations 2,979 s against 2,440 s); all
# 489 tests pass at -O1 (.ci/run) as at -O2 (fast-math is off at both).
os.environ.setdefault(
    'XLA_FLAGS', '--xla_force_host_platform_device_count=8 '
    '--xla_backend_optimization_level=1')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
# 'auto' convolutions take the rules' forms, as on a machine whose budget is
# 0: results do not depend on timings taken during the suite, and no test
# writes the user's cache. tests/conv_forms_test.py turns measurement on.
os.environ.setdefault('JAXGAN_CONV_TUNING_S', '0')
# JAX's persistent compilation cache, shared by the xdist workers (they
# inherit the environment of the process that made it) and by the
# subprocesses tests start: many tests compile the same small models, and on
# 2 cores compiling is most of the suite's time. Fresh for every run.
_OWN_CACHE = 'JAXGAN_TEST_COMPILATION_CACHE' not in os.environ
if _OWN_CACHE:
  os.environ['JAXGAN_TEST_COMPILATION_CACHE'] = tempfile.mkdtemp(
      prefix='jaxgan-test-compilation-cache-')
os.environ['JAX_COMPILATION_CACHE_DIR'] = os.environ[
    'JAXGAN_TEST_COMPILATION_CACHE']

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / 'shared' / 'data'


def pytest_unconfigure(config):
  del config
  if _OWN_CACHE:
    shutil.rmtree(os.environ['JAXGAN_TEST_COMPILATION_CACHE'],
                  ignore_errors=True)


@pytest.fixture(scope='session')
def shared_data():
  if not SHARED_DATA.is_dir():
    pytest.fail(f'{SHARED_DATA} is missing: the tests read real data from '
                '../shared/data beside the checkout')
  return SHARED_DATA


def enable_x64():
  return jax.enable_x64(True)


@pytest.fixture(scope='session')
def shared_tmp(tmp_path_factory) -> pathlib.Path:
  """A directory of this test run that all its xdist workers see."""
  base = tmp_path_factory.getbasetemp()
  if os.environ.get('PYTEST_XDIST_WORKER'):  # basetemp/popen-gwN
    base = base.parent
  return base


def built_once(shared: pathlib.Path, name: str, build) -> pathlib.Path:
  """`build(shared / name)` run once per test run; that directory.

  For a fixture that several tests of a module use and that takes minutes
  (a short training run): xdist may send those tests to both workers, and
  each would build it. The first worker to take the lock builds; the others
  wait and read what it wrote. A build that failed is started again from an
  empty directory by the next one to ask (and fails again, in that test).
  Tests must only read the directory.
  """
  import fcntl  # pylint: disable=g-import-not-at-top
  root = shared / name
  with open(shared / f'{name}.lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    built = shared / f'{name}.built'
    if not built.exists():
      shutil.rmtree(root, ignore_errors=True)
      root.mkdir()
      build(root)
      built.touch()
  return root


@pytest.fixture(scope='session')
def build_once(shared_tmp):
  """`build_once(name, build)`: see `built_once`."""
  return lambda name, build: built_once(shared_tmp, name, build)


@pytest.fixture(scope='session')
def tfds_dir(tmp_path_factory, shared_data):
  """A tfds data_dir with MNIST and Fashion-MNIST prepared from manual_dir.

  Shared by the xdist workers of one run; the first to take the lock
  prepares (tfds's own offline route: DownloadConfig(manual_dir=...)).
  """
  import fcntl  # pylint: disable=g-import-not-at-top
  from jaxgan import input_pipeline  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.getbasetemp().parent / 'tfds'
  root.mkdir(exist_ok=True)
  with open(root / '.lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    for name, folder in (('mnist', 'mnist'), ('fashion_mnist', 'fashion-mnist')):
      input_pipeline.tfds_dataset(name, 'train', str(root),
                                  str(shared_data / folder))
  return root
