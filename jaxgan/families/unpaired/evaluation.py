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
  success_AtoB, ...  with a domain classifier (`domain_classifier.py`;
                     config.eval.classifier during training): the share
                     of translations it takes for the target domain;
  fid, cycle         the means of the two directions (`config.eval.metric`
                     picks the one that keeps the best checkpoint).

Lower is better for all but the success rates. The same numbers for the
inputs themselves (no translation: `input_copy`) are the baseline a
translator must beat. `python -m jaxgan.evaluate unpaired --workdir=RUN`
scores a saved run (below).
"""

import os
import time

from absl import app
import numpy as np

from jaxgan import evaluate
from jaxgan import inception
from jaxgan import input_pipeline
from jaxgan import writers
from jaxgan.families.paired import evaluation as paired_evaluation
from jaxgan.families.unpaired import data as unpaired_data
from jaxgan.families.unpaired import domain_classifier

HIGHER_IS_BETTER = {'fid': False, 'cycle': False}
DIRECTIONS = (('A', 'B'), ('B', 'A'))
# The Inception statistics of images (uint8 or [-1, 1]), as pix2pix's.
_stats = paired_evaluation.target_stats


def direction_metrics(images: dict, outputs: dict, fid_network=None,
                      ref_stats: dict | None = None,
                      classifier_network=None,
                      output_stats: dict | None = None) -> dict:
  """The metrics of `outputs` (predict's fake_B, rec_A, fake_A, rec_B) on
  the evaluation `images` {'A', 'B'}; `ref_stats`: each domain's image
  statistics, when already known; `classifier_network`: the domain
  classifier of the success rates; `output_stats`: {dst: the statistics
  of fake_dst}, when already known."""
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
      fake_stats = (output_stats or {}).get(dst)
      if fake_stats is None:
        fake_stats = _stats(fid_network, outputs[f'fake_{dst}'])
      compared = evaluate.compare_features(ref_stats[dst], fake_stats)
      result[f'fid_{src}to{dst}'] = float(compared['fid'])
      result[f'kid_{src}to{dst}'] = float(compared['kid'])
    result['fid'] = (result['fid_AtoB'] + result['fid_BtoA']) / 2
  if classifier_network is not None:
    result.update(domain_classifier.success_rates(classifier_network,
                                                  outputs))
  return result


def input_copy(images: dict, fid_network, ref_stats=None,
               classifier_network=None) -> dict:
  """FID/KID (and success rates) of each domain's images themselves
  against the other domain's (the untranslated baseline)."""
  copied = {'fake_B': images['A'], 'fake_A': images['B']}
  copied_stats = None
  if fid_network is not None:  # The copies are their domain's own images.
    ref_stats = ref_stats or {d: _stats(fid_network, x)
                              for d, x in images.items()}
    copied_stats = {'B': ref_stats['A'], 'A': ref_stats['B']}
  return direction_metrics(images, copied, fid_network, ref_stats,
                           classifier_network, copied_stats)


def outputs_of(predict, images: dict, chunk: int = 64) -> dict:
  """predict's outputs on each domain's images, in chunks, as numpy."""
  out = {}
  for src, _ in DIRECTIONS:
    parts = [predict({src: images[src][i:i + chunk]})
             for i in range(0, len(images[src]), chunk)]
    for key in parts[0]:
      out[key] = np.concatenate([np.asarray(p[key]) for p in parts])
  return out


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
    self.classifier_network = None
    if config.eval.classifier:
      self.classifier_network = domain_classifier.load(
          config, None if config.eval.classifier == 'auto'
          else config.eval.classifier)
    self.history = evaluate.History(workdir, write)

  def evaluate(self, step: int, predict) -> dict[str, float]:
    result = direction_metrics(self.images, outputs_of(predict, self.images),
                               self.fid_network, self.ref_stats,
                               self.classifier_network)
    scalars = {f'eval/{k}': float(v) for k, v in result.items()}
    self.history.record(step, scalars)
    return scalars


# --- python -m jaxgan.evaluate unpaired -------------------------------------
#   python -m jaxgan.evaluate unpaired --workdir=runs/cyclegan_cat2dog \
#       [--fid] [--method=model|input] [--step=N|--best] [--num=N]
# Every metric above on the run's evaluation images, with the success rates
# when the domain classifier of its data is trained (domain_classifier.py),
# in result.json, and a grid (A | G_A(A) | rec A | B | G_B(B) | rec B).


def define_flags():
  pass  # --workdir, --step, --best, --fid, --method, --num, --out.


def command(FLAGS):  # pylint: disable=invalid-name
  """unpaired: --method=model (the run) or input (no translation)."""
  from jaxgan import translate  # pylint: disable=g-import-not-at-top
  if not FLAGS.workdir:
    raise app.UsageError('unpaired needs --workdir: the run (its config '
                         'names the evaluation images)')
  if FLAGS.method not in ('model', 'input'):
    raise app.UsageError('unpaired: --method=model (the run) or input (the '
                         'untranslated images)')
  translator = translate.load(FLAGS.workdir, FLAGS.step, FLAGS.best)
  config = translator.config
  images = unpaired_data.UnpairedData(config).eval_images(FLAGS.num)
  classifier_path = domain_classifier.path_of(config)
  classifier_network = (domain_classifier.load(config)
                        if os.path.exists(classifier_path) else None)
  fid_network = inception.FeatureNetwork() if FLAGS.fid else None
  start = time.time()
  if FLAGS.method == 'model':
    outputs = outputs_of(translator.predict, images)
    metrics = direction_metrics(images, outputs, fid_network, None,
                                classifier_network)
  else:
    outputs = {'fake_B': images['A'], 'fake_A': images['B'],
               'rec_A': images['A'], 'rec_B': images['B']}
    metrics = input_copy(images, fid_network, None, classifier_network)
  result = {'method': FLAGS.method, 'workdir': FLAGS.workdir,
            'step': translator.step,
            'checkpoint': 'best' if FLAGS.best else 'latest',
            'images': f'{config.data.data_dir} {tuple(config.data.eval_dirs)}',
            **metrics, 'seconds': round(time.time() - start, 1)}
  if classifier_network is None:
    result['success'] = (
        'not scored: no domain classifier of these domains; train it with '
        f'python -m jaxgan.evaluate domain-classifier --workdir={FLAGS.workdir}')
  else:
    result['classifier'] = {k: classifier_network.meta[k] for k in
                            ('test_accuracy', 'weights_sha256', 'version')}
  out = FLAGS.out or os.path.join(
      FLAGS.workdir, 'eval', f'unpaired_{FLAGS.method}_step{translator.step}'
      f'{"_best" if FLAGS.best else ""}_n{len(images["A"])}')
  rows = {d: input_pipeline.spread_rows(len(x), 8) for d, x in images.items()}
  columns = []
  for src, dst in DIRECTIONS:
    columns += [images[src][rows[src]], outputs[f'fake_{dst}'][rows[src]],
                outputs[f'rec_{src}'][rows[src]]]
  writers.save_image(os.path.join(out, 'grid.png'),
                     writers.column_grid(columns))
  writers.write_result(out, result, ' and grid.png')
