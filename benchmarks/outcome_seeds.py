r"""The spread over seeds of every training outcome a test asserts.

  python -m benchmarks.outcome_seeds --num_seeds=12 --jsonl=runs/outcome_seeds.jsonl

A fixed-seed trajectory is not a fixed result: float rounding differs
between processors (AVX2 vs AVX-512 kernels, other summation orders), and a
GAN amplifies the difference until the run is effectively another draw. So a
test of a training outcome asserts on a statistic whose spread over seeds is
measured here, with a margin, and says so. Each outcome is computed exactly
as its test computes it, with `config.seed` (or the classifier's seed) set
to each seed in turn. Rows are appended to --jsonl as they finish (one JSON
line per outcome and seed); a rerun skips what is there, so it resumes.
"""

import json
import os

from absl import app
from absl import flags
import jax
import numpy as np

from configs import cgan
from configs import gan_mlp
from jaxgan import classifier
from jaxgan import input_pipeline
from jaxgan import train
from jaxgan.families import gan as gan_family

FLAGS = flags.FLAGS


def ring8_covered_modes(samples: np.ndarray) -> int:
  """Modes of ring8 holding >= 1% of 2,500 samples within 0.15 of the centre."""
  modes, std = input_pipeline.mixture_modes('ring8')
  distances = np.linalg.norm(samples[:, None] - modes[None], axis=-1)
  nearest = distances.argmin(1)
  close = distances.min(1) < 3 * std * 5
  counts = np.bincount(nearest[close], minlength=8)
  return int(np.sum(counts >= 25))


def _train_steps(config, num_steps):
  """`num_steps` iterations of `config` on one device -> (trainer, state)."""
  dataset = input_pipeline.create_dataset(config)
  gan_family.resolve_num_classes(config, dataset)
  trainer = train.Trainer(config, dataset.sample_shape, jax.devices()[:1])
  state = trainer.init_state()
  batches = input_pipeline.batch_iterator(dataset, config)
  for _ in range(num_steps):
    state, _ = trainer.step(state, next(batches))
  return trainer, state


def ring8_gan(seed: int) -> dict:
  """tests/ring8_test.py: non-saturating MLP GAN, 1,500 steps."""
  config = gan_mlp.get_config('ring8')
  config.seed = seed
  trainer, state = _train_steps(config, 1500)
  samples = trainer.predict(state,
                            {'z': gan_family.fixed_noise(config, 2500)})
  return {'covered': ring8_covered_modes(samples)}


def ring8_cgan(seed: int) -> dict:
  """tests/conditional_test.py: cGAN on ring8, the share of samples of each
  label nearest its own mode."""
  config = cgan.get_config('ring8,mlp')
  config.seed = seed
  trainer, state = _train_steps(config, 1500)
  modes, _ = input_pipeline.mixture_modes('ring8')
  labels = np.repeat(np.arange(8, dtype=np.int32), 100)
  points = trainer.predict(state, {'z': gan_family.fixed_noise(config, 800),
                                   'labels': labels})
  nearest = np.argmin(((points[:, None] - modes[None]) ** 2).sum(-1), 1)
  return {'label_accuracy': float(np.mean(nearest == labels))}


def ring8_unrolled(seeds: list[int]) -> list[dict]:
  """tests/mode_collapse_test.py: modes of the plain and the unrolled GAN
  (configs/mixtures.py, 2,500 steps), the seeds vmapped."""
  from jaxgan.benchmarks import mixtures as bench  # pylint: disable=g-import-not-at-top
  rows = [{} for _ in seeds]
  for method in ('gan', 'unrolled'):
    config = bench.load_config(method, 'ring8')
    samples, finite = bench.train_seeds(config, seeds, num_steps=2500)
    for row, result, ok in zip(rows, bench.evaluate(samples, 'ring8'),
                               finite):
      row[method] = result['modes'] if ok else -1
  return rows


def mnist_classifier(seed: int) -> dict:
  """tests/evaluate_test.py: the MNIST classifier, 2 epochs on 8,000 digits
  of the embedded test split, tested on the other 2,000."""
  images = input_pipeline.read_idx(
      input_pipeline.EMBEDDED_MNIST / 't10k-images-idx3-ubyte.gz')[..., None]
  labels = input_pipeline.read_idx(
      input_pipeline.EMBEDDED_MNIST / 't10k-labels-idx1-ubyte.gz')
  labels = labels.astype(np.int32)
  _, accuracy = classifier.train(images[:8000], labels[:8000], images[8000:],
                                 labels[8000:], epochs=2, seed=seed)
  return {'test_accuracy': float(accuracy)}


PER_SEED = {'ring8_gan': ring8_gan, 'ring8_cgan': ring8_cgan,
            'mnist_classifier': mnist_classifier}
OUTCOMES = tuple(PER_SEED) + ('ring8_unrolled',)

flags.DEFINE_integer('num_seeds', 12, 'Seeds 0..N-1.')
flags.DEFINE_list('outcomes', list(OUTCOMES), 'Which outcomes.')
flags.DEFINE_string('jsonl', 'runs/outcome_seeds.jsonl', 'JSON lines (resumed).')


def _done(path) -> set[tuple[str, int]]:
  if not os.path.exists(path):
    return set()
  with open(path) as f:
    return {(r['outcome'], r['seed']) for r in map(json.loads, f)}


def summary(path) -> dict:
  """{outcome: {metric: (min, mean, std, max, n)}} of the rows in `path`."""
  with open(path) as f:
    rows = [json.loads(line) for line in f]
  out = {}
  for outcome in sorted({r['outcome'] for r in rows}):
    values = {}
    for r in rows:
      if r['outcome'] == outcome:
        for k, v in r.items():
          if k not in ('outcome', 'seed'):
            values.setdefault(k, []).append(v)
    out[outcome] = {k: (min(v), float(np.mean(v)), float(np.std(v, ddof=1)),
                        max(v), len(v)) for k, v in values.items()}
  return out


def main(argv):
  del argv
  os.makedirs(os.path.dirname(os.path.abspath(FLAGS.jsonl)), exist_ok=True)
  seeds = list(range(FLAGS.num_seeds))
  done = _done(FLAGS.jsonl)

  def write(outcome, seed, row):
    with open(FLAGS.jsonl, 'a') as f:
      f.write(json.dumps({'outcome': outcome, 'seed': seed, **row}) + '\n')

  for outcome in FLAGS.outcomes:
    todo = [s for s in seeds if (outcome, s) not in done]
    if not todo:
      continue
    if outcome == 'ring8_unrolled':
      for seed, row in zip(todo, ring8_unrolled(todo)):
        write(outcome, seed, row)
    else:
      for seed in todo:
        write(outcome, seed, PER_SEED[outcome](seed))
  for outcome, metrics in summary(FLAGS.jsonl).items():
    for metric, (lo, mean, std, hi, n) in metrics.items():
      print(f'{outcome:18s} {metric:15s} n={n:3d} min={lo:.4g} '
            f'mean={mean:.4g} std={std:.3g} max={hi:.4g}')


if __name__ == '__main__':
  app.run(main)
