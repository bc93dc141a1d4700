r"""The 2D-mixture mode-collapse benchmark of VEEGAN and PacGAN, rerun.

  python -m jaxgan.benchmarks.mixtures \
      --methods=gan,unrolled,pacgan2,pacgan4,wgan_gp,instance_noise \
      --datasets=ring8,grid25 --seeds=5

trains every (method, dataset) with `configs/mixtures.py` for each seed,
draws 2,500 samples from each final generator, and prints the modes captured,
the share of high-quality samples and the reverse KL (`metrics.mixture_modes`:
a sample is high quality within 3 standard deviations of its nearest mode, a
mode is captured when it is the nearest mode of a high-quality sample) as mean
+- standard error over seeds, beside the published numbers: VEEGAN's Table 1
(Srivastava et al. 2017) and PacGAN's Table 1 (Lin et al. 2018).

The seeds of one (method, dataset) train together: one compiled program
vmaps the GAN iteration (`gan_family.GAN.iteration`, the trainer's own maths) over
seeds and scans it over steps, drawing fresh mixture points on the device.
Each finished (method, dataset) is appended to --out as one JSON line and
skipped when the command is run again, so an interrupted benchmark resumes;
with --chunk_steps (the default with --settings=paper) a row trains in
chunks, the seeds' states saved after each, and a stopped row resumes from
its last chunk with the same numbers as an unbroken run.
--figure draws the first seed's samples of every row over the mixture.

--settings=fast (the default) is configs/mixtures.py's small networks and
step counts, which measure the remedies on a CPU in minutes;
--settings=paper is the papers' own (`configs/mixtures.py:paper_config`:
PacGAN's four 400-unit BatchNorm layers against three maxout layers of
200 x 5, 400 epochs of a fixed set of 100,000 packed examples; WGAN-GP at
gan_toy.py's settings), which reproduce their Table 1 rows and take hours
of a GPU per row:

  python -m jaxgan.benchmarks.mixtures --settings=paper \
      --methods=gan,pacgan4,wgan_gp --datasets=ring8,grid25 --seeds=5 \
      --out=runs/mixtures_paper/results.jsonl --figure=runs/mixtures_paper/samples.png
"""

if __name__ == '__main__':
  # Before jax loads: glibc reads its tunables at start (jaxgan/hugepages.py).
  from jaxgan import hugepages  # pylint: disable=g-import-not-at-top
  hugepages.reexec()

import json
import math
import os
import time

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import input_pipeline
from jaxgan import metrics
from jaxgan import train
from jaxgan import writers
from jaxgan.families import gan as gan_family

_METHODS = flags.DEFINE_list(
    'methods', 'gan,unrolled,pacgan2,pacgan4,wgan_gp,instance_noise',
    'Methods of configs/mixtures.py to train.')
_DATASETS = flags.DEFINE_list('datasets', 'ring8,grid25', 'Mixtures.')
_SEEDS = flags.DEFINE_integer('seeds', 5, 'Seeds per (method, dataset).')
_STEPS = flags.DEFINE_integer(
    'steps', 0, 'Training iterations (0: the config\'s num_steps).')
_OUT = flags.DEFINE_string('out', 'runs/mixtures/results.jsonl',
                           'JSON lines of finished rows; rerunning resumes.')
_FIGURE = flags.DEFINE_string('figure', 'runs/mixtures/samples.png',
                              'Samples of the first seed per row ("": none).')
_SETTINGS = flags.DEFINE_enum(
    'settings', 'fast', ['fast', 'paper'],
    'fast: the small networks and step counts of configs/mixtures.py; '
    'paper: PacGAN\'s and gan_toy.py\'s own settings (`paper_config`).')
_CHUNK = flags.DEFINE_integer(
    'chunk_steps', -1,
    'Steps per compiled call, each followed by a save of the seeds\' states '
    '(in --out\'s .partial directory) from which a stopped row resumes; -1: '
    '10,000 with --settings=paper (a CPU row takes hours), the whole row '
    'otherwise; 0: the whole row.')
_SAMPLES = flags.DEFINE_integer('num_samples', 2500,
                                'Samples evaluated per seed (VEEGAN: 2,500).')

