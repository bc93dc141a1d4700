"""`python -m jaxgan.main` end to end, as a user runs it."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ['--config.train.num_steps=3', '--config.train.batch_size=8',
        '--config.log_every=1', '--config.sample_every=2',
        '--config.model.g_features=8', '--config.model.d_features=8',
        '--config.model.g_hidden=(32,32)', '--config.model.d_hidden=(32,)',
        '--config.num_samples=16']


def run_main(*args, timeout=300):
  return subprocess.run([sys.executable, '-m', 'jaxgan.main', *args],
                        cwd=ROOT, capture_output=True, text=True,
                        timeout=timeout, env={**os.environ})


@pytest.mark.parametrize('config', ['configs/gan_mlp.py', 'configs/dcgan.py',
                                    'configs/dcgan.py:fashion_mnist',
                                    'configs/wgan.py', 'configs/wgan_gp.py',
                                    'configs/gan_mlp.py:ring8',
                                    'configs/cgan.py:mnist,projection'])
def test_every_config_trains_end_to_end(config, tmp_path, tfds_dir,
                                        shared_data):
  name = config.partition(':')[2].split(',')[0] or 'mnist'
  extra = []
  if name != 'ring8':
    folder = {'mnist': 'mnist', 'fashion_mnist': 'fashion-mnist'}[name]
    extra = [f'--config.data.data_dir={tfds_dir}',
             f'--config.data.manual_dir={shared_data / folder}']
  result = run_main(f'--config={config}', f'--workdir={tmp_path}', *TINY,
                    *extra)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = (tmp_path / 'metrics.jsonl').read_text().splitlines()
  records = [json.loads(line) for line in lines]
  assert [r['step'] for r in records] == [1, 2, 3]
  for r in records:
    assert np.isfinite(r['d_loss']) and np.isfinite(r['g_loss'])
  saved = json.loads((tmp_path / 'config.json').read_text())
  assert saved['train']['num_steps'] == 3
  assert sorted(p.name for p in (tmp_path / 'samples').iterdir()) == [
      'step_000002.png', 'step_000003.png']
  assert list((tmp_path / 'tensorboard').iterdir())
  assert 'step/s' in result.stderr  # The progress bar.
  assert 'embedded' not in result.stderr  # Real data, not the fallback.
  # Quiet by default: jaxgan's lines, no Orbax INFO, no backend search, no
  # TensorFlow notices.
  assert 'First step done' in result.stderr
  for noise in ('checkpoint_manager.py', 'async_checkpointer.py',
                "initialize backend 'tpu'", 'port.cc', 'oneDNN'):
    assert noise not in result.stderr, noise


def test_unknown_config_key_is_rejected(tmp_path):
  result = run_main('--config=configs/dcgan.py', f'--workdir={tmp_path}',
                    '--config.train.no_such_key=1')
  assert result.returncode != 0
  assert 'no_such_key' in result.stderr


def test_indivisible_batch_is_a_clear_error(tmp_path):
  result = run_main('--config=configs/gan_mlp.py:ring8',
                    f'--workdir={tmp_path}', '--config.train.batch_size=12')
  assert result.returncode != 0
  assert 'does not divide by the 8 devices' in result.stderr
