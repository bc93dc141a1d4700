"""Evaluation of image-to-image translation: L1, PSNR, SSIM and FID.

On the evaluation pairs (the eval split's centre crops), outputs are
quantised to uint8 as the saved images are, then compared with the targets
in [0, 1]:

  l1    mean |output - target| (on [0, 1], per pixel and channel);
  psnr  mean over images of 10 log10(1 / MSE) (peak 1, at most 100), in dB;
  ssim  mean over images of SSIM (Wang et al. 2004: Gaussian window
        sigma 1.5, K1 0.01, K2 0.03, population covariances, averaged over
        channels; scikit-image's structural_similarity with those settings);
  fid   with eval.fid: the Inception FID of the outputs against the targets
        (the same n, stated as eval/n), pytorch-fid's protocol as
        `jaxgan.evaluate`.

Lower l1 and fid, higher psnr and ssim are better; `config.eval.metric`
picks the one that keeps the best checkpoint. `input_copy` gives the same
metrics of the source itself as the output (the baseline a trainer must beat
where source and target share their channels).
"""

import numpy as np

from jaxgan import evaluate
from jaxgan import inception

HIGHER_IS_BETTER = {'l1': False, 'psnr': True, 'ssim': True, 'fid': False}


def to_unit(images) -> np.ndarray:
  """uint8, or floats in [-1, 1] (quantised to uint8 first) -> [0, 1]."""
  images = np.asarray(images)
  if images.dtype != np.uint8:
    images = inception.to_uint8(images)
  return images.astype(np.float64) / 255.0


def psnr(outputs, targets) -> np.ndarray:
  """Per image PSNR in dB of [0, 1] images (peak 1), at most 100 dB (an
  exact copy, e.g. a grey CIFAR-10 image and its grey input)."""
  mse = np.mean((outputs - targets) ** 2, axis=(1, 2, 3))
  return 10.0 * np.log10(1.0 / np.maximum(mse, 1e-10))


def ssim(outputs, targets) -> np.ndarray:
  """Per image SSIM of [0, 1] images (Wang et al. 2004's settings)."""
  from skimage import metrics as sk_metrics  # pylint: disable=g-import-not-at-top
  return np.array([
      sk_metrics.structural_similarity(
          o, t, channel_axis=-1, data_range=1.0, gaussian_weights=True,
          sigma=1.5, use_sample_covariance=False)
      for o, t in zip(outputs, targets)])


def _rgb_uint8(images) -> np.ndarray:
  """[0, 1] images -> uint8 RGB, as the Inception network takes them."""
  images = np.repeat(images, 3, -1) if images.shape[-1] == 1 else images
  return np.round(images * 255).astype(np.uint8)


def target_stats(fid_network, targets) -> dict:
  """The Inception statistics of the targets (computed once per eval set)."""
  return evaluate.feature_stats(fid_network, _rgb_uint8(to_unit(targets)))


def pair_metrics(outputs, targets, fid_network=None,
                 ref_stats=None) -> dict[str, float]:
  """l1, psnr, ssim (and fid, given `fid_network`) of outputs against
  targets; `ref_stats`: the targets' `target_stats`, when already known."""
  out, tgt = to_unit(outputs), to_unit(targets)
  if out.shape[-1] != tgt.shape[-1]:  # A grey input copy vs colour targets.
    out = np.repeat(out, tgt.shape[-1], -1)
  result = {'l1': float(np.mean(np.abs(out - tgt))),
            'psnr': float(np.mean(psnr(out, tgt))),
            'ssim': float(np.mean(ssim(out, tgt))), 'n': len(out)}
  if fid_network is not None:
    result['fid'] = fid(fid_network, outputs, targets, ref_stats)
  return result


def fid(fid_network, outputs, targets, ref_stats=None) -> float:
  """The FID of outputs against targets (`ref_stats`: the targets'
  `target_stats`, when already known)."""
  if ref_stats is None:
    ref_stats = target_stats(fid_network, targets)
  other = evaluate.feature_stats(fid_network, _rgb_uint8(to_unit(outputs)))
  return float(evaluate.compare_features(ref_stats, other)['fid'])


class TranslationEvaluator:
  """The paired family's evaluation during training (config.eval_every)."""
  HIGHER_IS_BETTER = HIGHER_IS_BETTER
  INPUTS = ('source',)  # The keys of the eval pairs that predict reads.

  def __init__(self, config, data, workdir: str, write: bool = True):
    self.config = config
    self.pairs = data.eval_pairs(config.eval.num_examples or None)
    self.metric = config.eval.metric
    self.primary = f'eval/{self.metric}'
    self.higher_is_better = self.HIGHER_IS_BETTER[self.metric]
    self.fid_network = self.ref_stats = None
    if config.eval.fid:
      self.fid_network = inception.FeatureNetwork()
      self.ref_stats = target_stats(self.fid_network, self.pairs['target'])
    self.history = evaluate.History(workdir, write)

  def outputs(self, predict, chunk: int = 64) -> np.ndarray:
    n = len(self.pairs['source'])
    return np.concatenate([
        np.asarray(predict({k: self.pairs[k][i:i + chunk]
                            for k in self.INPUTS}))
        for i in range(0, n, chunk)])

  def metrics(self, outputs) -> dict[str, float]:
    return pair_metrics(outputs, self.pairs['target'], self.fid_network,
                        self.ref_stats)

  def evaluate(self, step: int, predict) -> dict[str, float]:
    result = self.metrics(self.outputs(predict))
    scalars = {f'eval/{k}': float(v) for k, v in result.items()}
    self.history.record(step, scalars)
    return scalars


def input_copy(pairs, fid_network=None, ref_stats=None) -> dict[str, float]:
  """The metrics of copying the source as the output."""
  return pair_metrics(pairs['source'], pairs['target'], fid_network,
                      ref_stats)
