r"""Times the full training iteration, as the trainer runs it, after compiling.

  python -m benchmarks.train_speed
  python -m benchmarks.train_speed --models=dcgan28,wgan_gp28 \
      --conv_impl=conv,matmul --repeats=10

One iteration is what `Trainer.step` runs: n_critic critic updates and one
generator update (and EMA), on one device, with a fixed uint8 batch already
in host memory (the input pipeline is not timed here). Prints a table and,
with --json, one JSON object per row.
"""

import json
import time

from absl import app
from absl import flags
import jax
import numpy as np

from configs import dcgan, gan_mlp, wgan_gp
from jaxgan import train

FLAGS = flags.FLAGS
flags.DEFINE_list('models', 'mlp_mnist,dcgan28,dcgan32_mnist,dcgan64,'
                  'wgan_gp28,wgan_gp32', 'Workloads to time.')
flags.DEFINE_list('conv_impl', 'auto', "Convolution formulations to compare "
                  "('auto', 'conv', 'matmul').")
flags.DEFINE_integer('repeats', 0, 'Timed iterations (0: a per-model default).')
flags.DEFINE_string('json', None, 'Also append one JSON line per row here.')

# name -> (config module, sample shape, batch size, default repeats)
WORKLOADS = {
    'mlp_mnist': (gan_mlp, (28, 28, 1), 128, 50),
    'dcgan28': (dcgan, (28, 28, 1), 64, 20),
    'dcgan32_mnist': (dcgan, (32, 32, 1), 64, 20),
    'dcgan64': (dcgan, (64, 64, 3), 64, 5),
    'wgan_gp28': (wgan_gp, (28, 28, 1), 64, 5),
    'wgan_gp32': (wgan_gp, (32, 32, 3), 64, 5),
}


def time_workload(name: str, conv_impl: str, repeats: int) -> dict:
  module, shape, batch_size, default_repeats = WORKLOADS[name]
  config = module.get_config()
  config.model.conv_impl = conv_impl
  config.train.batch_size = batch_size
  trainer = train.Trainer(config, shape, devices=jax.devices()[:1])
  state = trainer.init_state()
  rng = np.random.default_rng(0)
  batch = {'x': rng.integers(0, 256, (config.train.n_critic, batch_size,
                                      *shape), np.uint8)}
  start = time.perf_counter()
  state, metrics = trainer.step(state, batch)
  jax.block_until_ready(metrics)
  compile_s = time.perf_counter() - start
  times = []
  for _ in range(repeats or default_repeats):
    start = time.perf_counter()
    state, metrics = trainer.step(state, batch)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  times = np.array(times)
  median = float(np.median(times))
  return {
      'model': name, 'conv_impl': conv_impl, 'batch': batch_size,
      'n_critic': config.train.n_critic, 'repeats': len(times),
      'sec_per_iter_median': median,
      'sec_per_iter_p10': float(np.percentile(times, 10)),
      'sec_per_iter_p90': float(np.percentile(times, 90)),
      'imgs_per_sec': batch_size / median,
      'compile_and_first_iter_s': compile_s,
      'backend': jax.default_backend(), 'jax': jax.__version__,
      'traces': trainer.trace_count,
  }


def main(argv):
  del argv
  print(f'{"model":<14} {"conv_impl":<9} {"s/iter":>8} {"p10-p90":>15} '
        f'{"img/s":>8} {"compile s":>9}')
  for name in FLAGS.models:
    if name not in WORKLOADS:
      raise app.UsageError(f'unknown model {name!r}: one of {list(WORKLOADS)}')
    for impl in FLAGS.conv_impl:
      row = time_workload(name, impl, FLAGS.repeats)
      print(f'{name:<14} {impl:<9} {row["sec_per_iter_median"]:8.3f} '
            f'{row["sec_per_iter_p10"]:7.3f}-{row["sec_per_iter_p90"]:<7.3f} '
            f'{row["imgs_per_sec"]:8.1f} {row["compile_and_first_iter_s"]:9.1f}',
            flush=True)
      if FLAGS.json:
        with open(FLAGS.json, 'a') as f:
          f.write(json.dumps(row) + '\n')


if __name__ == '__main__':
  app.run(main)
