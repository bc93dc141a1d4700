"""Domain classifiers, evaluation commands and evaluation during training."""

import json
import os

from absl import app
import numpy as np
import pytest

from configs import cgan, gan_mlp
from jaxgan import classifier
from jaxgan import checkpoints
from jaxgan import evaluate
from jaxgan import input_pipeline
from jaxgan import train


def _mnist_test_split():
  images = input_pipeline.read_idx(
      input_pipeline.EMBEDDED_MNIST / 't10k-images-idx3-ubyte.gz')[..., None]
  labels = input_pipeline.read_idx(
      input_pipeline.EMBEDDED_MNIST / 't10k-labels-idx1-ubyte.gz')
  return images, labels.astype(np.int32)


@pytest.fixture(scope='module')
def cache(shared_tmp):
  """A JAXGAN_CACHE holding an MNIST classifier trained on 8,000 digits.

  Shared by the xdist workers of one run: the first to take the lock trains.
  """
  import fcntl  # pylint: disable=g-import-not-at-top
  root = shared_tmp / 'jaxgan_cache'
  root.mkdir(exist_ok=True)
  previous = os.environ.get('JAXGAN_CACHE')
  os.environ['JAXGAN_CACHE'] = str(root)
  with open(root / '.lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not os.path.exists(classifier.artifact_path('mnist')):
      images, labels = _mnist_test_split()
      params, accuracy = classifier.train(images[:8000], labels[:8000],
                                          images[8000:], labels[8000:],
                                          epochs=2)
      classifier.save(classifier.artifact_path('mnist'), params, {
          'dataset': 'mnist', 'num_classes': 10, 'test_accuracy': accuracy})
  yield root
  if previous is None:
    del os.environ['JAXGAN_CACHE']
  else:
    os.environ['JAXGAN_CACHE'] = previous


def test_classifier_learns_and_round_trips(cache):
  network = classifier.ClassifierNetwork.load('mnist')
  # 2 epochs on 8,000 digits. Over 12 seeds (python -m
  # benchmarks.outcome_seeds --outcomes=mnist_classifier): 0.9644 +- 0.0028
  # (sd), min 0.9585, so 0.95 sits 5 sd below the mean on any processor.
  assert network.meta['test_accuracy'] > 0.95
  images, labels = _mnist_test_split()
  features, probs = network(images[8000:])
  assert features.shape == (2000, 256)
  assert np.mean(probs.argmax(1) == labels[8000:]) == pytest.approx(
      network.meta['test_accuracy'])
  np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)


def test_classifier_artifact_errors(cache, tmp_path):
  path = classifier.artifact_path('mnist')
  with np.load(path) as data:
    arrays = {k: data[k] for k in data.files}
  meta = json.loads(str(arrays['__meta__']))
  tampered = dict(arrays)
  key = next(k for k in arrays if k != '__meta__')
  tampered[key] = arrays[key] + 1
  np.savez(tmp_path / 'tampered.npz', **tampered)
  with pytest.raises(ValueError, match='corrupt'):
    classifier.ClassifierNetwork.load(str(tmp_path / 'tampered.npz'))
  old = dict(arrays, __meta__=np.array(json.dumps({**meta, 'version': 0})))
  np.savez(tmp_path / 'old.npz', **old)
  with pytest.raises(ValueError, match='retrain'):
    classifier.ClassifierNetwork.load(str(tmp_path / 'old.npz'))
  with pytest.raises(FileNotFoundError, match='train-classifier'):
    classifier.ClassifierNetwork.load('fashion_mnist')


