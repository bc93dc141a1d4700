"""Domain classifiers: small CNNs that make sample quality measurable on a CPU.

Inception features need 299x299 RGB inputs and minutes per thousand images on
a laptop CPU; a classifier trained on the domain itself (MNIST, Fashion-MNIST)
gives, in seconds, features for a classifier-FID, an Inception-style score,
and the class each sample belongs to (class coverage, the first sign of mode
collapse). jaxgan trains them itself and saves each as a versioned artifact:

  python -m jaxgan.evaluate train-classifier --dataset=mnist \
      --manual_dir=../shared/data/mnist

Numbers from different artifacts are not comparable: every result names the
artifact's version and weights checksum.
"""

import datetime
import hashlib
import json
import os
import time

from absl import logging
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan import inception
from jaxgan.networks import layers

VERSION = 1  # Bump when the architecture or the training recipe changes.


class Classifier(nn.Module):
  """(B, H, W, C) in [-1, 1] -> (features (B, 256), logits (B, classes)).

  4x4 stride-2 convolutions of `widths` channels (the DCGAN discriminator's,
  fast on CPU in their matmul form; two for 28x28 digits, three for the
  32x32 photos of a domain classifier) and a 256-unit hidden layer, whose
  activations are the features of the classifier-FID.
  """
  num_classes: int = 10
  widths: tuple[int, ...] = (32, 64)
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x):
    # The metrics' features must not depend on the machine's measurements.
    impl = layers.resolve_conv_impl(self.conv_impl, measured=False)
    init = nn.initializers.lecun_normal()
    for features in self.widths:
      x = layers.DownConv(features, use_bias=True, kernel_init=init,
                          impl=impl)(x)
      x = nn.leaky_relu(x, 0.2)
    x = x.reshape(x.shape[0], -1)
    features = nn.relu(nn.Dense(256)(x))
    return features, nn.Dense(self.num_classes)(features)


def _to_input(images) -> jax.Array:
  return jnp.asarray(images, jnp.float32) / 127.5 - 1


def random_shift(key, images, max_shift):
  """Translates each image by up to max_shift pixels (zero-padded borders)."""
  batch, height, width, channels = images.shape
  padded = jnp.pad(images, ((0, 0), (max_shift,) * 2, (max_shift,) * 2,
                            (0, 0)))
  offsets = jax.random.randint(key, (batch, 2), 0, 2 * max_shift + 1)
  crop = lambda image, o: jax.lax.dynamic_slice(
      image, (o[0], o[1], 0), (height, width, channels))
  return jax.vmap(crop)(padded, offsets)


def train(images, labels, test_images, test_labels, num_classes=10,
          epochs=5, batch_size=128, learning_rate=1e-3, seed=0,
          widths=(32, 64), flip=False):
  """Adam (cosine decay) on cross-entropy with random 2-pixel shifts (and
  horizontal flips with `flip`, for photos).

  Returns (params, test accuracy).
  """
  model = Classifier(num_classes, tuple(widths))
  params = model.init(jax.random.key(seed), _to_input(images[:1]))['params']
  steps_per_epoch = len(images) // batch_size
  schedule = optax.cosine_decay_schedule(learning_rate,
                                         epochs * steps_per_epoch)
  optimizer = optax.adam(schedule)
  opt_state = optimizer.init(params)

  @jax.jit
  def step(params, opt_state, x, y, key):
    x = random_shift(key, x, max_shift=2)
    if flip:
      mirrored = jax.random.bernoulli(jax.random.fold_in(key, 1), 0.5,
                                      (x.shape[0], 1, 1, 1))
      x = jnp.where(mirrored, x[:, :, ::-1], x)
    def loss_fn(p):
      _, logits = model.apply({'params': p}, _to_input(x))
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  rng = np.random.default_rng(seed)
  for epoch in range(epochs):
    start = time.time()
    order = rng.permutation(len(images))
    for i in range(steps_per_epoch):
      idx = order[i * batch_size:(i + 1) * batch_size]
      key = jax.random.fold_in(jax.random.key(seed), epoch * steps_per_epoch + i)
      params, opt_state, loss = step(params, opt_state, images[idx],
                                     labels[idx], key)
    accuracy = evaluate_accuracy(params, test_images, test_labels,
                                 num_classes, widths)
    logging.info('epoch %d: loss %.4f, test accuracy %.4f (%.0f s)', epoch + 1,
                 float(loss), accuracy, time.time() - start)
  return params, accuracy


