"""Checkpoints: exact resume, signals, SIGKILL mid-save, bad states, sampling."""

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import pytest
from PIL import Image

from configs import dcgan, gan_mlp
from jaxgan import checkpoints
from jaxgan import sample
from jaxgan import train

ROOT = pathlib.Path(__file__).resolve().parents[1]


def ring_config(num_steps, **overrides):
  config = gan_mlp.get_config('ring8')
  config.train.batch_size = 64
  config.train.num_steps = num_steps
  config.checkpoint_every = 2
  config.log_every = 1
  config.sample_every = 1000
  for key, value in overrides.items():
    config[key] = value
  return config


def tiny_dcgan(num_steps):
  config = dcgan.get_config()
  config.data.name = 'folder'
  config.model.g_features = 4
  config.model.d_features = 4
  config.train.batch_size = 8
  config.train.num_steps = num_steps
  config.train.ema_decay = 0.9
  config.checkpoint_every = 2
  config.log_every = 1
  config.sample_every = 1000
  return config


def assert_same_state(a, b, rtol=1e-6):
  a, b = jax.device_get(a), jax.device_get(b)
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x, np.float64),
                               np.asarray(y, np.float64), rtol=rtol,
                               atol=1e-7)


@pytest.mark.parametrize('parallelism', ['jit', 'pmap'])
def test_stopped_and_resumed_run_equals_uninterrupted_run(tmp_path,
                                                          parallelism):
  k = 3
  config = ring_config(k, parallelism=parallelism)
  train.train_and_evaluate(config, tmp_path / 'stopped')
  config.train.num_steps = 2 * k
  resumed = train.train_and_evaluate(config, tmp_path / 'stopped')
  straight = train.train_and_evaluate(config, tmp_path / 'straight')
  # No prefetching thread outlives its run (one did, and aborted a worker).
  assert not [t for t in threading.enumerate() if t.name == 'jaxgan-prefetch']
  assert int(jax.device_get(resumed.step).ravel()[0]) == 2 * k
  assert_same_state(resumed, straight)
  steps = checkpoints.Checkpointer(
      checkpoints.checkpoint_dir(tmp_path / 'stopped')).all_steps()
  assert steps == [3, 4, 6]  # Every 2 steps and each run's end; keep 3.
  # metrics.jsonl has each step once although the run started twice.
  lines = (tmp_path / 'stopped' / 'metrics.jsonl').read_text().splitlines()
  assert len(lines) == 2 * k


def test_resume_with_batch_norm_and_ema(tmp_path):
  images = tmp_path / 'images'
  images.mkdir()
  rng = np.random.default_rng(0)
  for i in range(16):
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), np.uint8)).save(
        images / f'{i}.png')
  config = tiny_dcgan(2)
  config.data.data_dir = str(images)
  config.data.image_size = (16, 16)
  train.train_and_evaluate(config, tmp_path / 'a')
  config.train.num_steps = 4
  resumed = train.train_and_evaluate(config, tmp_path / 'a')
  straight = train.train_and_evaluate(config, tmp_path / 'b')
  assert jax.tree.leaves(jax.device_get(resumed.g_state))  # BN statistics.
  assert_same_state(resumed, straight)


def test_checkpoint_holds_everything_and_keeps_the_newest(tmp_path):
  config = ring_config(7, keep_checkpoints=2)
  state = train.train_and_evaluate(config, tmp_path)
  ckpt = checkpoints.Checkpointer(checkpoints.checkpoint_dir(tmp_path))
  assert ckpt.all_steps() == [6, 7]  # Every 2 steps and the last; keep 2.
  meta = ckpt.read_meta(7)
  assert meta['step'] == 7 and meta['data_position']['step'] == 7
  assert meta['data_position']['examples_seen'] == 7 * 64
  assert meta['sample_shape'] == [2] and meta['dataset'] == 'ring8'
  assert meta['config']['train']['num_steps'] == 7
  raw = ckpt.restore_raw(7, jax.sharding.SingleDeviceSharding(
      jax.devices()[0]))
  assert set(raw) >= {'step', 'g_params', 'd_params', 'g_opt_state',
                      'd_opt_state', 'ema_params'}
  np.testing.assert_array_equal(raw['d_params']['Dense_0']['kernel'],
                                jax.device_get(state.d_params)['Dense_0']
                                ['kernel'])


