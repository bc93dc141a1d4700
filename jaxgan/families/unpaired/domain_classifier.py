"""The domain classifier of an unpaired dataset: does G_A(a) look like B?

FID says how close translated images are to the target domain as a
distribution; the translation success rate says, image by image, whether a
classifier that tells A from B takes the translation for the target domain
(the "real vs fake" classification of CycleGAN's Table 1, made automatic
with a classifier as in later work). jaxgan trains the classifier itself
(`classifier.Classifier` with three convolutions, 64-128-256, random shifts
and flips, Adam, cosine decay) on the two training domains, class 0 = A and
1 = B, and reports its accuracy on the two evaluation domains:

  python -m jaxgan.evaluate domain-classifier --workdir=RUN [--epochs=N]

It is saved once per dataset (the domains' folders and image size), in the
cache beside the other artifacts, so every run on the same data (CycleGAN,
its ablations) is scored by the same classifier; `python -m jaxgan.evaluate
unpaired` finds it there.

  success_AtoB  the share of G_A(test A) classified B
  success_BtoA  the share of G_B(test B) classified A

For the untranslated inputs these are the classifier's error rates on each
domain: a translator must beat them.
"""

import hashlib
import json
import os
import time

from absl import app
from absl import logging
import numpy as np

from jaxgan import classifier
from jaxgan import errors
from jaxgan.families.unpaired import data as unpaired_data

WIDTHS = (64, 128, 256)
EPOCHS = 30  # Cat vs dog (CIFAR-10): test accuracy levels off by 30.


def key(config) -> str:
  """The artifact name of `config.data`'s domains (what the classifier
  learns: the folders and the images' preprocessing)."""
  d = config.data
  what = {'name': d.name,
          'data_dir': os.path.abspath(d.data_dir) if d.data_dir else None,
          'train_dirs': list(d.train_dirs), 'eval_dirs': list(d.eval_dirs),
          'preprocess': d.preprocess, 'load_size': d.load_size,
          'crop_size': d.crop_size, 'channels': d.channels}
  digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode())
  return f'domains-{digest.hexdigest()[:12]}'


def path_of(config) -> str:
  return classifier.artifact_path(key(config))


def labelled(images: dict) -> tuple[np.ndarray, np.ndarray]:
  """{'A': ..., 'B': ...} -> (images, labels 0 for A and 1 for B)."""
  return (np.concatenate([images['A'], images['B']]),
          np.repeat(np.arange(2, dtype=np.int32),
                    [len(images['A']), len(images['B'])]))


def train(data: unpaired_data.UnpairedData, epochs: int = EPOCHS,
          seed: int = 0, batch_size: int = 128):
  """(params, test accuracy, meta) of a classifier of `data`'s domains,
  trained on the centre crops of the training images (the crop the
  evaluation translates), tested on the evaluation images."""
  train_x, train_y = labelled(data.train_images())
  test_x, test_y = labelled(data.eval_images())
  batch_size = min(batch_size, len(train_x))
  params, accuracy = classifier.train(
      train_x, train_y, test_x, test_y, num_classes=2, epochs=epochs,
      batch_size=batch_size, seed=seed, widths=WIDTHS, flip=data.data.flip)
  meta = {'dataset': key(data.config), 'num_classes': 2,
          'widths': list(WIDTHS), 'classes': ['A', 'B'],
          'data': data.name,
          'train_dirs': list(data.data.train_dirs),
          'eval_dirs': list(data.data.eval_dirs),
          'test_accuracy': accuracy, 'epochs': epochs, 'seed': seed,
          'train_examples': len(train_x), 'test_examples': len(test_x)}
  return params, accuracy, meta


def load(config, path: str | None = None) -> classifier.ClassifierNetwork:
  """The saved domain classifier of `config`'s data (or at `path`)."""
  path = path or path_of(config)
  if not os.path.exists(path):
    raise errors.ConfigError(
        f'no domain classifier of {config.data.data_dir} '
        f'{tuple(config.data.train_dirs)} at {path}: train it once with '
        'python -m jaxgan.evaluate domain-classifier --workdir=RUN (any run '
        'on these domains)')
  network = classifier.ClassifierNetwork.load(path)
  if network.meta.get('dataset') != key(config):
    raise errors.ConfigError(
        f'{path} classifies the domains {network.meta.get("train_dirs")} of '
        f'{network.meta.get("data")}, not this run\'s '
        f'{tuple(config.data.train_dirs)} of {config.data.data_dir}: train '
        'one with python -m jaxgan.evaluate domain-classifier --workdir=RUN')
  return network


def success_rates(network: classifier.ClassifierNetwork,
                  outputs: dict) -> dict[str, float]:
  """The share of translations (predict's fake_B, fake_A: uint8 or [-1, 1])
  that `network` classifies as their target domain."""
  from jaxgan import inception  # pylint: disable=g-import-not-at-top
  result = {}
  for src, dst, label in (('A', 'B', 1), ('B', 'A', 0)):
    if f'fake_{dst}' in outputs:
      _, probs = network(inception.to_uint8(outputs[f'fake_{dst}']))
      result[f'success_{src}to{dst}'] = float(np.mean(probs.argmax(1) ==
                                                      label))
  if len(result) == 2:
    result['success'] = (result['success_AtoB'] + result['success_BtoA']) / 2
  return result


# --- python -m jaxgan.evaluate domain-classifier ---------------------------


def define_flags():
  pass  # --workdir, --epochs, --seed, --out: evaluate's own.


def command(FLAGS):  # pylint: disable=invalid-name
  """domain-classifier --workdir=RUN: trains and saves the classifier of
  the run's domains."""
  from jaxgan import checkpoints  # pylint: disable=g-import-not-at-top
  if not FLAGS.workdir:
    raise app.UsageError('domain-classifier needs --workdir: an unpaired '
                         'run, whose config names the two domains')
  saved = os.path.join(FLAGS.workdir, 'config.json')
  if not os.path.exists(saved):
    raise errors.ConfigError(f'{saved} does not exist: --workdir must be an '
                             'unpaired run (python -m jaxgan.main writes it)')
  with open(saved) as f:  # The config alone: no checkpoint to restore.
    config = checkpoints.config_from_meta({'config': json.load(f)})
  if config.family != 'unpaired':
    raise errors.ConfigError(f'{FLAGS.workdir} is a {config.family!r} run: '
                             'a domain classifier serves unpaired runs')
  data = unpaired_data.UnpairedData(config)
  start = time.time()
  params, accuracy, meta = train(data, FLAGS.epochs or EPOCHS, FLAGS.seed)
  meta['train_seconds'] = round(time.time() - start, 1)
  path = FLAGS.out or path_of(config)
  meta = classifier.save(path, params, meta)
  print(json.dumps(meta, indent=1))
  logging.info('Saved the domain classifier (test accuracy %.4f) to %s',
               accuracy, path)
