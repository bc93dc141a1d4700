"""Evaluation of inpainting: the hole's L1, L2 and PSNR, and the FID.

On the evaluation images (the eval split), each with its fixed mask
(`inpainting.eval_holes`: image i's from (seed, i)), the completed image
(known pixels kept, the method's inside the hole) is quantised to uint8 as a
saved image, then compared with the original on [0, 1]:

  l1, l2  mean |c - x| and (c - x)^2 over the hole's pixels and channels,
          per image, averaged over images (Pathak et al.'s Table 1 mean L1 /
          L2, on [0, 1] rather than their [0, 255] / 255^2 scale);
  psnr    mean over images of 10 log10(1 / L2 of the hole), in dB;
  fid     with eval.fid: the Inception FID of the completed images against
          the originals (the same n, as `jaxgan.evaluate`'s protocol).

Baselines scored the same way (`baseline`): `mean_fill`, the hole filled
with the mean colour of the image's own known pixels, and `biharmonic`,
scikit-image's `inpaint_biharmonic` (classical PDE inpainting: the smooth
surface through the known pixels around the hole).
"""

import os
import time

from absl import app
import numpy as np

from jaxgan import errors
from jaxgan.families.paired import data as paired_data
from jaxgan.families.paired import evaluation as translation_eval
from jaxgan import inception
from jaxgan import input_pipeline
from jaxgan import translate
from jaxgan import writers

HIGHER_IS_BETTER = {'l1': False, 'l2': False, 'psnr': True, 'fid': False}
BASELINES = ('mean_fill', 'biharmonic')


def hole_metrics(completed, originals, holes) -> dict[str, np.ndarray]:
  """Per image l1, l2, psnr inside the hole; uint8 or [-1, 1] images."""
  c = translation_eval.to_unit(completed)
  x = translation_eval.to_unit(originals)
  h = np.broadcast_to(np.asarray(holes, np.float64), x.shape[:3] + (1,))
  area = np.maximum(h.sum(axis=(1, 2, 3)) * x.shape[-1], 1)
  l1 = (np.abs(c - x) * h).sum(axis=(1, 2, 3)) / area
  l2 = (np.square(c - x) * h).sum(axis=(1, 2, 3)) / area
  return {'l1': l1, 'l2': l2,
          'psnr': 10.0 * np.log10(1.0 / np.maximum(l2, 1e-10))}


def baseline(method: str, images: np.ndarray, holes: np.ndarray) -> np.ndarray:
  """uint8 images completed by a classical method."""
  holes = holes.astype(bool)[..., 0]
  out = images.copy()
  if method == 'mean_fill':
    for i, (image, hole) in enumerate(zip(images, holes)):
      known = image[~hole]
      out[i][hole] = np.round(known.mean(axis=0) if len(known) else 127.5)
    return out
  if method == 'biharmonic':
    from skimage import restoration  # pylint: disable=g-import-not-at-top
    for i, (image, hole) in enumerate(zip(images, holes)):
      filled = restoration.inpaint_biharmonic(
          image.astype(np.float64) / 255.0, hole, channel_axis=-1)
      out[i] = np.round(np.clip(filled, 0, 1) * 255)
    return out
  raise ValueError(f'unknown inpainting baseline {method!r}: use one of '
                   f'{BASELINES}')


def score(completed, pairs, fid_network=None, ref_stats=None) -> dict:
  """Mean hole metrics (and fid) of completed images against pairs'."""
  per_image = hole_metrics(completed, pairs['target'], pairs['holes'])
  result = {k: float(np.mean(v)) for k, v in per_image.items()}
  result['n'] = len(completed)
  if fid_network is not None:
    result['fid'] = translation_eval.fid(fid_network, completed,
                                         pairs['target'], ref_stats)
  return result


class InpaintingEvaluator(translation_eval.TranslationEvaluator):
  """The inpainting evaluation during training (config.eval_every): the
  metrics of the hole."""
  HIGHER_IS_BETTER = HIGHER_IS_BETTER
  INPUTS = ('source', 'holes')

  def metrics(self, outputs) -> dict[str, float]:
    return score(outputs, self.pairs, self.fid_network, self.ref_stats)


def complete_all(translator, pairs, chunk: int = 64) -> np.ndarray:
  """uint8 completed images of a trained inpainting run (`translate.load`)."""
  out = []
  for i in range(0, len(pairs['source']), chunk):
    out.append(inception.to_uint8(np.asarray(translator.complete(
        pairs['source'][i:i + chunk], pairs['holes'][i:i + chunk]))))
  return np.concatenate(out)


# --- python -m jaxgan.evaluate inpaint -------------------------------------
#   python -m jaxgan.evaluate inpaint --workdir=runs/ce_cifar10 [--fid] \
#       [--method=mean_fill|biharmonic] [--num=N]
# The metrics of a run, or of a baseline on the run's own images and masks,
# in result.json, and a grid (masked | biharmonic | jaxgan | original).


def define_flags():
  pass  # --fid, --method, --num, --out: evaluate's own.


def command(FLAGS):  # pylint: disable=invalid-name
  """inpaint: --method=model (the run) or one of BASELINES."""
  if not FLAGS.workdir:
    raise app.UsageError('inpaint needs --workdir: the run (its images and '
                         'masks score the baselines too)')
  if FLAGS.method not in ('model',) + BASELINES:
    raise app.UsageError(f'inpaint: --method=model or one of {BASELINES}')
  translator = translate.load(FLAGS.workdir, FLAGS.step, FLAGS.best)
  config = translator.config
  if config.data.name != 'inpainting':
    raise errors.ConfigError(f'{FLAGS.workdir} is not an inpainting run '
                             f'(data.name={config.data.name!r})')
  pairs = paired_data.InpaintData(config).eval_pairs(
      FLAGS.num or config.eval.num_examples or None)
  start = time.time()
  if FLAGS.method == 'model':
    completed = complete_all(translator, pairs)
  else:
    completed = baseline(FLAGS.method, pairs['target'], pairs['holes'])
  seconds = time.time() - start
  fid_network = inception.FeatureNetwork() if FLAGS.fid else None
  result = {'method': FLAGS.method, 'workdir': FLAGS.workdir,
            'step': translator.step, 'mask': config.data.mask,
            'hole_size': config.data.hole_size,
            'images': f'{config.data.data_dir} (eval split)',
            **score(completed, pairs, fid_network),
            'seconds': round(seconds, 1)}
  out = FLAGS.out or os.path.join(
      FLAGS.workdir, 'eval', f'inpaint_{FLAGS.method}_step{translator.step}'
      f'_n{len(completed)}')
  os.makedirs(out, exist_ok=True)
  # Eight images spread over the set (its classes), one per row.
  rows = input_pipeline.spread_rows(len(completed), 8)
  columns = [pairs['source'][rows], completed[rows], pairs['target'][rows]]
  if FLAGS.method == 'model':  # masked | biharmonic | jaxgan | original
    columns.insert(1, baseline('biharmonic', pairs['target'][rows],
                               pairs['holes'][rows]))
  writers.save_image(os.path.join(out, 'grid.png'),
                     writers.column_grid(columns))
  writers.write_result(out, result, ' and grid.png')