def test_resuming_another_model_names_the_parameters(tmp_path):
  train.train_and_evaluate(ring_config(2), tmp_path / 'run')
  config = ring_config(4)
  config.model.g_hidden = (64, 128)
  with pytest.raises(checkpoints.CheckpointMismatchError) as error:
    train.train_and_evaluate(config, tmp_path / 'run')
  message = str(error.value)
  assert 'g_params/Dense_0/kernel' in message and '(2, 128)' in message
  assert 'init_from' in message
  # The refused run did not touch the checkpoint.
  ckpt = checkpoints.Checkpointer(checkpoints.checkpoint_dir(tmp_path / 'run'))
  assert ckpt.all_steps() == [2]


def test_init_from_starts_a_new_run_from_weights(tmp_path):
  source = train.train_and_evaluate(ring_config(2), tmp_path / 'source')
  config = ring_config(1)
  config.init_from = str(tmp_path / 'source')
  # Another optimizer is fine: only the networks are carried over.
  config.train.d_optimizer = {'name': 'sgd', 'learning_rate': 0.0}
  config.train.g_optimizer = {'name': 'sgd', 'learning_rate': 0.0}
  state = train.train_and_evaluate(config, tmp_path / 'new')
  assert int(jax.device_get(state.step)) == 1  # A new run: from step 0.
  assert_same_state(state.d_params, source.d_params)  # lr 0 keeps them.
  config.model.d_hidden = (16,)
  with pytest.raises(checkpoints.CheckpointMismatchError, match='d_params'):
    train.train_and_evaluate(config, tmp_path / 'other')


@pytest.mark.parametrize('damage', ['garbage_metadata', 'missing_metadata',
                                    'missing_arrays'])
def test_corrupt_checkpoint_is_moved_aside_for_the_previous_one(tmp_path,
                                                              caplog, damage):
  train.train_and_evaluate(ring_config(4), tmp_path)
  state_dir = tmp_path / 'checkpoints' / '4' / 'state'
  if damage == 'garbage_metadata':
    (state_dir / '_METADATA').write_bytes(b'garbage')
  elif damage == 'missing_metadata':
    # Orbax then reports a state with no arrays, which is not another model.
    (state_dir / '_METADATA').unlink()
  else:  # A partial checkpoint: its array data is gone.
    data_files = list(state_dir.glob('ocdbt.process_*/d/*'))
    assert data_files
    for path in data_files:
      path.unlink()
  state = train.train_and_evaluate(ring_config(5), tmp_path)
  assert int(jax.device_get(state.step)) == 5
  assert any('unreadable' in r.getMessage() and 'corrupt-4' in r.getMessage()
             for r in caplog.records)
  names = sorted(p.name for p in (tmp_path / 'checkpoints').iterdir())
  assert 'corrupt-4' in names and '2' in names and '5' in names


def test_non_finite_loss_names_the_last_good_checkpoint(tmp_path):
  train.train_and_evaluate(ring_config(4), tmp_path)
  config = ring_config(50)
  config.train.d_optimizer.learning_rate = 1e30
  config.train.g_optimizer.learning_rate = 1e30
  with pytest.raises(train.NonFiniteError) as error:
    train.train_and_evaluate(config, tmp_path)
  assert 'non-finite' in str(error.value)
  assert str(tmp_path / 'checkpoints' / '4') in str(error.value)
  # No non-finite state was saved over it.
  ckpt = checkpoints.Checkpointer(checkpoints.checkpoint_dir(tmp_path))
  for step in ckpt.all_steps():
    raw = ckpt.restore_raw(step, jax.sharding.SingleDeviceSharding(
        jax.devices()[0]))
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(raw))


# --- Real processes and real signals ----------------------------------------

LONG_RUN = ['--config=configs/gan_mlp.py:ring8', '--config.train.batch_size=64',
            '--config.train.num_steps=100000', '--config.log_every=5',
            '--config.sample_every=100000', '--config.checkpoint_every=100000']


def start_main(workdir, *args, script=None, env=None):
  command = ([sys.executable, script] if script else
             [sys.executable, '-m', 'jaxgan.main'])
  return subprocess.Popen(
      command + [f'--workdir={workdir}', *args], cwd=ROOT,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env={**os.environ, **(env or {})})


def wait_for(predicate, timeout=120):
  deadline = time.time() + timeout
  while time.time() < deadline:
    if predicate():
      return
    time.sleep(0.2)
  raise TimeoutError('condition not reached')


