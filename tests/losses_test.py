"""The loss maths against float64 references written from the formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import losses

LOGITS = [np.array([-100.0, -3.0, -0.5, 0.0, 0.7, 4.0, 100.0]),
          np.array([[100.0], [-100.0], [2.0]])]


def _log_sigmoid64(x):
  x = np.asarray(x, np.float64)
  return -np.logaddexp(0.0, -x)  # log(1 / (1 + e^-x)), exact in float64.


def _bce64(logits, target):
  return -(target * _log_sigmoid64(logits) +
           (1 - target) * _log_sigmoid64(-logits))


def _flat64(x):
  return np.asarray(x, np.float64).reshape(-1)


@pytest.mark.parametrize('real', LOGITS)
@pytest.mark.parametrize('smoothing', [0.0, 0.1])
def test_minimax_discriminator_loss(real, smoothing):
  fake = -real[::-1] * 0.3 + 1.0
  want = (np.mean(_bce64(_flat64(real), 1 - smoothing)) +
          np.mean(_bce64(_flat64(fake), 0.0)))
  got = losses.minimax_discriminator_loss(real, fake, label_smoothing=smoothing)
  assert np.isfinite(got)
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)


def test_label_smoothing_is_one_sided():
  real, fake = np.zeros(4), np.zeros(4)
  base = losses.minimax_discriminator_loss(real, fake + 5.0)
  smoothed = losses.minimax_discriminator_loss(real, fake + 5.0, 0.1)
  # At real logit 0 the real BCE is log 2 for any target; only the fake part
  # (target 0, unchanged) differs from the unsmoothed value -- which is zero.
  np.testing.assert_allclose(base, smoothed, rtol=1e-7)
  # The smoothed optimum of the real logit is logit(0.9), not +infinity.
  grad = jax.grad(lambda r: losses.minimax_discriminator_loss(
      r, fake, 0.1))(jnp.full(4, np.log(9.0)))
  np.testing.assert_allclose(grad, 0.0, atol=1e-6)


@pytest.mark.parametrize('fake', LOGITS)
def test_generator_losses(fake):
  f = _flat64(fake)
  np.testing.assert_allclose(losses.minimax_generator_loss(fake),
                             np.mean(_log_sigmoid64(-f)), rtol=1e-6, atol=1e-5)
  np.testing.assert_allclose(losses.non_saturating_generator_loss(fake),
                             -np.mean(_log_sigmoid64(f)), rtol=1e-6, atol=1e-5)
  np.testing.assert_allclose(losses.wasserstein_generator_loss(fake),
                             -np.mean(f), rtol=1e-6, atol=1e-5)
  np.testing.assert_allclose(losses.hinge_generator_loss(fake), -np.mean(f),
                             rtol=1e-6, atol=1e-5)
  np.testing.assert_allclose(losses.least_squares_generator_loss(fake),
                             0.5 * np.mean((f - 1) ** 2), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize('real', LOGITS)
def test_critic_losses(real):
  fake = real[::-1] * 0.5 - 1.0
  r, f = _flat64(real), _flat64(fake)
  np.testing.assert_allclose(losses.wasserstein_critic_loss(real, fake),
                             np.mean(f) - np.mean(r), rtol=1e-6, atol=1e-5)
  np.testing.assert_allclose(
      losses.hinge_discriminator_loss(real, fake),
      np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f)), rtol=1e-6, atol=1e-5)
  np.testing.assert_allclose(
      losses.least_squares_discriminator_loss(real, fake),
      0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean(f ** 2), rtol=1e-6, atol=1e-5)


def test_losses_return_scalars_and_reject_bad_shapes():
  for fn in (losses.non_saturating_generator_loss,
             losses.minimax_generator_loss):
    assert fn(np.zeros((5, 1))).shape == ()
  with pytest.raises(ValueError, match='shape'):
    losses.non_saturating_generator_loss(np.zeros((5, 2)))


def test_gradients_are_finite_at_extreme_logits():
  x = jnp.array([-1000.0, -100.0, 100.0, 1000.0])
  for fn in (losses.minimax_generator_loss,
             losses.non_saturating_generator_loss,
             lambda l: losses.minimax_discriminator_loss(l, -l, 0.1)):
    assert np.all(np.isfinite(jax.grad(fn)(x)))


def test_saturating_and_non_saturating_differ_as_d_rejects_fakes():
  """As D(G(z)) -> 0 the saturating loss's gradient vanishes; the other's not.

  d/dl log(1 - sigmoid(l)) = -sigmoid(l) -> 0, while
  d/dl -log sigmoid(l) = -(1 - sigmoid(l)) -> -1 (Goodfellow et al. 2014).
  """
  for logit in (-5.0, -10.0, -20.0):
    x = jnp.full((4,), logit)
    sat = jax.grad(losses.minimax_generator_loss)(x) * 4
    non_sat = jax.grad(losses.non_saturating_generator_loss)(x) * 4
    np.testing.assert_allclose(sat, -1 / (1 + np.exp(-logit)), rtol=1e-4)
    np.testing.assert_allclose(non_sat, -1 / (1 + np.exp(logit)), rtol=1e-4)
    assert np.all(np.abs(non_sat) > 0.99)
    assert np.all(np.abs(sat) < 0.01)


def _mlp_critic(params, x):
  h = jnp.tanh(x.reshape(x.shape[0], -1) @ params['w1'])
  return (h @ params['w2'])[:, 0]


def test_gradient_penalty_against_finite_differences():
  with jax.enable_x64(True):
    rng = np.random.default_rng(0)
    params = {'w1': jnp.asarray(rng.normal(size=(12, 8)) * 0.5),
              'w2': jnp.asarray(rng.normal(size=(8, 1)))}
    real = jnp.asarray(rng.normal(size=(5, 2, 3, 2)))
    fake = jnp.asarray(rng.normal(size=(5, 2, 3, 2)))
    eps = jnp.asarray(rng.uniform(size=(5,)))
    got = losses.gradient_penalty(lambda x: _mlp_critic(params, x), real, fake,
                                  eps)
    # Independent reference: input gradients by central differences.
    x = np.asarray(eps)[:, None, None, None] * real + (
        1 - np.asarray(eps)[:, None, None, None]) * fake
    x = np.asarray(x).reshape(5, -1)
    h = 1e-6
    norms = []
    for i in range(5):
      g = np.zeros(12)
      for j in range(12):
        xp, xm = x[i].copy(), x[i].copy()
        xp[j] += h
        xm[j] -= h
        f = lambda v: float(_mlp_critic(params, jnp.asarray(v[None]))[0])
        g[j] = (f(xp) - f(xm)) / (2 * h)
      norms.append(np.linalg.norm(g))
    want = np.mean((np.array(norms) - 1.0) ** 2)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)


def test_gradient_penalty_of_linear_critic_is_closed_form():
  rng = np.random.default_rng(1)
  w = rng.normal(size=(6,)).astype(np.float32)
  critic = lambda x: x.reshape(x.shape[0], -1) @ w
  real = rng.normal(size=(4, 2, 3)).astype(np.float32)
  fake = rng.normal(size=(4, 2, 3)).astype(np.float32)
  got = losses.gradient_penalty(critic, real, fake, rng.uniform(size=4))
  np.testing.assert_allclose(got, (np.linalg.norm(w) - 1.0) ** 2, rtol=1e-5)
  got = losses.gradient_penalty(critic, real, fake, rng.uniform(size=4),
                                target=0.5)
  np.testing.assert_allclose(got, (np.linalg.norm(w) - 0.5) ** 2, rtol=1e-5)


def test_gradient_penalty_uses_one_epsilon_per_example():
  # A critic whose input gradient at x is x itself: ||grad|| = ||x_i||, so the
  # penalty shows where each example was interpolated.
  critic = lambda x: 0.5 * jnp.sum(jnp.square(x.reshape(x.shape[0], -1)), 1)
  real = np.ones((3, 4), np.float32) * 2.0
  fake = np.zeros((3, 4), np.float32)
  eps = np.array([0.0, 0.5, 1.0], np.float32)
  # Interpolates are 0, 1 and 2 times ones(4): norms 0, 2, 4.
  want = np.mean((np.array([0.0, 2.0, 4.0]) - 1.0) ** 2)
  np.testing.assert_allclose(
      losses.gradient_penalty(critic, real, fake, eps), want, rtol=1e-6, atol=1e-5)
  for e in eps:  # One shared epsilon would give another value.
    shared = losses.gradient_penalty(critic, real, fake, np.full(3, e))
    assert not np.isclose(shared, want)


def test_gradient_penalty_is_differentiable_at_a_flat_critic():
  params = {'w': jnp.zeros((4,))}
  def penalty(p):
    critic = lambda x: x @ p['w']
    return losses.gradient_penalty(critic, jnp.ones((2, 4)), jnp.zeros((2, 4)),
                                   jnp.array([0.3, 0.6]))
  assert np.isclose(penalty(params), 1.0)
  assert np.all(np.isfinite(jax.grad(penalty)(params)['w']))


def test_r1_penalty():
  rng = np.random.default_rng(2)
  a = rng.normal(size=(3, 5)).astype(np.float32)
  # critic(x) = sum(a_i * x^2) per example -> grad = 2 a x.
  critic = lambda x: jnp.sum(a[None] * jnp.square(x), axis=(1, 2))
  real = rng.normal(size=(4, 3, 5)).astype(np.float32)
  grads = 2 * a[None] * real
  want = np.mean(np.sum(grads.reshape(4, -1) ** 2, axis=1))
  np.testing.assert_allclose(losses.r1_penalty(critic, real), want, rtol=1e-5)


def test_clip_weights():
  params = {'a': jnp.array([-1.0, -0.005, 0.0, 0.02]),
            'b': {'c': jnp.array([[0.5, -0.01]])}}
  clipped = losses.clip_weights(params, 0.01)
  np.testing.assert_allclose(clipped['a'], [-0.01, -0.005, 0.0, 0.01], rtol=1e-7)
  np.testing.assert_allclose(clipped['b']['c'], [[0.01, -0.01]], rtol=1e-7)
