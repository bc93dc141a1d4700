r"""TadGAN's seconds per epoch and per signal, beside Orion's on the same CPU.

  python -m benchmarks.tadgan_speed \
      --signal=artificialWithAnomaly/art_daily_jumpsup.csv --epochs=5 \
      [--orion_python=ORION_VENV/bin/python] [--out=runs/tadgan_speed]

jaxgan (`configs/tadgan.py:nab`, Orion's settings): the whole run as
`train.train_and_evaluate` does it (data, compile, training, checkpoints,
detection, anomalies.csv), its wall time end to end, and the seconds of
every epoch (steps_per_epoch iterations, timed on the device's results;
the first epoch includes the compile). Then, with --orion_python, Orion's
`tadgan` pipeline on the same signal and epochs through
../shared/bench/orion_tadgan_run.py (fit and detect, its epoch clock; run
after jaxgan, nothing else running), and the table: per-epoch median after
the first, first epoch, end to end, detection, and the speedups.

As `jaxgan.main`, the command restarts itself once with glibc's huge-page
tunable (jaxgan/hugepages.py; JAXGAN_HUGEPAGES=0: not). Orion runs with the
environment as started, or with the same tunable under --orion_hugepages
(to check that it would not gain from it as well).
"""

if __name__ == '__main__':
  # Before jax loads: glibc reads its tunables at start (jaxgan/hugepages.py).
  from jaxgan import hugepages  # pylint: disable=g-import-not-at-top
  hugepages.reexec()

import json
import os
import pathlib
import subprocess
import sys
import time

from absl import app
from absl import flags
import jax
import numpy as np

from jaxgan import cli
from jaxgan import hugepages
from jaxgan import train
from jaxgan.networks import conv_forms

CONFIG = os.path.join(os.path.dirname(__file__), '..', 'configs', 'tadgan.py')
ORION_RUN = os.path.join(os.path.dirname(__file__), '..', '..', 'shared',
                         'bench', 'orion_tadgan_run.py')

_SIGNAL = flags.DEFINE_string(
    'signal', 'artificialWithAnomaly/art_daily_jumpsup.csv', 'NAB key.')
_EPOCHS = flags.DEFINE_integer('epochs', 5, 'Epochs (Orion: 35).')
_NAB = flags.DEFINE_string('nab_dir', '../shared/data/nab', 'NAB folder.')
_ORION = flags.DEFINE_string('orion_python', None,
                             'Python of a venv with orion-ml 0.7.1.')
_OUT = flags.DEFINE_string('out', 'runs/tadgan_speed', 'Workdirs, results.')
_ORION_HP = flags.DEFINE_bool(
    'orion_hugepages', False, 'Run Orion with the huge-page tunable too.')


class _EpochClock:
  """Wraps Trainer.step: the time at each epoch's last iteration."""

  def __init__(self, trainer, steps_per_epoch):
    self.trainer, self.per_epoch = trainer, steps_per_epoch
    self.stamps, self.count = [], 0
    self._step = trainer.step

  def step(self, state, batch, phase=None):
    state, metrics = self._step(state, batch, phase)
    self.count += 1
    if self.count % self.per_epoch == 0:
      jax.block_until_ready(state)
      self.stamps.append(time.perf_counter())
    return state, metrics


def run_jaxgan(workdir: pathlib.Path) -> dict:
  config = cli.load_config_file(CONFIG + ':nab')
  config.data.data_dir = _NAB.value
  config.data.signal = _SIGNAL.value
  config.train.epochs = _EPOCHS.value
  config.checkpoint_every = 10**9  # The end's only, as Orion's one save.
  clock = {}
  original = train.Trainer.__init__

  def patched(self, *args, **kwargs):
    original(self, *args, **kwargs)
    per_epoch = self.family.config.train.num_steps // _EPOCHS.value
    clock['c'] = _EpochClock(self, per_epoch)
    self.step = clock['c'].step

  train.Trainer.__init__ = patched
  start = time.perf_counter()
  try:
    train.train_and_evaluate(config, str(workdir), jax.devices()[:1])
  finally:
    train.Trainer.__init__ = original
  total = time.perf_counter() - start
  stamps = clock['c'].stamps
  epochs = [stamps[0] - start] + list(np.diff(stamps))
  return {'total_s': total, 'epoch_s': epochs,
          'after_training_s': total - (stamps[-1] - start),
          'steps_per_epoch': clock['c'].per_epoch}


def run_orion(out: pathlib.Path) -> dict:
  start = time.perf_counter()
  subprocess.run([_ORION.value, ORION_RUN, '--signal', _SIGNAL.value,
                  '--nab', os.path.abspath(_NAB.value), '--epochs',
                  str(_EPOCHS.value), '--out', str(out)], check=True,
                 env=(hugepages.with_tunable(os.environ) if _ORION_HP.value
                      else hugepages.without_tunable(os.environ)))
  result = json.loads((out / 'result.json').read_text())
  result['process_s'] = time.perf_counter() - start
  return result


def main(argv):
  del argv
  out = pathlib.Path(_OUT.value)
  out.mkdir(parents=True, exist_ok=True)
  cpu = conv_forms.machine()['cpu']
  print(f'CPU: {cpu.get("model_name") or cpu["processor"]}, family '
        f'{cpu.get("family")} model {cpu.get("model")}, {os.cpu_count()} '
        f'cores; jax {jax.__version__}; GLIBC_TUNABLES='
        f'{os.environ.get("GLIBC_TUNABLES", "")!r}', flush=True)
  workdir = out / f'jaxgan_e{_EPOCHS.value}_{int(time.time())}'
  ours = run_jaxgan(workdir)
  rows = {'jaxgan': ours}
  if _ORION.value:
    theirs = run_orion(out / f'orion_e{_EPOCHS.value}_{int(time.time())}')
    rows['orion'] = {'total_s': theirs['total_s'],
                     'epoch_s': theirs['epoch_s'],
                     'after_training_s': theirs['detect_s'],
                     'fit_s': theirs['fit_s'], 'scores': theirs['scores']}
  table = {}
  for name, r in rows.items():
    later = r['epoch_s'][1:] or r['epoch_s']
    table[name] = {'first_epoch_s': r['epoch_s'][0],
                   'epoch_s_median': float(np.median(later)),
                   'epoch_s_min': float(np.min(later)),
                   'after_training_s': r['after_training_s'],
                   'total_s': r['total_s']}
  print(f'{_SIGNAL.value}, {_EPOCHS.value} epochs')
  print(f'{"":8s} {"epoch s (median, min)":>22s} {"first epoch":>11s} '
        f'{"detect+":>8s} {"end to end":>10s}')
  for name, t in table.items():
    print(f'{name:8s} {t["epoch_s_median"]:12.3f} {t["epoch_s_min"]:9.3f} '
          f'{t["first_epoch_s"]:11.1f} {t["after_training_s"]:8.1f} '
          f'{t["total_s"]:10.1f}')
  if 'orion' in table:
    a, b = table['jaxgan'], table['orion']
    print(f'speedup: per epoch {b["epoch_s_median"] / a["epoch_s_median"]:.1f}x'
          f', end to end {b["total_s"] / a["total_s"]:.1f}x')
  (out / 'result.json').write_text(json.dumps(
      {'signal': _SIGNAL.value, 'epochs': _EPOCHS.value, 'cpu': cpu,
       'glibc_tunables': os.environ.get('GLIBC_TUNABLES', ''),
       'orion_hugepages': _ORION_HP.value,
       'table': table, 'runs': rows}, indent=1, default=str))


if __name__ == '__main__':
  sys.exit(app.run(main))