# (modes captured, % high quality) as published; None: not reported.
PUBLISHED = {
    ('gan', 'ring8'): {'VEEGAN': (1.0, 99.3), 'PacGAN': (6.3, 98.2)},
    ('gan', 'grid25'): {'VEEGAN': (3.3, 0.5), 'PacGAN': (17.3, 94.8)},
    ('unrolled', 'ring8'): {'VEEGAN': (7.6, 35.6)},
    ('unrolled', 'grid25'): {'VEEGAN': (23.6, 16.0)},
    ('pacgan4', 'ring8'): {'PacGAN': (7.8, 95.9)},
    ('pacgan4', 'grid25'): {'PacGAN': (24.8, 93.6)},
}


def load_config(method: str, dataset: str, settings: str = 'fast'):
  """configs/mixtures.py for `dataset,method[,paper]` (found beside the
  package)."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  path = os.path.join(os.path.dirname(__file__), '..', '..', 'configs',
                      'mixtures.py')
  spec = importlib.util.spec_from_file_location('mixtures_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(f'{dataset},{method}' +
                           (',paper' if settings == 'paper' else ''))


def train_seeds(config, seeds, num_steps: int, num_samples: int = 2500,
                chunk_steps: int = 0, resume: str | None = None,
                on_chunk=None):
  """Trains one config for every seed at once -> samples (S, N, 2), finite.

  Seed s initialises with key(s) and draws its data and noise from it; the
  iteration is `gan_family.GAN.iteration` with `base_key` = key(s). Samples come
  from the EMA of the generator when config.train.ema_decay > 0.

  chunk_steps > 0 trains in compiled calls of that many steps (the same
  numbers as one call: every draw is keyed by its step or epoch); with
  `resume` (a .npz path) the seeds' states are saved there after every
  chunk and a later call with the same arguments resumes from the last
  one. `on_chunk(steps_done)` is called after each chunk.
  """
  gan = gan_family.GAN(config, (2,))
  modes, std = input_pipeline.mixture_modes(config.data.name)
  modes = jnp.asarray(modes, jnp.float32)
  shape = (config.train.n_critic, config.train.batch_size)
  chunk_steps = chunk_steps or num_steps

  num_points = config.data.num_points
  per_epoch = 1
  if num_points:
    per_epoch = num_points // (shape[0] * shape[1])
    for name, value in (('num_steps', num_steps), ('chunk_steps',
                                                    chunk_steps)):
      if value % per_epoch:
        raise ValueError(f'a fixed set of {num_points} points is '
                         f'{per_epoch} steps an epoch: give a multiple as '
                         f'{name}, not {value}')

  def draw(key, count_shape):
    index_key, noise_key = jax.random.split(key)
    return (modes[jax.random.randint(index_key, count_shape, 0, len(modes))] +
            std * jax.random.normal(noise_key, count_shape + (2,)))

  def keys(seed):
    base = jax.random.key(seed)
    return (base, *jax.random.split(base, 3))

  def init(seed):
    return gan.init(keys(seed)[1])

  def advance(state, seed, start, count):
    """`count` steps from step `start` (a multiple of an epoch)."""
    base, _, data_key, _ = keys(seed)

    def step(state, real):
      state, step_metrics = gan.iteration(state, real, base_key=base)
      return state, step_metrics['finite']

    if num_points:
      # A fixed set, drawn once, visited in a fresh order every epoch: the
      # permutation is made once per epoch (an outer scan), not per step.
      points = draw(jax.random.fold_in(data_key, 0), (num_points,))

      def epoch(state, epoch_index):
        order = jax.random.permutation(
            jax.random.fold_in(data_key, epoch_index + 1), num_points)
        batches = points[order[:per_epoch * shape[0] * shape[1]]].reshape(
            (per_epoch,) + shape + (2,))
        return jax.lax.scan(step, state, batches)

      state, finite = jax.lax.scan(
          epoch, state, start // per_epoch + jnp.arange(count // per_epoch))
    else:
      def body(state, _):
        return step(state, draw(jax.random.fold_in(data_key, state.step),
                                shape))
      state, finite = jax.lax.scan(body, state, None, length=count)
    return state, jnp.all(finite)

  def sample(state, seed):
    z = jax.random.normal(keys(seed)[3],
                          (num_samples, config.model.latent_dim))
    params = state.g_params
    if config.train.ema_decay:
      state = gan.inference_state(state, ema=True)
      params = state.ema_params
    samples, _ = gan.generate(params, state.g_state, z, train=False)
    return samples

  seeds = jnp.asarray(seeds, jnp.uint32)
  run = jax.jit(jax.vmap(advance, in_axes=(0, 0, None, None)),
                static_argnums=3)
  fingerprint = json.dumps({'config': config.to_dict(),
                            'seeds': seeds.tolist(), 'steps': num_steps},
                           sort_keys=True, default=str)
  done, finite = 0, np.ones(len(seeds), bool)
  if resume and os.path.exists(resume):
    state, done, finite = _load_states(
        resume, jax.eval_shape(jax.vmap(init), seeds), fingerprint)
    logging.info('%s: resuming at step %d of %d', resume, done, num_steps)
  else:
    state = jax.jit(jax.vmap(init))(seeds)
  while done < num_steps:
    count = min(chunk_steps, num_steps - done)
    state, ok = run(state, seeds, done, count)
    done += count
    finite &= np.asarray(ok)
    if resume:
      _save_states(resume, state, done, finite, fingerprint)
    if on_chunk:
      on_chunk(done)
  samples = jax.jit(jax.vmap(sample))(state, seeds)
  return np.asarray(samples), finite


def _save_states(path: str, state, done: int, finite, fingerprint: str):
  """The seeds' states after `done` steps, written whole or not at all."""
  leaves = [np.asarray(jax.random.key_data(x) if _is_key(x) else x)
            for x in jax.tree.leaves(state)]
  tmp = f'{path}.tmp.npz'
  np.savez(tmp, *leaves, done=done, finite=finite, fingerprint=fingerprint)
  os.replace(tmp, path)


