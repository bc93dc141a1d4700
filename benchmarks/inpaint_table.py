r"""README's inpainting table: a run and the classical baselines, one protocol.

  python -m benchmarks.inpaint_table --workdir=runs/ce_cifar10 [--num=2000] \
      [--methods=model,mean_fill,biharmonic] [--fid] [--out=table.json]

Scores every method on the run's evaluation images with their fixed masks
(`jaxgan/inpaint_eval.py`: the hole's L1, L2, PSNR; with --fid the Inception
FID of the completed images against the originals), computing the
originals' Inception statistics once for all of them (the same numbers as
`python -m jaxgan.evaluate inpaint` method by method, which computes them
each time). Prints one JSON line per method.
"""

import json
import time

from absl import app
from absl import flags

from jaxgan import cli
from jaxgan import inception
from jaxgan import inpaint_eval
from jaxgan import paired_data
from jaxgan import translate
from jaxgan import translation_eval

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'The inpainting run.')
flags.DEFINE_integer('num', None, 'Evaluation images (default: the run\'s '
                     'config.eval.num_examples).')
flags.DEFINE_list('methods', ['model', 'mean_fill', 'biharmonic'],
                  'model and/or the baselines.')
flags.DEFINE_bool('fid', False, 'Also the Inception FID.')
flags.DEFINE_string('out', None, 'Write the rows as one JSON file.')


def main(argv):
  del argv
  translator = translate.load(FLAGS.workdir)
  config = translator.config
  pairs = paired_data.InpaintData(config).eval_pairs(
      FLAGS.num or config.eval.num_examples or None)
  network = ref = None
  if FLAGS.fid:
    network = inception.FeatureNetwork()
    ref = translation_eval.target_stats(network, pairs['target'])
  rows = []
  for method in FLAGS.methods:
    start = time.time()
    if method == 'model':
      completed = inpaint_eval.complete_all(translator, pairs)
    else:
      completed = inpaint_eval.baseline(method, pairs['target'],
                                        pairs['holes'])
    seconds = time.time() - start
    row = {'method': method, 'step': translator.step,
           **inpaint_eval.score(completed, pairs, network, ref),
           'fill_seconds': round(seconds, 1)}
    rows.append(row)
    print(json.dumps(row), flush=True)
  if FLAGS.out:
    with open(FLAGS.out, 'w') as f:
      json.dump(rows, f, indent=1)


if __name__ == '__main__':
  flags.mark_flags_as_required(['workdir'])
  cli.run(main)
