"""The progressive family's evaluation during training (`eval_every`):
FID (and the reference's other metrics), SWD per pyramid level and the
MS-SSIM diversity of the samples."""

import json
import os

from absl import flags
import numpy as np

from jaxgan import evaluate
from jaxgan import inception
from jaxgan import input_pipeline
from jaxgan import metrics
from jaxgan.families import gan


class ProgressiveEvaluator(evaluate.TrainingEvaluator):
  """Metrics of `config.eval.num_samples` samples of the state's generator
  (its phase and alpha; the EMA's with `config.eval.use_ema`) at the data's
  resolution: the reference's (FID first, lower is better), then
  `eval/swd_<side>` and `eval/swd` (x 1e3, against `eval.swd_images`
  training images drawn once) and `eval/ms_ssim` (lower is more
  diverse)."""
  higher_is_better = False

  def __init__(self, config, dataset, workdir: str, write: bool = True):
    super().__init__(config, dataset, workdir, write)
    self.z = gan.fixed_noise(config, config.eval.num_samples,
                             stream=2**31 - 2)
    self.swd_reals = swd_reals(config, dataset, len(self.z), config.seed)

  def evaluate(self, step: int, predict) -> dict:
    samples = generate(lambda z: predict({'z': z}, self.config.eval.use_ema),
                       self.z)
    return self(step, samples, extra=paper_metrics(
        samples, self.swd_reals, self.config.eval.ms_ssim_pairs,
        self.config.seed))


def generate(sample, z: np.ndarray, chunk: int = 500) -> np.ndarray:
  """sample(z) over z in chunks, concatenated on the host."""
  return np.concatenate([np.asarray(sample(z[i:i + chunk]))
                         for i in range(0, len(z), chunk)])


def swd_reals(config, dataset, num: int, seed: int) -> np.ndarray | None:
  """The training images SWD compares `num` samples with: min(num,
  eval.swd_images) of them in a fixed order of `seed`; None when SWD is off
  or the images are under 16x16."""
  count = min(config.eval.swd_images, num, dataset.num_examples)
  if not count or min(dataset.sample_shape[:2]) < 16:
    return None
  return dataset.fetch(input_pipeline.stream_indices(
      seed + 1, np.arange(count), dataset.num_examples))[0]


def paper_metrics(samples, reals=None, ms_ssim_pairs: int = 1000,
                  seed: int = 0) -> dict[str, float]:
  """{'eval/swd_<side>', 'eval/swd'} of samples (in [-1, 1] or uint8)
  against as many uint8 `reals` (None: no SWD), and 'eval/ms_ssim', the
  mean MS-SSIM of `ms_ssim_pairs` random pairs of samples (0: none)."""
  images = inception.to_uint8(samples)
  out = {}
  if reals is not None:
    swd = metrics.sliced_wasserstein_distance(reals, images[:len(reals)],
                                              seed)
    out.update({f'eval/{k}': v for k, v in swd.items()})
  if ms_ssim_pairs and len(images) > 1:
    out['eval/ms_ssim'] = metrics.ms_ssim_diversity(images, ms_ssim_pairs,
                                                    seed)
  return out


def define_flags():
  # Besides evaluate's --workdir, --step, --best, --ema, --num, --ref,
  # --seed and --out:
  flags.DEFINE_integer('fade', 0, 'progressive: instead of metrics, the '
                       'figure of one fade-in: this resolution\'s (-1: the '
                       'last fade-in with checkpoints through it), the same '
                       'z at each of its kept checkpoints.')


