"""What a user sees: errors as one or two lines, quiet logs, the progress bar."""

import os
import pathlib
import subprocess
import sys
import time

import ml_collections

from jaxgan import cli
from jaxgan import writers

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(module, *args, env=None):
  return subprocess.run([sys.executable, '-m', module, *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300,
                        env={**os.environ, **(env or {})})


def test_unknown_config_key_names_the_closest_key(tmp_path):
  result = run('jaxgan.main', '--config=configs/dcgan.py',
               f'--workdir={tmp_path}', '--config.train.batch_sz=1')
  assert result.returncode == 1
  assert ('jaxgan: error: unknown config key config.train.batch_sz '
          '(from --config.train.batch_sz); did you mean '
          'config.train.batch_size?') in result.stderr
  assert 'Traceback' not in result.stderr
  assert not tmp_path.exists() or not list(tmp_path.iterdir())


def test_user_errors_print_without_traceback_unless_asked(tmp_path):
  args = ('--config=configs/gan_mlp.py:ring8', f'--workdir={tmp_path}',
          '--config.train.batch_size=0')
  result = run('jaxgan.main', *args)
  assert result.returncode == 1
  assert 'jaxgan: error: config.train.batch_size=0' in result.stderr
  assert 'Traceback' not in result.stderr
  assert len(result.stderr.strip().splitlines()) <= 3
  verbose = run('jaxgan.main', *args, env={cli.TRACEBACK_ENV: '1'})
  assert verbose.returncode != 0 and 'Traceback' in verbose.stderr
  assert 'ConfigError' in verbose.stderr


def test_unknown_key_message_walks_sections():
  config = ml_collections.ConfigDict({'train': {'batch_size': 1,
                                                'num_steps': 2}, 'seed': 0})
  assert cli.unknown_key_message(config, 'train.batch_size') is None
  assert 'did you mean config.train.num_steps' in cli.unknown_key_message(
      config, 'train.num_step')
  message = cli.unknown_key_message(config, 'tran.batch_size')
  assert 'unknown config key config.tran' in message
  assert 'did you mean config.train' in message
  assert 'config.seed is a value' in cli.unknown_key_message(
      config, 'seed.x')


def test_progress_bar_starts_after_compilation_with_the_first_losses():
  progress = writers.Progress(0, 100)
  progress.set_metrics({'d_loss': 1.25, 'g_loss': 0.5, 'd_real': 3.0})
  time.sleep(0.5)  # Compiling the first step.
  progress.first_done(1)
  bar = progress._bar  # pylint: disable=protected-access
  assert bar.n == 1 and bar.format_dict['elapsed'] < 0.4
  assert 'd_loss=1.25' in bar.postfix and 'd_real' not in bar.postfix
  progress.close()
