"""launch.sh: what each mode runs (--dry-run), and a real local launch."""

import json
import os
import pathlib
import shlex
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def launch(*args, env=None):
  return subprocess.run([str(ROOT / 'launch.sh'), *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300,
                        env={**os.environ, **(env or {})})


def dry_run(*args):
  result = launch('--dry-run', *args)
  assert result.returncode == 0, result.stderr
  return [shlex.split(line) for line in result.stdout.splitlines()]


def test_local_dry_run():
  assert dry_run('local', 'configs/wgan_gp.py', 'runs/x', '--config.seed=3') == [
      ['python3', '-m', 'jaxgan.main', '--config=configs/wgan_gp.py',
       '--workdir=runs/x', '--config.seed=3']]


def test_tpu_dry_run_installs_and_runs_on_every_worker():
  archive, scp, ssh = dry_run('tpu', 'my-tpu', 'us-central2-b',
                              'configs/dcgan.py:cifar10', 'gs://bucket/run',
                              '--config.train.num_steps=10')
  assert archive[:2] == ['git', 'archive'] and archive[-1] == 'HEAD'
  tarball = archive[archive.index('-o') + 1]
  assert scp[:5] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'scp']
  assert scp[5] == tarball and scp[6] == 'my-tpu:~/jaxgan-src.tar.gz'
  assert '--worker=all' in scp and '--zone=us-central2-b' in scp
  assert ssh[:6] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'ssh', 'my-tpu']
  assert '--worker=all' in ssh and '--zone=us-central2-b' in ssh
  remote = next(a for a in ssh if a.startswith('--command='))
  remote = remote[len('--command='):]
  assert "pip install -q -e '.[tpu]'" in remote
  assert remote.index('pip install') < remote.index('jaxgan.main')
  train = shlex.split(remote[remote.index('JAXGAN_DISTRIBUTED=1'):])
  assert train == ['JAXGAN_DISTRIBUTED=1', 'python3', '-m', 'jaxgan.main',
                   '--config=configs/dcgan.py:cifar10',
                   '--workdir=gs://bucket/run', '--config.train.num_steps=10']


def test_slurm_dry_run_one_process_per_node():
  assert dry_run('slurm', '4', 'configs/wgan.py', '/shared/run',
                 '--config.seed=1') == [
      ['env', 'JAXGAN_DISTRIBUTED=1', 'srun', '--nodes=4',
       '--ntasks-per-node=1', 'python3', '-m', 'jaxgan.main',
       '--config=configs/wgan.py', '--workdir=/shared/run',
       '--config.seed=1']]


def test_bad_usage_exits_2_with_help():
  for args in [(), ('tpu', 'only-a-name'), ('slurm', 'four', 'c', 'w'),
               ('mars',)]:
    result = launch(*args)
    assert result.returncode == 2
    assert 'launch.sh' in result.stderr or 'NODES' in result.stderr


def test_local_launch_trains(tmp_path):
  result = launch('local', 'configs/gan_mlp.py:ring8', str(tmp_path),
                  '--config.train.num_steps=2', '--config.log_every=1',
                  '--config.train.batch_size=64',
                  env={'PYTHON': sys.executable})
  assert result.returncode == 0, result.stderr[-3000:]
  records = [json.loads(l) for l in
             (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in records] == [1, 2]
  assert (tmp_path / 'checkpoints' / '2').is_dir()
