"""Spectral normalisation (jaxgan/networks/spectral_norm.py) against NumPy's
SVD, its training and evaluation modes, its gradient, and a GAN run with it
resumed exactly."""

import jax
import jax.numpy as jnp
import numpy as np

from configs import dcgan, gan_mlp
from jaxgan import train
from jaxgan.families import gan as gan_family
from jaxgan.networks import spectral_norm


def _params():
  rng = np.random.default_rng(0)
  return {
      'conv': {'kernel': jnp.asarray(rng.normal(size=(4, 4, 3, 8)),
                                     jnp.float32),
               'bias': jnp.asarray(rng.normal(size=(8,)), jnp.float32)},
      'dense': {'kernel': jnp.asarray(rng.normal(size=(32, 1)), jnp.float32)},
      'embed': {'embedding': jnp.asarray(rng.normal(size=(10, 32)),
                                         jnp.float32)},
      'norm': {'scale': jnp.ones((8,))},
  }


def test_sigma_converges_to_the_largest_singular_value():
  params = _params()
  state = spectral_norm.init_state(params, jax.random.key(0))
  assert sorted(state) == ['conv/kernel', 'dense/kernel', 'embed/embedding']
  step = jax.jit(spectral_norm.normalize)
  for _ in range(100):
    normalized, state, sigmas = step(params, state)
  for name, w in (('conv/kernel', params['conv']['kernel']),
                  ('dense/kernel', params['dense']['kernel']),
                  ('embed/embedding', params['embed']['embedding'])):
    matrix = np.asarray(w).reshape(-1, w.shape[-1])
    want = np.linalg.svd(matrix, compute_uv=False)[0]
    np.testing.assert_allclose(float(sigmas[name]), want, rtol=1e-4)
  # The normalised weights have spectral norm 1; the rest are untouched.
  np.testing.assert_allclose(np.linalg.svd(np.asarray(
      normalized['conv']['kernel']).reshape(-1, 8), compute_uv=False)[0],
                             1.0, rtol=1e-4)
  for leaf in (('conv', 'bias'), ('norm', 'scale')):
    np.testing.assert_array_equal(normalized[leaf[0]][leaf[1]],
                                  params[leaf[0]][leaf[1]])


def test_training_iterates_once_and_evaluation_not_at_all():
  params = _params()
  state = spectral_norm.init_state(params, jax.random.key(1))
  _, after, _ = spectral_norm.normalize(params, state, update=True)
  w = np.asarray(params['dense']['kernel']).reshape(-1, 1)
  u0 = np.asarray(state['dense/kernel']['u'])
  v = w @ u0
  v /= np.linalg.norm(v)
  u = w.T @ v
  u /= np.linalg.norm(u)
  np.testing.assert_allclose(after['dense/kernel']['v'], v, rtol=1e-5)
  np.testing.assert_allclose(after['dense/kernel']['u'], u, rtol=1e-5)
  # Evaluation: the stored vectors, unchanged, sigma = v^T W u.
  out, same, sigmas = spectral_norm.normalize(params, after, update=False)
  jax.tree.map(np.testing.assert_array_equal, same, after)
  np.testing.assert_allclose(float(sigmas['dense/kernel']),
                             float(v.T @ w @ u), rtol=1e-5)
  np.testing.assert_allclose(out['dense']['kernel'],
                             w / float(v.T @ w @ u), rtol=1e-5)


def test_gradient_holds_the_vectors_constant():
  # d/dW of f(W / sigma(W)) with u, v fixed (Miyato et al. 2018, eq. 12),
  # against the same function written out by hand.
  params = {'dense': {'kernel': _params()['conv']['kernel'][0, 0]}}  # (3, 8)
  state = spectral_norm.init_state(params, jax.random.key(2))
  _, state, _ = spectral_norm.normalize(params, state)
  x = jnp.arange(3.0)
  loss = lambda p: jnp.sum(jnp.tanh(x @ spectral_norm.normalize(
      p, state, update=False)[0]['dense']['kernel']))
  u, v = state['dense/kernel']['u'], state['dense/kernel']['v']
  by_hand = lambda w: jnp.sum(jnp.tanh(x @ (w / (v @ w @ u))))
  np.testing.assert_allclose(
      jax.grad(loss)(params)['dense']['kernel'],
      jax.grad(by_hand)(params['dense']['kernel']), rtol=1e-5, atol=1e-7)


def test_gan_discriminator_is_normalised_and_its_vectors_advance():
  config = dcgan.get_config()
  config.model.d_norm = 'none'
  config.model.spectral_norm = True
  config.model.d_features = 8
  config.model.g_features = 8
  config.train.batch_size = 4
  gan = gan_family.GAN(config, (16, 16, 1))
  state = jax.jit(gan.init)(jax.random.key(0))
  names = sorted(state.d_state['spectral'])
  kernels = sorted(
      jax.tree_util.keystr(p, simple=True, separator='/') for p, _ in
      jax.tree_util.tree_flatten_with_path(state.d_params)[0]
      if jax.tree_util.keystr(p).endswith("'kernel']"))
  assert names == kernels and len(names) >= 3  # Every conv and dense.
  x = jnp.zeros((4, 16, 16, 1))
  _, _, d_state = jax.jit(gan.discriminate)(state.d_params, state.d_state, x)
  # v moves in every layer (u too, except where out is 1: u = +-1).
  moved = [not np.allclose(d_state['spectral'][n]['v'],
                           state.d_state['spectral'][n]['v'])
           for n in names]
  assert all(moved)


def test_spectral_norm_run_resumes_exactly(tmp_path):
  def config(steps):
    c = gan_mlp.get_config('ring8')
    c.model.spectral_norm = True
    c.train.num_steps = steps
    c.log_every = 5
    c.sample_every = 0
    c.checkpoint_every = 10
    return c
  whole = train.train_and_evaluate(config(20), str(tmp_path / 'whole'))
  train.train_and_evaluate(config(10), str(tmp_path / 'halves'))
  halves = train.train_and_evaluate(config(20), str(tmp_path / 'halves'))
  whole, halves = jax.device_get(whole), jax.device_get(halves)
  assert sorted(whole.d_state['spectral']) == [
      'Dense_0/kernel', 'Dense_1/kernel', 'Dense_2/kernel']
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6,
                                                       atol=1e-7),
               whole, halves)