def test_classifier_fid_separates_real_from_noise(cache):
  network = classifier.ClassifierNetwork.load('mnist')
  images, _ = _mnist_test_split()
  first = evaluate.feature_stats(network, images[:1000], with_radii=True)
  second = evaluate.feature_stats(network, images[1000:2000])
  noise = evaluate.feature_stats(network, np.random.default_rng(0).integers(
      0, 256, (1000, 28, 28, 1), dtype=np.uint8))
  same = evaluate.compare_features(first, second)
  different = evaluate.compare_features(first, noise)
  assert same['fid'] < 0.05 * different['fid']
  assert same['precision'] > 0.6 and same['recall'] > 0.6
  assert different['precision'] < 0.05
  assert same['kid'] < 0.1 * different['kid']
  assert same['inception_score'] > 5  # Confident over ~10 balanced classes.
  assert same['classes_missing'] == []
  assert len(different['classes_missing']) >= 5  # Noise falls in few classes.


def _tiny_dcgan(tfds_dir, ref):
  # Class-conditional, so that the control metrics are exercised too.
  config = cgan.get_config('mnist')
  config.data.data_dir = str(tfds_dir)
  config.train.batch_size = 16
  config.model.g_features = 8
  config.model.d_features = 8
  config.model.latent_dim = 16
  config.train.num_steps = 4
  config.log_every = 2
  config.sample_every = 4
  config.eval_every = 2
  config.eval.num_samples = 200
  config.eval.ref = str(ref)
  return config


def test_stats_run_and_training_eval(cache, tfds_dir, tmp_path):
  per_network, protocol = evaluate.make_reference(
      'mnist', 'test', ['auto'], data_dir=str(tfds_dir), num=500)
  assert protocol['n'] == 500 and list(per_network) == ['classifier']
  assert protocol['networks']['classifier']['weights_sha256']
  ref = tmp_path / 'ref.npz'
  evaluate.save_stats(ref, per_network, protocol)
  loaded, loaded_protocol = evaluate.load_stats(ref)
  assert loaded_protocol == protocol
  np.testing.assert_array_equal(loaded['classifier']['radii_3'],
                                per_network['classifier']['radii_3'])

  workdir = tmp_path / 'run'
  import jax  # pylint: disable=g-import-not-at-top
  train.train_and_evaluate(_tiny_dcgan(tfds_dir, ref), workdir,
                           jax.devices()[:1])
  history = [json.loads(l) for l in
             (workdir / 'eval' / 'history.jsonl').read_text().splitlines()]
  assert [r['step'] for r in history] == [2, 4]
  assert all(r['eval/classifier_fid'] > 0 for r in history)
  assert all(0 <= r['eval/classifier_conditional_accuracy'] <= 1
             for r in history)
  assert (workdir / 'eval' / 'curves.png').stat().st_size > 1000
  logged = [json.loads(l) for l in
            (workdir / 'metrics.jsonl').read_text().splitlines()]
  assert any('eval/classifier_kid' in r for r in logged)
  best = checkpoints.Checkpointer(checkpoints.checkpoint_dir(workdir, True),
                                  read_only=True)
  best_step = best.latest_step()
  best_fid = best.read_meta(best_step)['eval']['eval/classifier_fid']
  best.close()
  assert best_fid == min(r['eval/classifier_fid'] for r in history)
  assert best_step == min(history, key=lambda r: r['eval/classifier_fid'])[
      'step']

  result = evaluate.evaluate_run(str(workdir), str(ref), num=300, best=True)
  assert result['step'] == best_step and result['n_fake'] == 300
  metrics = result['metrics']['classifier']
  assert metrics['protocol'] == protocol['networks']['classifier']
  assert metrics['fid'] > 0 and 0 <= metrics['precision'] <= 1
  assert len(metrics['class_shares']) == 10
  assert len(metrics['conditional_accuracy_per_class']) == 10
  assert metrics['conditional_accuracy'] == pytest.approx(
      np.mean(metrics['conditional_accuracy_per_class']), abs=0.02)


