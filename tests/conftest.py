"""Shared test setup: 8 fake CPU devices, float64 available, shared data."""

import os
import pathlib

# Before JAX initialises: 8 CPU devices for the multi-device tests.
os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / 'shared' / 'data'


@pytest.fixture(scope='session')
def shared_data():
  if not SHARED_DATA.is_dir():
    pytest.fail(f'{SHARED_DATA} is missing: the tests read real data from '
                '../shared/data beside the checkout')
  return SHARED_DATA


def enable_x64():
  return jax.enable_x64(True)


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