def evaluate_accuracy(params, images, labels, num_classes=10,
                      widths=(32, 64)) -> float:
  network = ClassifierNetwork(params, {'num_classes': num_classes,
                                       'widths': list(widths)})
  _, probs = network(images)
  return float(np.mean(probs.argmax(1) == labels))


def checksum(params) -> str:
  digest = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    digest.update(jax.tree_util.keystr(path).encode())
    digest.update(np.ascontiguousarray(leaf, np.float32).tobytes())
  return digest.hexdigest()


def artifact_path(dataset: str, version: int = VERSION) -> str:
  return os.path.join(inception.cache_dir(), 'classifiers',
                      f'{dataset}-v{version}.npz')


def save(path, params, meta: dict):
  flat = {'/'.join(k): np.asarray(v) for k, v in
          flax.traverse_util.flatten_dict(params).items()}
  meta = {**meta, 'version': VERSION, 'weights_sha256': checksum(params),
          'created': datetime.datetime.now(datetime.timezone.utc).isoformat()}
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f'{path}.tmp.npz'
  np.savez(tmp, __meta__=np.array(json.dumps(meta)), **flat)
  os.replace(tmp, path)
  return meta


class ClassifierNetwork:
  """A saved domain classifier, jitted: images -> (features, probabilities)."""

  def __init__(self, params, meta: dict, batch_size: int = 500):
    self.params, self.meta = params, meta
    self.batch_size = batch_size
    self.model = Classifier(meta.get('num_classes', 10),
                            tuple(meta.get('widths', (32, 64))))
    self._apply = jax.jit(
        lambda p, x: self.model.apply({'params': p}, _to_input(x)))

  @classmethod
  def load(cls, dataset_or_path: str) -> 'ClassifierNetwork':
    dataset_or_path = str(dataset_or_path)
    path = (dataset_or_path if dataset_or_path.endswith('.npz')
            else artifact_path(dataset_or_path))
    if not os.path.exists(path):
      raise FileNotFoundError(
          f'No domain classifier at {path}. Train it once: python -m '
          f'jaxgan.evaluate train-classifier --dataset={dataset_or_path} '
          '[--manual_dir=DIR_WITH_THE_IDX_FILES]')
    with np.load(path) as data:
      meta = json.loads(str(data['__meta__']))
      flat = {tuple(k.split('/')): data[k] for k in data.files
              if not k.startswith('__')}
    if meta.get('version') != VERSION:
      raise ValueError(f'{path} is classifier version {meta.get("version")}; '
                       f'this jaxgan reads version {VERSION}: retrain it with '
                       'python -m jaxgan.evaluate train-classifier.')
    params = jax.tree.map(jnp.asarray, flax.traverse_util.unflatten_dict(flat))
    if checksum(params) != meta['weights_sha256']:
      raise ValueError(f'{path} is corrupt: its weights do not match the '
                       'checksum saved with them. Retrain it.')
    return cls(params, meta)

  def __call__(self, images) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, H, W, C) -> (features (N, 256), probs (N, classes))."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
      raise TypeError('ClassifierNetwork takes uint8 images; convert generator '
                      'output with inception.to_uint8.')
    features, probs = [], []
    for start in range(0, len(images), self.batch_size):
      batch = images[start:start + self.batch_size]
      pad = self.batch_size - len(batch)
      if pad:
        batch = np.concatenate([batch, np.repeat(batch[-1:], pad, 0)])
      f, logits = self._apply(self.params, batch)
      features.append(np.asarray(f, np.float64)[:len(batch) - pad])
      probs.append(np.asarray(jax.nn.softmax(logits), np.float64)
                   [:len(batch) - pad])
    return np.concatenate(features), np.concatenate(probs)

  def log_probs(self, images: jax.Array) -> jax.Array:
    """Differentiable: float images in [-1, 1] (generator output) ->
    log-probabilities of the classes (B, K)."""
    _, logits = self.model.apply({'params': self.params}, images)
    return jax.nn.log_softmax(logits)

  def protocol(self) -> dict:
    return {'network': f"jaxgan domain classifier v{self.meta['version']} "
                       f"({self.meta['dataset']}, test accuracy "
                       f"{self.meta['test_accuracy']:.4f})",
            'weights_sha256': self.meta['weights_sha256'],
            'features': 'hidden layer, 256-d', 'resize': 'none'}
