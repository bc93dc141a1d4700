"""The image pool against a reference of the authors' ImagePool written
here, on the same draws; filling, then swapping with probability 1/2."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.families.unpaired import pool as image_pool


def reference_query(stored: list, images, u, slot, size):
  """The authors' ImagePool.query, with its random draws given."""
  out = []
  for image, p, random_id in zip(images, u, slot):
    if len(stored) < size:
      stored.append(image)
      out.append(image)
    elif p > 0.5:
      out.append(stored[random_id])
      stored[random_id] = image
    else:
      out.append(image)
  return np.stack(out)


def test_the_pool_fills_then_swaps_as_the_reference():
  size, batch, steps = 5, 2, 12
  query = jax.jit(image_pool.query)
  state = image_pool.empty(size, (3, 3, 1))
  stored = []
  rng = np.random.default_rng(0)
  swapped = kept = 0
  for step in range(steps):
    images = rng.standard_normal((batch, 3, 3, 1)).astype(np.float32)
    key = jax.random.fold_in(jax.random.key(7), step)
    u, slot = map(np.asarray, image_pool.draws(key, batch, size))
    full_before = len(stored) >= size
    want = reference_query(stored, list(images), u, slot, size)
    got, state = query(state, jnp.asarray(images), key)
    np.testing.assert_array_equal(np.asarray(got), want)
    assert int(state.count) == len(stored)
    np.testing.assert_array_equal(np.asarray(state.images)[:len(stored)],
                                  np.stack(stored))
    if full_before:
      same = np.all(np.asarray(got) == images, axis=(1, 2, 3))
      swapped += int((~same).sum())
      kept += int(same.sum())
  # Filled by the first three steps' six images (five stored, the sixth
  # already a coin toss); after that both branches happened.
  assert swapped > 0 and kept > 0
  assert int(state.count) == size


def test_a_zero_pool_returns_the_latest_and_resumes_from_state():
  images = jnp.ones((2, 2, 2, 3))
  out, state = image_pool.query(image_pool.empty(0, (2, 2, 3)), images,
                                jax.random.key(0))
  np.testing.assert_array_equal(out, images)
  assert state.images.shape == (0, 2, 2, 3)
  # The pool is all the state: k queries from a saved pool equal the same
  # queries continued in one run.
  a = image_pool.empty(3, (2, 2, 3))
  keys = [jax.random.key(i) for i in range(6)]
  batches = [jnp.full((1, 2, 2, 3), float(i)) for i in range(6)]
  outs_a = []
  for k, b in zip(keys, batches):
    o, a = image_pool.query(a, b, k)
    outs_a.append(o)
  saved = image_pool.empty(3, (2, 2, 3))
  for k, b in zip(keys[:3], batches[:3]):
    _, saved = image_pool.query(saved, b, k)
  saved = image_pool.Pool(*jax.tree.map(lambda x: jnp.asarray(np.asarray(x)),
                                        tuple(saved)))
  for k, b, o in zip(keys[3:], batches[3:], outs_a[3:]):
    o2, saved = image_pool.query(saved, b, k)
    np.testing.assert_array_equal(o2, o)