def logged_steps(workdir):
  path = pathlib.Path(workdir) / 'metrics.jsonl'
  return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_signal_checkpoints_and_exits_zero_then_resumes(tmp_path, sig):
  process = start_main(tmp_path, *LONG_RUN)
  wait_for(lambda: logged_steps(tmp_path) >= 2)
  process.send_signal(sig)
  _, stderr = process.communicate(timeout=120)
  assert process.returncode == 0, stderr[-3000:]
  assert f'Stopped by {sig.name}' in stderr
  steps = [int(p.name) for p in (tmp_path / 'checkpoints').iterdir()
           if p.name.isdigit()]
  assert len(steps) == 1 and steps[0] >= 10
  assert f'checkpoint saved to {tmp_path / "checkpoints" / str(steps[0])}' in (
      stderr)
  stop = steps[0]
  # The same command resumes from there.
  result = subprocess.run(
      [sys.executable, '-m', 'jaxgan.main', f'--workdir={tmp_path}',
       *LONG_RUN, f'--config.train.num_steps={stop + 3}'],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f'Resuming from {tmp_path / "checkpoints" / str(stop)}' in (
      result.stderr)
  assert (tmp_path / 'checkpoints' / str(stop + 3)).is_dir()


# Slows Orbax's final rename of one checkpoint so that SIGKILL lands while
# that checkpoint is written but not committed.
SLOW_COMMIT = '''
import os, sys, time
from orbax.checkpoint._src.path import atomicity
original = atomicity.AtomicRenameTemporaryPath.finalize
async def finalize(self, *args, **kwargs):
  if os.path.basename(str(self._final_path)) == os.environ['SLOW_STEP']:
    open(os.environ['SAVING_MARKER'], 'w').close()
    time.sleep(600)
  return await original(self, *args, **kwargs)
atomicity.AtomicRenameTemporaryPath.finalize = finalize
from absl import app
from jaxgan import main
app.run(main.main)
'''


def test_sigkill_during_a_save_keeps_the_previous_checkpoint(tmp_path):
  script = tmp_path / 'slow_commit.py'
  script.write_text(SLOW_COMMIT)
  marker = tmp_path / 'saving'
  workdir = tmp_path / 'run'
  args = [*LONG_RUN, '--config.checkpoint_every=10']
  process = start_main(workdir, *args, script=str(script),
                       env={'SLOW_STEP': '20', 'SAVING_MARKER': str(marker)})
  wait_for(marker.exists)
  process.kill()  # SIGKILL, in the middle of saving step 20.
  process.communicate(timeout=60)
  assert process.returncode == -signal.SIGKILL
  names = os.listdir(workdir / 'checkpoints')
  assert '10' in names and '20' not in names
  assert any('tmp' in name for name in names)  # The interrupted save.
  result = subprocess.run(
      [sys.executable, '-m', 'jaxgan.main', f'--workdir={workdir}', *args,
       '--config.train.num_steps=12'],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f'Resuming from {workdir / "checkpoints" / "10"} (step 10)' in (
      result.stderr)
  names = os.listdir(workdir / 'checkpoints')
  assert '12' in names and not any('tmp' in name for name in names)


def test_sample_without_dataset_on_another_device_count(tmp_path):
  # Trained on the 8 fake devices of this process ...
  config = ring_config(3)
  config.train.ema_decay = 0.5
  state = train.train_and_evaluate(config, tmp_path)
  # ... sampled in a process with one device, from the saved config alone.
  env = {**os.environ, 'XLA_FLAGS': ''}
  for out, extra in [('grid.png', []), ('a.npz', ['--ema']),
                     ('b.npz', ['--step=2'])]:
    result = subprocess.run(
        [sys.executable, '-m', 'jaxgan.sample', f'--workdir={tmp_path}',
         '--num=100', '--seed=3', f'--out={tmp_path / out}', *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
  assert (tmp_path / 'grid.png').stat().st_size > 1000
  ema = np.load(tmp_path / 'a.npz')
  assert ema['samples'].shape == (100, 2) and int(ema['step']) == 3
  generator = sample.load(tmp_path)
  expected = generator(ema['z'], ema=True)
  np.testing.assert_allclose(ema['samples'], expected, rtol=1e-5, atol=1e-6)
  assert not np.allclose(expected, generator(ema['z'], ema=False))
  host = jax.device_get(state)
  np.testing.assert_array_equal(
      generator.variables['params']['Dense_0']['kernel'],
      host.g_params['Dense_0']['kernel'])
  assert int(np.load(tmp_path / 'b.npz')['step']) == 2


def test_sample_errors_are_clear(tmp_path):
  with pytest.raises(checkpoints.NoCheckpointError, match='train first'):
    sample.load(tmp_path)
  train.train_and_evaluate(ring_config(2), tmp_path)
  with pytest.raises(ValueError, match='no checkpoint of step 7'):
    sample.load(tmp_path, step=7)