def _load_states(path: str, template, fingerprint: str):
  with np.load(path) as f:
    if str(f['fingerprint']) != fingerprint:
      raise ValueError(
          f'{path} holds another row\'s training (another config, seeds or '
          'step count): move it away to start this row afresh, or run the '
          'command that made it')
    leaves, treedef = jax.tree.flatten(template)
    saved = [f[f'arr_{i}'] for i in range(len(leaves))]
    done, finite = int(f['done']), np.asarray(f['finite'])
  restored = []
  for want, got in zip(leaves, saved):
    if _is_key(want):
      got = jax.random.wrap_key_data(got, impl=jax.random.key_impl(want))
    elif got.shape != want.shape or got.dtype != want.dtype:
      raise ValueError(f'{path}: a saved array is {got.dtype}{got.shape}, '
                       f'this code\'s is {want.dtype}{want.shape}: it was '
                       'saved by other code; move it away to start afresh')
    restored.append(jnp.asarray(got))
  return jax.tree.unflatten(treedef, restored), done, finite


def _is_key(x) -> bool:
  return jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def evaluate(samples, dataset: str) -> list[dict]:
  modes, std = input_pipeline.mixture_modes(dataset)
  out = []
  for seed_samples in samples:
    m = metrics.mixture_modes(seed_samples, modes, std)
    out.append({'modes': m['modes'], 'high_quality': m['high_quality'],
                'reverse_kl': m['reverse_kl']})
  return out


def mean_se(values) -> tuple[float, float]:
  values = np.asarray(values, np.float64)
  if not np.all(np.isfinite(values)):
    return float('inf'), float('nan')
  if len(values) < 2:
    return float(values.mean()), float('nan')
  return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


def table(rows: list[dict]) -> str:
  """Markdown table: measured mean +- standard error, published beside."""
  lines = ['| method | dataset | seeds | steps | modes | high quality % | '
           'reverse KL | published (modes / HQ %) | wall s |',
           '|---|---|---|---|---|---|---|---|---|']
  for row in rows:
    per_seed = row['per_seed']
    cells = []
    for key, scale in (('modes', 1), ('high_quality', 100),
                       ('reverse_kl', 1)):
      mean, se = mean_se([r[key] * scale for r in per_seed])
      cells.append(f'{mean:.1f} +- {se:.1f}' if key != 'reverse_kl' else
                   f'{mean:.2f} +- {se:.2f}')
    published = PUBLISHED.get((row['method'], row['dataset']), {})
    ref = '; '.join(f'{paper} {m:g} / {hq:g}'
                    for paper, (m, hq) in published.items()) or '-'
    lines.append(f"| {row['method']} | {row['dataset']} | {len(per_seed)} | "
                 f"{row['steps']} | {' | '.join(cells)} | {ref} | "
                 f"{row['wall_s']:.0f} |")
  return '\n'.join(lines)