def fade_figure(workdir: str, resolution: int = -1, rows: int = 4,
                ema: bool = False, seed: int = 0,
                out: str | None = None) -> dict:
  """The same `rows` latents through one fade-in, one column per checkpoint
  the run kept from the fade's first step (alpha 0: the previous
  resolution's output) to the next phase's first (alpha 1), each at its own
  phase and alpha and upsampled to the data's side: OUT/fade_<res>.png
  (rows z, columns steps) and fade_<res>.json (the columns' steps and
  alphas). A run keeps such checkpoints with --config.checkpoint_every at
  most a quarter of the fade's steps and --config.keep_checkpoints large
  enough to hold them."""
  import jax  # pylint: disable=g-import-not-at-top
  from jaxgan import checkpoints  # pylint: disable=g-import-not-at-top
  from jaxgan import errors  # pylint: disable=g-import-not-at-top
  from jaxgan import writers  # pylint: disable=g-import-not-at-top
  from jaxgan.families import progressive  # pylint: disable=g-import-not-at-top
  from jaxgan.families.progressive import schedule  # pylint: disable=g-import-not-at-top
  ckpt = checkpoints.Checkpointer(checkpoints.checkpoint_dir(workdir),
                                  read_only=True)
  try:
    steps = ckpt.all_steps()
  finally:
    ckpt.close()
  latest = checkpoints.read_run(workdir, None, False, 'progressive',
                                'python -m jaxgan.evaluate run scores noise '
                                'GANs')
  family = progressive.Progressive(latest.config,
                                   tuple(latest.meta['sample_shape']))
  fades = {p.resolution: [s for s in steps if p.start <= s <= p.end]
           for p in family.phases if p.fading}
  if resolution == -1:
    through = [r for r, kept in fades.items() if len(kept) >= 3]
    resolution = through[-1] if through else max(fades, default=0)
  if resolution not in fades:
    raise errors.ConfigError(
        f'--fade={resolution}: the run fades in {sorted(fades)} only')
  kept = fades[resolution]
  phase = next(p for p in family.phases
               if p.fading and p.resolution == resolution)
  if len(kept) < 3:
    raise errors.ConfigError(
        f'{workdir} kept {len(kept)} checkpoint(s) of the {resolution}x'
        f'{resolution} fade-in (steps {phase.start} to {phase.end}), steps '
        f'{kept}; the figure needs 3 or more: train it with '
        f'--config.checkpoint_every={max(1, phase.steps // 4)} and a '
        '--config.keep_checkpoints that holds them.')
  predict = jax.jit(family.predict, static_argnames='ema')
  z = np.asarray(jax.random.normal(jax.random.key(seed),
                                   (rows, latest.config.model.latent_dim)))
  columns = []
  for step in kept:
    run = latest if step == latest.step else checkpoints.read_run(
        workdir, step, False, 'progressive')
    state = progressive.ProgressiveState(
        step=np.int32(step), g_params=run.raw['g_params'], d_params=None,
        g_opt_state=None, d_opt_state=None,
        ema_params=run.raw['ema_params'])
    columns.append(np.asarray(predict(state, {'z': z}, ema=ema)))
  images = np.stack(columns, axis=1).reshape(-1, *columns[0].shape[1:])
  out = out or os.path.join(workdir, 'eval')
  os.makedirs(out, exist_ok=True)
  name = os.path.join(out, f'fade_{resolution}')
  writers.save_image(name + '.png', writers.image_grid(images, len(kept)))
  alphas = [float(schedule.alpha(schedule.phase_at(family.phases, s), s))
            for s in kept]
  result = {'workdir': str(workdir), 'resolution': resolution,
            'steps': kept, 'alphas': alphas, 'ema': ema, 'rows': rows,
            'figure': name + '.png'}
  with open(name + '.json', 'w') as f:
    json.dump(result, f, indent=1)
  print(f'{name}.png: {rows} latents x steps {kept} (alpha {alphas})')
  return result


def command(FLAGS):  # pylint: disable=invalid-name
  """progressive: --num samples of the run's generator at its checkpoint's
  phase (--ema: the EMA's); the metrics of --ref (a stats file: FID, KID,
  ...), SWD per level against `eval.swd_images` training images, and the
  MS-SSIM of `eval.ms_ssim_pairs` pairs; OUT/result.json and a grid."""
  import jax  # pylint: disable=g-import-not-at-top
  from absl import app  # pylint: disable=g-import-not-at-top
  from jaxgan import checkpoints  # pylint: disable=g-import-not-at-top
  from jaxgan import writers  # pylint: disable=g-import-not-at-top
  from jaxgan.families import progressive  # pylint: disable=g-import-not-at-top
  if not FLAGS.workdir:
    raise app.UsageError('progressive needs --workdir: the run')
  if FLAGS.fade:
    return fade_figure(FLAGS.workdir, FLAGS.fade, ema=FLAGS.ema,
                       seed=FLAGS.seed, out=FLAGS.out)
  run = checkpoints.read_run(
      FLAGS.workdir, FLAGS.step, FLAGS.best, 'progressive',
      'python -m jaxgan.evaluate run scores noise GANs')
  config, raw = run.config, run.raw
  data = input_pipeline.create_dataset(config)
  family = progressive.Progressive(config, tuple(run.meta['sample_shape']))
  state = progressive.ProgressiveState(
      step=np.int32(run.step), g_params=raw['g_params'], d_params=None,
      g_opt_state=None, d_opt_state=None, ema_params=raw['ema_params'])
  predict = jax.jit(family.predict, static_argnames='ema')
  num = FLAGS.num or 10000
  z = np.asarray(jax.random.normal(jax.random.key(FLAGS.seed),
                                   (num, config.model.latent_dim)))
  samples = generate(lambda z: predict(state, {'z': z}, ema=FLAGS.ema), z)
  images = inception.to_uint8(samples)
  result = {'workdir': FLAGS.workdir, 'step': run.step,
            'phase': family.phase(run.step).name(), 'ema': FLAGS.ema,
            'samples': num}
  if FLAGS.ref:
    ref, protocol = evaluate.load_stats(FLAGS.ref)
    for net, network in evaluate.reference_networks(protocol,
                                                    FLAGS.ref).items():
      scores = evaluate.network_metrics(net, network, ref[net], images,
                                        FLAGS.seed)
      result.update({f'{net}_{k}': float(v) for k, v in scores.items()
                     if isinstance(v, (int, float))})
  reals = swd_reals(config, data, num, FLAGS.seed)
  result.update({k.removeprefix('eval/'): v for k, v in paper_metrics(
      images, reals, config.eval.ms_ssim_pairs, FLAGS.seed).items()})
  out = FLAGS.out or os.path.join(
      FLAGS.workdir, 'eval', f'progressive_step{run.step}'
      f'{"_best" if FLAGS.best else ""}{"_ema" if FLAGS.ema else ""}_n{num}')
  writers.save_image(os.path.join(out, 'samples.png'),
                     writers.image_grid(samples[:64]))
  writers.write_result(out, result, ' and samples.png')
  return result
