"""A workdir never loses data: refused starts write nothing, history is not
overwritten, one run at a time, and user-given paths are used or refused."""

import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import gan_mlp
from jaxgan import checkpoints
from jaxgan import config_lib
from jaxgan import errors
from jaxgan import input_pipeline
from jaxgan import sample
from jaxgan import train
from jaxgan import workdir as workdirs

ROOT = pathlib.Path(__file__).resolve().parents[1]


def ring_config(num_steps):
  config = gan_mlp.get_config('ring8')
  config.train.batch_size = 64
  config.train.num_steps = num_steps
  config.checkpoint_every = 2
  config.log_every = 1
  config.sample_every = 1000
  return config


def snapshot(root) -> dict[str, bytes]:
  """Every file under `root` (but the lock) and its bytes."""
  root = pathlib.Path(root)
  return {os.fspath(p.relative_to(root)): p.read_bytes()
          for p in sorted(root.rglob('*'))
          if p.is_file() and p.name != workdirs.LOCK}


def test_a_refused_resume_writes_nothing_into_the_workdir(tmp_path):
  train.train_and_evaluate(ring_config(2), tmp_path)
  before = snapshot(tmp_path)
  other = ring_config(4)
  other.model.g_hidden = (64, 128)
  with pytest.raises(checkpoints.CheckpointMismatchError):
    train.train_and_evaluate(other, tmp_path)
  assert snapshot(tmp_path) == before  # config.json included.
  changed_batch = ring_config(4)
  changed_batch.train.batch_size = 32
  with pytest.raises(errors.ConfigError, match='batch_size 64 -> 32'):
    train.train_and_evaluate(changed_batch, tmp_path)
  assert snapshot(tmp_path) == before


def test_history_without_a_readable_checkpoint_is_not_overwritten(tmp_path):
  train.train_and_evaluate(ring_config(4), tmp_path)
  rows = (tmp_path / 'metrics.jsonl').read_text()
  for step in (2, 4):
    (tmp_path / 'checkpoints' / str(step) / 'state' / '_METADATA'
     ).write_bytes(b'garbage')
  with pytest.raises(checkpoints.NoCheckpointError):
    train.train_and_evaluate(ring_config(6), tmp_path)
  # The next start finds no checkpoint but the run's records: refused.
  with pytest.raises(errors.WorkdirError, match='--restart') as error:
    train.train_and_evaluate(ring_config(6), tmp_path)
  assert 'metrics.jsonl' in str(error.value)
  assert (tmp_path / 'metrics.jsonl').read_text() == rows
  # An explicit restart keeps the old records aside.
  state = train.train_and_evaluate(ring_config(3), tmp_path, restart=True)
  assert int(jax.device_get(state.step)) == 3
  old = tmp_path / 'restarted-1'
  assert (old / 'metrics.jsonl').read_text() == rows
  assert sorted(p.name for p in (old / 'checkpoints').iterdir()
                if p.name.startswith('corrupt')) == ['corrupt-2', 'corrupt-4']
  assert len((tmp_path / 'metrics.jsonl').read_text().splitlines()) == 3


def test_a_run_that_stopped_before_its_first_checkpoint_is_not_overwritten(
    tmp_path):
  config = ring_config(3)
  config.checkpoint_every = 1000
  (tmp_path / 'metrics.jsonl').write_text('{"step": 1, "d_loss": 1.0}\n')
  with pytest.raises(errors.WorkdirError, match='no checkpoint'):
    train.train_and_evaluate(config, tmp_path)


def test_a_second_run_in_a_locked_workdir_fails_naming_the_holder(tmp_path):
  with workdirs.Lock(tmp_path):
    with pytest.raises(errors.WorkdirError, match=f'PID {os.getpid()}'):
      train.train_and_evaluate(ring_config(2), tmp_path)
  assert not (tmp_path / 'metrics.jsonl').exists()
  train.train_and_evaluate(ring_config(2), tmp_path)  # Released: runs.


HOLD_LOCK = '''
import sys, time
from jaxgan import workdir
held = workdir.Lock(sys.argv[1]).acquire()
print('locked', flush=True)
time.sleep(600)
'''


def test_the_lock_dies_with_its_process(tmp_path):
  holder = subprocess.Popen([sys.executable, '-c', HOLD_LOCK, str(tmp_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == 'locked'
    with pytest.raises(errors.WorkdirError, match=f'PID {holder.pid}'):
      workdirs.Lock(tmp_path).acquire()
  finally:
    holder.kill()  # SIGKILL: no cleanup code runs.
    holder.wait()
  workdirs.Lock(tmp_path).acquire().release()


def test_a_missing_manual_dir_is_an_error_not_the_embedded_digits(tmp_path):
  config = ring_config(1)
  config.data.name = 'mnist'
  config.data.manual_dir = str(tmp_path / 'no_such_folder')
  with pytest.raises(input_pipeline.DataError, match='no_such_folder'):
    input_pipeline.create_dataset(config)


def test_config_values_are_checked_before_any_work(tmp_path):
  config = ring_config(1)
  config.data.image_size = (64,)
  config_lib.validate_values(config)
  assert config.data.image_size == (64, 64)  # One number: a square.
  bad = {'data.image_size': (0, 64), 'train.batch_size': 0,
         'train.num_steps': -1, 'log_every': 0,
         'train.g_optimizer.learning_rate': -1e-4,
         'train.ema_decay': 1.0}
  for name, value in bad.items():
    config = ring_config(1)
    node = config
    *sections, key = name.split('.')
    for section in sections:
      node = node[section]
    node[key] = value
    with pytest.raises(errors.ConfigError, match=name.replace('.', r'\.')):
      train.train_and_evaluate(config, tmp_path / 'run')
    assert not (tmp_path / 'run').exists()
  (tmp_path / 'file').write_text('')
  with pytest.raises(errors.WorkdirError, match='is a file'):
    train.train_and_evaluate(ring_config(1), tmp_path / 'file')


def test_ema_and_best_checkpoints_that_do_not_exist_are_errors(tmp_path):
  train.train_and_evaluate(ring_config(2), tmp_path)  # ema_decay 0.
  generator = sample.load(tmp_path)
  z = np.zeros((2, generator.config.model.latent_dim), np.float32)
  with pytest.raises(errors.ConfigError, match='without an EMA'):
    generator(z, ema=True)
  with pytest.raises(checkpoints.NoCheckpointError, match='eval_every'):
    sample.load(tmp_path, best=True)
  config = ring_config(2)
  config.eval.use_ema = True
  with pytest.raises(errors.ConfigError, match='ema_decay'):
    train.train_and_evaluate(config, tmp_path / 'other')


def test_offline_pytorch_fid_download_suggests_the_offline_route(monkeypatch):
  import urllib.error  # pylint: disable=g-import-not-at-top
  import urllib.request  # pylint: disable=g-import-not-at-top
  from jaxgan import inception  # pylint: disable=g-import-not-at-top

  def offline(*args, **kwargs):
    raise urllib.error.URLError('[Errno -3] Temporary failure in name '
                                'resolution')

  monkeypatch.setattr(urllib.request, 'urlretrieve', offline)
  with pytest.raises(errors.MissingFileError, match='--source=fid-helper'):
    inception.convert('pytorch-fid', '/nonexistent/out.npz')
