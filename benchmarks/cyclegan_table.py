r"""README's CycleGAN table: the untranslated inputs and several runs on the
same domains, one protocol.

  python -m benchmarks.cyclegan_table \
      --workdirs=runs/cyclegan_cat2dog,runs/cyclegan_cat2dog_noidt --fid \
      [--num=N] [--best] [--out=table.json]

Scores the untranslated test images ('input') and each run's last (or
best) checkpoint as `python -m jaxgan.evaluate unpaired` does
(`jaxgan/families/unpaired/evaluation.py`: per direction FID and KID with
--fid, the cycle L1, the success rates by the domain classifier of the
domains when it is trained), computing the test images' Inception
statistics once for all rows. The runs must share their evaluation images.
Each row also gives the run's steps and its training wall time (the first
to the last line of metrics.jsonl, so it leaves out the first step's
compilation; an interval between log lines over 10 times the median is
taken for a stop and counted as the median). Prints one JSON line per row.
"""

import json
import os

from absl import app
from absl import flags
import numpy as np

from jaxgan import cli
from jaxgan import errors
from jaxgan import inception
from jaxgan import translate
from jaxgan.families.unpaired import data as unpaired_data
from jaxgan.families.unpaired import domain_classifier
from jaxgan.families.unpaired import evaluation

FLAGS = flags.FLAGS
STOPPED = 10  # An interval between log lines this many times the median.


def define_flags():
  """Defined only when run as a program: importing claims no flag names."""
  flags.DEFINE_list('workdirs', None, 'Unpaired runs on the same domains.')
  flags.DEFINE_integer('num', None, 'Evaluation images per domain (default '
                       'all).')
  flags.DEFINE_bool('best', False, 'Each run\'s best checkpoint.')
  flags.DEFINE_bool('fid', False, 'Also the Inception FID and KID.')
  flags.DEFINE_string('out', None, 'Write the rows as one JSON file.')


def training_time(workdir) -> dict:
  """Steps, and seconds from the first to the last training line of
  metrics.jsonl; an interval between two lines over STOPPED times the
  median one is a stop and resume (the run was not training) and counts as
  the median. `resumed`: how many such intervals there were."""
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  steps = [r for r in rows if 'g_loss' in r]
  gaps = np.diff([r['time'] for r in steps])
  median = float(np.median(gaps)) if len(gaps) else 0.0
  stopped = gaps > STOPPED * median
  seconds = float(np.sum(np.where(stopped, median, gaps)))
  return {'steps': steps[-1]['step'], 'train_seconds': round(seconds, 1),
          'resumed': int(stopped.sum())}


def table(workdirs, fid_network=None, num=None, best=False) -> list[dict]:
  """The input row and one row per run."""
  translators = [translate.load(w, best=best) for w in workdirs]
  config = translators[0].config
  for workdir, t in zip(workdirs, translators):
    if domain_classifier.key(t.config) != domain_classifier.key(config):
      raise errors.ConfigError(
          f'{workdir} translates other domains than {workdirs[0]}: a table '
          'compares runs on the same evaluation images')
  images = unpaired_data.UnpairedData(config).eval_images(num)
  classifier_network = None
  if os.path.exists(domain_classifier.path_of(config)):
    classifier_network = domain_classifier.load(config)
  ref_stats = None
  if fid_network is not None:
    ref_stats = {d: evaluation._stats(fid_network, x)  # pylint: disable=protected-access
                 for d, x in images.items()}
  rows = [{'method': 'input', **evaluation.input_copy(
      images, fid_network, ref_stats, classifier_network)}]
  for workdir, t in zip(workdirs, translators):
    outputs = evaluation.outputs_of(t.predict, images)
    rows.append({'method': 'model', 'workdir': workdir, 'step': t.step,
                 **training_time(workdir),
                 **evaluation.direction_metrics(
                     images, outputs, fid_network, ref_stats,
                     classifier_network)})
  if classifier_network is not None:
    for row in rows:
      row['classifier_test_accuracy'] = classifier_network.meta[
          'test_accuracy']
  return rows


def main(argv):
  del argv
  if not FLAGS.workdirs:
    raise app.UsageError('--workdirs: one or more unpaired runs')
  fid_network = inception.FeatureNetwork() if FLAGS.fid else None
  rows = table(FLAGS.workdirs, fid_network, FLAGS.num, FLAGS.best)
  for row in rows:
    print(json.dumps(row))
  if FLAGS.out:
    with open(FLAGS.out, 'w') as f:
      json.dump(rows, f, indent=1)


if __name__ == '__main__':
  define_flags()
  cli.run(main)
