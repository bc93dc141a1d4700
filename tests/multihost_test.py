"""Multi-host training for real: 2 processes x 2 CPU devices over gloo."""

import os
import pathlib
import socket
import subprocess
import sys

import jax
import numpy as np

from jaxgan import checkpoints
from configs import gan_mlp
from jaxgan import train

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARGS = ['--config=configs/gan_mlp.py:ring8', '--config.train.batch_size=64',
        '--config.log_every=1', '--config.sample_every=3',
        '--config.checkpoint_every=3']


def free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def run_two_processes(workdir, num_steps):
  port = free_port()
  processes = []
  for i in range(2):
    env = {**os.environ, 'JAXGAN_DISTRIBUTED': '1', 'JAX_PLATFORMS': 'cpu',
           'XLA_FLAGS': '--xla_force_host_platform_device_count=2',
           'JAX_COORDINATOR_ADDRESS': f'127.0.0.1:{port}',
           'JAX_NUM_PROCESSES': '2', 'JAX_PROCESS_ID': str(i)}
    processes.append(subprocess.Popen(
        [sys.executable, '-m', 'jaxgan.main', f'--workdir={workdir}', *ARGS,
         f'--config.train.num_steps={num_steps}'],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True))
  outputs = []
  for process in processes:
    _, stderr = process.communicate(timeout=600)
    outputs.append(stderr)
    assert process.returncode == 0, stderr[-4000:]
  return outputs


def test_two_processes_match_one_process_and_resume(tmp_path):
  workdir = tmp_path / 'multi'
  logs = run_two_processes(workdir, 3)
  for i, log in enumerate(logs):
    assert f'process {i} of 2' in log
    assert log.count("CpuDevice(") >= 4, log[:3000]  # All 4 devices.
  # Only process 0 writes logs and samples.
  assert len((workdir / 'metrics.jsonl').read_text().splitlines()) == 3
  assert sorted(p.name for p in (workdir / 'samples').iterdir()) == [
      'step_000003.png']
  # Both processes wrote their part of the checkpoint.
  step_dir = workdir / 'checkpoints' / '3' / 'state'
  assert {p.name for p in step_dir.glob('ocdbt.process_*')} >= {
      'ocdbt.process_0', 'ocdbt.process_1'}

  # The same global batch on 1 process x 4 devices.
  config = gan_mlp.get_config('ring8')
  config.train.batch_size = 64
  config.train.num_steps = 3
  config.sample_every = 3
  config.checkpoint_every = 3
  single = train.train_and_evaluate(config, tmp_path / 'single',
                                    devices=jax.devices()[:4])
  ckpt = checkpoints.Checkpointer(checkpoints.checkpoint_dir(workdir))
  multi = ckpt.restore_raw(3, jax.sharding.SingleDeviceSharding(
      jax.devices()[0]))
  single = jax.device_get(single)
  for name in ('g_params', 'd_params', 'ema_params'):
    for a, b in zip(jax.tree.leaves(multi[name]),
                    jax.tree.leaves(getattr(single, name))):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5,
                                 atol=1e-7)

  # Both processes resume from the checkpoint they wrote.
  logs = run_two_processes(workdir, 5)
  for log in logs:
    assert f'Resuming from {workdir / "checkpoints" / "3"} (step 3)' in log
  assert 5 in checkpoints.Checkpointer(
      checkpoints.checkpoint_dir(workdir)).all_steps()
  assert len((workdir / 'metrics.jsonl').read_text().splitlines()) == 5
