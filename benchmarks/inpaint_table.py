r"""README's inpainting table: a run and the classical baselines, one protocol.

  python -m benchmarks.inpaint_table --workdir=runs/ce_cifar10 [--num=2000] \
      [--methods=model,mean_fill,biharmonic] [--fid] [--out=table.json] \
      [--save=DIR]
  # Score completions saved by --save, where the run's checkpoint is not
  # (a GPU machine trained it; this one has the Inception weights):
  python -m benchmarks.inpaint_table --saved=DIR --fid

Scores every method on the run's evaluation images with their fixed masks
(`jaxgan/families/paired/inpaint_eval.py`: the hole's L1, L2, PSNR; with
--fid the Inception FID of the completed images against the originals),
computing the
originals' Inception statistics once for all of them (the same numbers as
`python -m jaxgan.evaluate inpaint` method by method, which computes them
each time). Prints one JSON line per method.

--save writes DIR/completed.npz (every method's uint8 completions) and
DIR/config.json (the run's config, which remakes the same images and masks);
--saved scores those instead of completing.
"""

import json
import os
import time

from absl import app
from absl import flags

import ml_collections
import numpy as np

from jaxgan import cli
from jaxgan import errors
from jaxgan.families.paired import data as paired_data
from jaxgan.families.paired import evaluation as translation_eval
from jaxgan.families.paired import inpaint_eval
from jaxgan import inception
from jaxgan import translate

FLAGS = flags.FLAGS


def define_flags():
  """Defined only when run as a program: importing claims no flag names."""
  flags.DEFINE_string('workdir', None, 'The inpainting run.')
  flags.DEFINE_integer('num', None, 'Evaluation images (default: the run\'s '
                       'config.eval.num_examples).')
  flags.DEFINE_list('methods', ['model', 'mean_fill', 'biharmonic'],
                    'model and/or the baselines.')
  flags.DEFINE_bool('fid', False, 'Also the Inception FID.')
  flags.DEFINE_string('out', None, 'Write the rows as one JSON file.')
  flags.DEFINE_string('save', None, 'Also write the completions and the run\'s '
                      'config to this folder (completed.npz, config.json).')
  flags.DEFINE_string('saved', None, 'Score the completions a --save wrote to '
                      'this folder instead of completing (no --workdir).')


def _read_saved(folder):
  """(config, step, {method: uint8 completions}) that --save wrote."""
  paths = [os.path.join(folder, n) for n in ('config.json', 'completed.npz')]
  for path in paths:
    if not os.path.exists(path):
      raise errors.MissingFileError(
          f'{path} not found: --saved reads the folder that '
          '`python -m benchmarks.inpaint_table --workdir=RUN --save=DIR` '
          'wrote.')
  with open(paths[0]) as f:
    config = ml_collections.ConfigDict(json.load(f))
  with np.load(paths[1]) as saved:
    step = int(saved['__step__'])
    completed = {k: saved[k] for k in saved.files if k != '__step__'}
  return config, step, completed


def main(argv):
  del argv
  if bool(FLAGS.workdir) == bool(FLAGS.saved):
    raise app.UsageError('one of --workdir (a run) or --saved (a --save '
                         'folder)')
  translator = saved = None
  if FLAGS.saved:
    config, step, saved = _read_saved(FLAGS.saved)
  else:
    translator = translate.load(FLAGS.workdir)
    config, step = translator.config, translator.step
  pairs = paired_data.InpaintData(config).eval_pairs(
      FLAGS.num or config.eval.num_examples or None)
  network = ref = None
  if FLAGS.fid:
    network = inception.FeatureNetwork()
    ref = translation_eval.target_stats(network, pairs['target'])
  rows, completions = [], {}
  for method in FLAGS.methods:
    start = time.time()
    if saved is not None:
      if method not in saved:
        raise errors.MissingFileError(
            f'{FLAGS.saved}/completed.npz has no {method!r} (it has '
            f'{sorted(saved)}): pass --methods from those.')
      completed = saved[method]
      if completed.shape != pairs['target'].shape:
        raise errors.ConfigError(
            f'{FLAGS.saved}: {method} holds {completed.shape[0]} images of '
            f'{completed.shape[1:]}, the config remakes '
            f'{pairs["target"].shape[0]} of {pairs["target"].shape[1:]}: '
            'give the --num of the --save run.')
    elif method == 'model':
      completed = inpaint_eval.complete_all(translator, pairs)
    else:
      completed = inpaint_eval.baseline(method, pairs['target'],
                                        pairs['holes'])
    seconds = time.time() - start
    completions[method] = completed
    row = {'method': method, 'step': step,
           **inpaint_eval.score(completed, pairs, network, ref),
           'fill_seconds': round(seconds, 1)}
    rows.append(row)
    print(json.dumps(row), flush=True)
  if FLAGS.save:
    os.makedirs(FLAGS.save, exist_ok=True)
    np.savez_compressed(os.path.join(FLAGS.save, 'completed.npz'),
                        __step__=np.array(step), **completions)
    with open(os.path.join(FLAGS.save, 'config.json'), 'w') as f:
      f.write(config.to_json_best_effort(indent=2, sort_keys=True))
  if FLAGS.out:
    with open(FLAGS.out, 'w') as f:
      json.dump(rows, f, indent=1)


if __name__ == '__main__':
  define_flags()
  cli.run(main)
