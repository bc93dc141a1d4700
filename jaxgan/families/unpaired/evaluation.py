"""Evaluation of unpaired translation: per direction, FID and KID, and the
cycle reconstruction.

On the evaluation images of both domains (centre crops, `eval_images`),
translated and quantised to uint8 as saved images are:

  cycle_A, cycle_B   mean |F(G(x)) - x| on [0, 1] (rec_A against A, rec_B
                     against B), per pixel and channel;
  fid_AtoB, kid_AtoB with eval.fid: the Inception FID and KID (as CUT and
                     later papers report it) of G_A(test A) against the
                     test images of B, and fid_BtoA of G_B(test B) against A;
                     n_A, n_B images each;
  fid, cycle         the means of the two directions (`config.eval.metric`
                     picks the one that keeps the best checkpoint).

Lower is better for all of them. The same numbers for the inputs
themselves (no translation: `input_copy`) are the baseline a translator
must beat.
"""

import numpy as np

from jaxgan import evaluate
from jaxgan import inception
from jaxgan.families.paired import evaluation as paired_evaluation

HIGHER_IS_BETTER = {'fid': False, 'cycle': False}
DIRECTIONS = (('A', 'B'), ('B', 'A'))
# The Inception statistics of images (uint8 or [-1, 1]), as pix2pix's.
_stats = paired_evaluation.target_stats


def direction_metrics(images: dict, outputs: dict, fid_network=None,
                      ref_stats: dict | None = None) -> dict:
  """The metrics of `outputs` (predict's fake_B, rec_A, fake_A, rec_B) on
  the evaluation `images` {'A', 'B'}; `ref_stats`: each domain's image
  statistics, when already known."""
  result = {}
  for src, _ in DIRECTIONS:
    result[f'n_{src}'] = len(images[src])
    if f'rec_{src}' in outputs:
      result[f'cycle_{src}'] = float(np.mean(np.abs(
          paired_evaluation.to_unit(outputs[f'rec_{src}']) -
          paired_evaluation.to_unit(images[src]))))
  if 'cycle_A' in result and 'cycle_B' in result:
    result['cycle'] = (result['cycle_A'] + result['cycle_B']) / 2
  if fid_network is not None:
    ref_stats = ref_stats or {d: _stats(fid_network, x)
                              for d, x in images.items()}
    for src, dst in DIRECTIONS:
      compared = evaluate.compare_features(
          ref_stats[dst], _stats(fid_network, outputs[f'fake_{dst}']))
      result[f'fid_{src}to{dst}'] = float(compared['fid'])
      result[f'kid_{src}to{dst}'] = float(compared['kid'])
    result['fid'] = (result['fid_AtoB'] + result['fid_BtoA']) / 2
  return result


def input_copy(images: dict, fid_network, ref_stats=None) -> dict:
  """FID/KID of each domain's images themselves against the other domain's
  (the untranslated baseline)."""
  copied = {'fake_B': images['A'], 'fake_A': images['B']}
  return direction_metrics(images, copied, fid_network, ref_stats)


class UnpairedEvaluator:
  """The unpaired family's evaluation during training (config.eval_every)."""

  def __init__(self, config, data, workdir: str, write: bool = True,
               fid_network=None):
    self.images = data.eval_images(config.eval.num_examples or None)
    self.metric = config.eval.metric
    self.primary = f'eval/{self.metric}'
    self.higher_is_better = HIGHER_IS_BETTER[self.metric]
    self.fid_network = fid_network
    if self.fid_network is None and config.eval.fid:
      self.fid_network = inception.FeatureNetwork()
    self.ref_stats = None
    if self.fid_network is not None:
      self.ref_stats = {d: _stats(self.fid_network, x)
                        for d, x in self.images.items()}
    self.history = evaluate.History(workdir, write)

  def outputs(self, predict, chunk: int = 64) -> dict:
    out = {}
    for src, _ in DIRECTIONS:
      parts = [predict({src: self.images[src][i:i + chunk]})
               for i in range(0, len(self.images[src]), chunk)]
      for key in parts[0]:
        out[key] = np.concatenate([np.asarray(p[key]) for p in parts])
    return out

  def evaluate(self, step: int, predict) -> dict[str, float]:
    result = direction_metrics(self.images, self.outputs(predict),
                               self.fid_network, self.ref_stats)
    scalars = {f'eval/{k}': float(v) for k, v in result.items()}
    self.history.record(step, scalars)
    return scalars
