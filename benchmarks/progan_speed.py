r"""ProGAN's iteration per phase: time, XLA's FLOP count, and their rate.

  python -m benchmarks.progan_speed \
      [--config=configs/progan.py:cifar10_folder,cpu] [--steps=10] \
      [--out=runs/progan_speed.json]

compiles the progressive family's iteration for every phase of the
config's schedule (its resolution, fading or stable, at its batch size),
runs one warm-up and then --steps iterations of each on random images, and
prints per phase: batch size, ms per iteration, XLA's FLOP count of the
compiled iteration (`cost_analysis`), GFLOP/s and the FLOPs per image. A
fade-in should cost a little more than its resolution's stable phase (the
previous level's toRGB/fromRGB besides), and nothing of a higher
resolution is computed below it: FLOPs per image grow about 4x per level
where the widths stay equal. Time it with nothing else running, and name
the CPU (or GPU) beside the numbers.
"""

import json
import os
import time

from absl import app
from absl import flags
from ml_collections import config_flags
import jax
import numpy as np

from jaxgan import families

_CONFIG = config_flags.DEFINE_config_file(
    'config', 'configs/progan.py:cifar10_folder,cpu',
    'Config file[:arg]; --config.X=Y overrides.', lock_config=True)
_STEPS = flags.DEFINE_integer('steps', 10, 'Timed iterations per phase.')
_OUT = flags.DEFINE_string('out', '', 'JSON of the rows (optional).')


def main(argv):
  del argv
  config = _CONFIG.value
  family_cls = families.get(families.of(config))
  family_cls.validate(config)
  data = family_cls.create_data(config)
  family_cls.resolve(config, data)
  family = family_cls(config, data.spec)
  state = jax.jit(family.init)(jax.random.key(0))
  update = jax.jit(family.update, static_argnums=2, donate_argnums=0)
  rng = np.random.default_rng(0)
  rows = []
  print(f'{"phase":22s} {"batch":>5s} {"ms/it":>8s} {"GFLOP":>8s} '
        f'{"GFLOP/s":>8s} {"MFLOP/img":>10s}')
  for phase in family.phases:
    side = phase.resolution
    batch = {'image': rng.uniform(-1, 1, (phase.batch_size, side, side,
                                          data.spec[-1])).astype(np.float32)}
    state = state.replace(step=np.int32(phase.start + phase.steps // 2))
    compiled = update.lower(state, batch, phase).compile()
    flops = compiled.cost_analysis().get('flops', float('nan'))
    state, metrics = update(state, batch, phase)  # Warm-up.
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(_STEPS.value):
      state, metrics = update(state, batch, phase)
    jax.block_until_ready(metrics)
    seconds = (time.perf_counter() - start) / _STEPS.value
    row = {'phase': phase.name(), 'batch': phase.batch_size,
           'ms': 1e3 * seconds, 'gflop': flops / 1e9,
           'gflops': flops / 1e9 / seconds,
           'mflop_per_image': flops / 1e6 / phase.batch_size}
    rows.append(row)
    print(f'{row["phase"]:22s} {row["batch"]:5d} {row["ms"]:8.1f} '
          f'{row["gflop"]:8.2f} {row["gflops"]:8.1f} '
          f'{row["mflop_per_image"]:10.1f}')
  if _OUT.value:
    os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
    with open(_OUT.value, 'w') as f:
      json.dump({'config': config.to_dict(), 'device': str(jax.devices()[0]),
                 'rows': rows}, f, indent=1)


if __name__ == '__main__':
  app.run(main)
