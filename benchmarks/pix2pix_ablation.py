r"""The pix2pix paper's loss ablation (Isola et al. 2017, Table 1 / Fig. 4)
on CIFAR-10 colorization or ORL edges -> faces: L1 only, cGAN only and
L1 + cGAN with the same budget, and the input-copy baseline.

  python -m benchmarks.pix2pix_ablation --steps=2000 --out=runs/ablation
  python -m benchmarks.pix2pix_ablation --task=orl_edges --steps=3000 \
      --num=40 --fid_num=40 --out=runs/ablation_orl

Each variant is `configs/pix2pix.py:TASK,VARIANT` trained for --steps steps
in OUT/VARIANT (a rerun resumes, then only evaluates); evaluation on --num
evaluation pairs (evenly spaced over the task's evaluation images:
CIFAR-10's test split, ORL's 4 held-out people): mean L1, PSNR and SSIM
against the targets, and the Inception FID of the outputs against the
targets on the first --fid_num of them (the same n for every variant; 0
skips it). Writes OUT/results.json (with the wall times) and OUT/grid.png
(source | L1 | cGAN | L1+cGAN | target).
"""

import json
import os
import time

from absl import app
from absl import flags
import numpy as np

from configs import pix2pix
from jaxgan import families
from jaxgan.families.paired import evaluation as translation_eval
from jaxgan import inception
from jaxgan import train
from jaxgan import translate
from jaxgan import writers

FLAGS = flags.FLAGS
flags.DEFINE_integer('steps', 2000, 'Training steps of every variant.')
flags.DEFINE_integer('num', 2000, 'Evaluation pairs for L1, PSNR, SSIM.')
flags.DEFINE_integer('fid_num', 500, 'Pairs for the FID (0: none).')
flags.DEFINE_string('out', 'runs/ablation', 'Output folder.')
flags.DEFINE_enum('task', 'cifar10_colorization',
                  ['cifar10_colorization', 'orl_edges'],
                  'The measured run of configs/pix2pix.py to ablate.')
flags.DEFINE_string('data_dir', None, "The task's data (default: the "
                    "config's, data/cifar10 or data/orl/att_faces).")
flags.DEFINE_list('variants', ['l1', 'cgan', 'l1_cgan'], 'Which to run.')


def variant_config(variant):
  config = pix2pix.get_config(f'{FLAGS.task},{variant}')
  if FLAGS.data_dir:
    config.data.data_dir = FLAGS.data_dir
  config.train.num_steps = FLAGS.steps
  config.checkpoint_every = 500
  config.sample_every = FLAGS.steps
  return config


def main(argv):
  del argv
  os.makedirs(FLAGS.out, exist_ok=True)
  results_path = os.path.join(FLAGS.out, 'results.json')
  results = (json.load(open(results_path)) if os.path.exists(results_path)
             else {})
  fid_network = inception.FeatureNetwork() if FLAGS.fid_num else None
  pairs = ref_stats = None
  outputs = {}
  for variant in FLAGS.variants:
    config = variant_config(variant)
    workdir = os.path.join(FLAGS.out, variant)
    start = time.time()
    train.train_and_evaluate(config, workdir)
    if variant not in results:
      results[variant] = {'train_s': time.time() - start}
    if pairs is None:
      data = families.get('paired').create_data(config)
      pairs = data.eval_pairs(FLAGS.num)
      if len(pairs['source']) < max(FLAGS.num, FLAGS.fid_num):
        raise app.UsageError(
            f'{FLAGS.task} has {len(pairs["source"])} evaluation pairs: '
            'lower --num and --fid_num')
    translator = translate.load(workdir)
    outputs[variant] = np.concatenate([
        translator(pairs['source'][i:i + 250])
        for i in range(0, FLAGS.num, 250)])
    metrics = translation_eval.pair_metrics(outputs[variant],
                                            pairs['target'])
    if fid_network is not None:
      if ref_stats is None:  # The same targets for every variant: once.
        ref_stats = translation_eval.target_stats(
            fid_network, pairs['target'][:FLAGS.fid_num])
      metrics['fid'] = translation_eval.pair_metrics(
          outputs[variant][:FLAGS.fid_num], pairs['target'][:FLAGS.fid_num],
          fid_network, ref_stats)['fid']
    results[variant].update(metrics, steps=FLAGS.steps,
                            batch_size=config.train.batch_size,
                            size=list(pairs['source'].shape[1:]))
    print(variant, results[variant], flush=True)
    with open(results_path, 'w') as f:
      json.dump(results, f, indent=1)
  copy = translation_eval.input_copy(pairs)
  if fid_network is not None:
    copy['fid'] = translation_eval.input_copy(
        {k: v[:FLAGS.fid_num] for k, v in pairs.items()}, fid_network,
        ref_stats)['fid']
  results['input_copy'] = copy
  results['protocol'] = {
      'eval_pairs': FLAGS.num, 'fid_pairs': FLAGS.fid_num,
      'task': FLAGS.task,
      'split': {'cifar10_colorization': 'CIFAR-10 test, evenly spaced',
                'orl_edges': 'ORL people s37-s40 (held out), evenly spaced'
                }[FLAGS.task],
      'fid': 'Inception pool3, outputs vs targets (pytorch-fid protocol, '
             'jaxgan.evaluate; grey images repeated to RGB)'}
  with open(results_path, 'w') as f:
    json.dump(results, f, indent=1)
  print('input_copy', copy)
  # Ten rows evenly spaced (one per CIFAR-10 class, or over ORL's people).
  rows = np.arange(min(10, FLAGS.num)) * (FLAGS.num // min(10, FLAGS.num))
  columns = [pairs['source'][rows]] + [outputs[v][rows]
                                       for v in FLAGS.variants]
  columns.append(pairs['target'][rows])
  images = [translation_eval.to_unit(c) * 2 - 1 for c in columns]
  images = [np.repeat(c, 3, -1) if c.shape[-1] == 1 else c for c in images]
  grid = np.stack(images, 1).reshape((-1,) + images[1].shape[1:])
  writers.save_image(os.path.join(FLAGS.out, 'grid.png'),
                     writers.image_grid(grid, columns=len(images)))


if __name__ == '__main__':
  app.run(main)
