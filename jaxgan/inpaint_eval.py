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

import numpy as np

from jaxgan import evaluate
from jaxgan import inception
from jaxgan import translation_eval
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
    if ref_stats is None:
      ref_stats = translation_eval.target_stats(fid_network, pairs['target'])
    other = evaluate.feature_stats(
        fid_network, translation_eval._rgb_uint8(  # pylint: disable=protected-access
            translation_eval.to_unit(completed)))
    result['fid'] = float(evaluate.compare_features(ref_stats, other)['fid'])
  return result


class InpaintingEvaluator:
  """The inpainting evaluation during training (config.eval_every)."""

  def __init__(self, config, data, workdir: str, write: bool = True):
    self.config = config
    self.pairs = data.eval_pairs(config.eval.num_examples or None)
    self.metric = config.eval.metric
    self.primary = f'eval/{self.metric}'
    self.higher_is_better = HIGHER_IS_BETTER[self.metric]
    self.fid_network = self.ref_stats = None
    if config.eval.fid:
      self.fid_network = inception.FeatureNetwork()
      self.ref_stats = translation_eval.target_stats(self.fid_network,
                                                     self.pairs['target'])
    self.history = evaluate.History(workdir, write)

  def outputs(self, predict, chunk: int = 64) -> np.ndarray:
    p = self.pairs
    return np.concatenate([
        np.asarray(predict({'source': p['source'][i:i + chunk],
                            'holes': p['holes'][i:i + chunk]}))
        for i in range(0, len(p['source']), chunk)])

  def evaluate(self, step: int, predict) -> dict[str, float]:
    result = score(self.outputs(predict), self.pairs, self.fid_network,
                   self.ref_stats)
    scalars = {f'eval/{k}': float(v) for k, v in result.items()}
    self.history.record(step, scalars)
    return scalars


def complete_all(translator, pairs, chunk: int = 64) -> np.ndarray:
  """uint8 completed images of a trained inpainting run (`translate.load`)."""
  out = []
  for i in range(0, len(pairs['source']), chunk):
    out.append(inception.to_uint8(np.asarray(translator.complete(
        pairs['source'][i:i + chunk], pairs['holes'][i:i + chunk]))))
  return np.concatenate(out)


def comparison_grid(columns, num: int) -> np.ndarray:
  """The first `num` rows of side-by-side uint8 image columns, one grid."""
  columns = [translation_eval.to_unit(c[:num]) * 2 - 1 for c in columns]
  channels = max(c.shape[-1] for c in columns)
  columns = [np.repeat(c, channels, -1) if c.shape[-1] != channels else c
             for c in columns]
  rows = np.stack(columns, axis=1).reshape((-1,) + columns[0].shape[1:])
  return writers.image_grid(rows, columns=len(columns))