def draw(path: str, rows: list[dict], samples: dict):
  """One scatter plot per row (first seed) over the mixture's modes."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  datasets = sorted({r['dataset'] for r in rows}, key=['ring8', 'grid25'].index)
  methods = list(dict.fromkeys(r['method'] for r in rows))
  fig, axes = plt.subplots(len(datasets), len(methods), squeeze=False,
                           figsize=(2.2 * len(methods), 2.3 * len(datasets)))
  for i, dataset in enumerate(datasets):
    modes, std = input_pipeline.mixture_modes(dataset)
    for j, method in enumerate(methods):
      ax = axes[i, j]
      writers.draw_mixture(ax, samples.get((method, dataset)), modes, std,
                           size=1, margin=1.4)
      ax.set_xticks([])
      ax.set_yticks([])
      if i == 0:
        ax.set_title(method, fontsize=9)
      if j == 0:
        ax.set_ylabel(dataset, fontsize=9)
  fig.tight_layout()
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  fig.savefig(path)
  plt.close(fig)


def main(argv):
  del argv
  seeds = list(range(_SEEDS.value))
  done = {}
  if os.path.exists(_OUT.value):
    with open(_OUT.value) as f:
      for line in f:
        row = json.loads(line)
        done[(row['method'], row['dataset'], row['seeds'], row['steps'],
              row.get('settings', 'fast'))] = row
  os.makedirs(os.path.dirname(_OUT.value) or '.', exist_ok=True)
  rows, first_samples = [], {}
  for dataset in _DATASETS.value:
    for method in _METHODS.value:
      config = load_config(method, dataset, _SETTINGS.value)
      steps = _STEPS.value or config.train.num_steps
      key = (method, dataset, len(seeds), steps, _SETTINGS.value)
      if key in done:
        rows.append(done[key])
        first_samples[(method, dataset)] = np.asarray(done[key]['samples'])
        continue
      chunk = _CHUNK.value
      if chunk < 0:
        chunk = 10_000 if _SETTINGS.value == 'paper' else 0
      partial = (f'{_OUT.value}.partial/{dataset}_{method}_{_SETTINGS.value}'
                 f'_seeds{len(seeds)}_steps{steps}.npz')
      if chunk:
        os.makedirs(os.path.dirname(partial), exist_ok=True)
      start = time.perf_counter()
      samples, finite = train_seeds(
          config, seeds, steps, _SAMPLES.value, chunk_steps=chunk,
          resume=partial if chunk else None,
          on_chunk=lambda done, m=method, d=dataset, t=start: logging.info(
              '%s on %s: step %d of %d (%.0f s)', m, d, done, steps,
              time.perf_counter() - t))
      row = {'method': method, 'dataset': dataset, 'seeds': len(seeds),
             'steps': steps, 'settings': _SETTINGS.value,
             'wall_s': time.perf_counter() - start,
             'finite': finite.tolist(), 'per_seed': evaluate(samples, dataset),
             'samples': samples[0].round(4).tolist()}
      with open(_OUT.value, 'a') as f:
        f.write(json.dumps(row) + '\n')
      if chunk and os.path.exists(partial):
        os.remove(partial)  # The row is in --out now.
      rows.append(row)
      first_samples[(method, dataset)] = samples[0]
      print(table([row]).splitlines()[-1], flush=True)
      if not finite.all():
        logging.warning('%s on %s: non-finite metrics in seeds %s', method,
                        dataset, [s for s, ok in zip(seeds, finite) if not ok])
  print(table(rows))
  if _FIGURE.value:
    draw(_FIGURE.value, rows, first_samples)
    print(f'figure: {_FIGURE.value}')


if __name__ == '__main__':
  app.run(main)