def test_training_eval_of_a_mixture_keeps_the_best(tmp_path):
  config = gan_mlp.get_config('ring8')
  config.train.num_steps = 300
  config.log_every = 100
  config.sample_every = 300
  config.eval_every = 100
  config.eval.num_samples = 1000
  import jax  # pylint: disable=g-import-not-at-top
  train.train_and_evaluate(config, tmp_path, jax.devices()[:1])
  history = [json.loads(l) for l in
             (tmp_path / 'eval' / 'history.jsonl').read_text().splitlines()]
  assert [r['step'] for r in history] == [100, 200, 300]
  assert all(0 <= r['eval/high_quality'] <= 1 and 1 <= r['eval/modes'] <= 8
             for r in history)
  best = checkpoints.Checkpointer(checkpoints.checkpoint_dir(tmp_path, True),
                                  read_only=True)
  assert best.read_meta(best.latest_step())['eval']['eval/reverse_kl'] == min(
      r['eval/reverse_kl'] for r in history)
  best.close()


def test_reference_of_another_network_is_refused(cache, tmp_path):
  network = classifier.ClassifierNetwork.load('mnist')
  images, _ = _mnist_test_split()
  protocol = {'dataset': 'mnist:test', 'dataset_name': 'mnist', 'n': 100,
              'image_shape': [28, 28, 1],
              'networks': {'classifier': {**network.protocol(),
                                          'weights_sha256': 'other'}}}
  evaluate.save_stats(tmp_path / 'ref.npz', {'classifier': evaluate.feature_stats(
      network, images[:100])}, protocol)
  with pytest.raises(ValueError, match='Recompute the statistics'):
    evaluate.reference_networks(protocol, str(tmp_path / 'ref.npz'))


class _FlatNetwork:
  """Features = the pixels; fails on call number `fail_at` (an interruption)."""

  def __init__(self, fail_at=None):
    self.calls, self.fail_at = [], fail_at

  def protocol(self):
    return {'weights_sha256': 'w'}

  def __call__(self, images):
    self.calls.append(len(images))
    if len(self.calls) == self.fail_at:
      raise KeyboardInterrupt
    return images.reshape(len(images), -1).astype(np.float64), None


def test_feature_extraction_resumes_after_an_interruption(tmp_path):
  images = np.random.default_rng(0).integers(0, 256, (35, 2, 2, 1), np.uint8)
  partial = tmp_path / 'ref.npz.partial.npz'
  with pytest.raises(KeyboardInterrupt):
    evaluate.extract_features(_FlatNetwork(fail_at=3), images, partial, chunk=10)
  network = _FlatNetwork()
  features, probs = evaluate.extract_features(network, images, partial,
                                              chunk=10)
  assert network.calls == [10, 5]  # The first 20 were kept.
  assert probs is None
  np.testing.assert_array_equal(features, images.reshape(35, 4))
  other = _FlatNetwork()  # Other images: the partial file is not reused.
  features, _ = evaluate.extract_features(other, images[::-1].copy(), partial,
                                          chunk=10)
  assert other.calls == [10, 10, 10, 5]
  np.testing.assert_array_equal(features, images[::-1].reshape(35, 4))


def test_a_folder_reference_is_made_at_the_training_size(tmp_path):
  """`stats --image_size`: the reference images are the ones a run with that
  data.image_size trains on (resized and centre-cropped), not the files."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  for i in range(3):  # Grey and portrait, as ORL's 92x112 faces.
    Image.fromarray(rng.integers(0, 256, (28, 23), np.uint8)).save(
        tmp_path / f'{i}.pgm')
  stored, _ = evaluate.dataset_images('folder', 'train', str(tmp_path))
  assert stored.shape == (3, 28, 23, 1)
  images, name = evaluate.dataset_images('folder', 'train', str(tmp_path),
                                         image_size=(16, 16))
  assert images.shape == (3, 16, 16, 1) and name.startswith('folder:')
  trained_on = input_pipeline.folder_dataset(tmp_path, (16, 16), 1)
  np.testing.assert_array_equal(images, trained_on.fetch(np.arange(3))[0])
  assert evaluate.parse_image_size(['64']) == (64, 64)
  assert evaluate.parse_image_size(['64', '48']) == (64, 48)
  assert evaluate.parse_image_size(None) is None
  for bad in (['0'], ['a'], ['1', '2', '3']):
    with pytest.raises(app.UsageError, match='--image_size'):
      evaluate.parse_image_size(bad)
