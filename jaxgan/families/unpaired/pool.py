"""The image pool (Shrivastava et al. 2017, sec. 2.3; CycleGAN sec. 4).

A discriminator is updated on fakes drawn from a history of the generator's
outputs rather than the latest alone. As the CycleGAN authors' `ImagePool`
(`--pool_size 50`), each image of a batch, in order: while the pool holds
fewer than `size` images it is stored and returned; once full, with
probability 1/2 a stored image drawn uniformly is returned and the new one
takes its place, otherwise the new one is returned and the pool is left as
it was.

Here the pool is state, not a Python list: a fixed-size array (size, H, W,
C) and its fill count, updated by a pure function of a key, so that one
compiled step serves every iteration (filling or full) and a resumed run,
whose checkpoint holds the pool, draws exactly what an uninterrupted one
would. Each image's draws come from its own fold of the key: the uniform
from stream 0, the slot from stream 1 (drawn whether or not it is used).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Pool(NamedTuple):
  images: jax.Array  # (size, H, W, C); rows >= count are unused.
  count: jax.Array  # int32 scalar: the images stored so far, up to size.


def empty(size: int, shape: tuple, dtype=jnp.float32) -> Pool:
  return Pool(jnp.zeros((size,) + tuple(shape), dtype),
              jnp.zeros((), jnp.int32))


def draws(key: jax.Array, n: int, size: int) -> tuple[jax.Array, jax.Array]:
  """(uniform in [0, 1), slot in [0, size)) for each of n images."""
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))
  u = jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(k, 0)))(keys)
  slot = jax.vmap(lambda k: jax.random.randint(
      jax.random.fold_in(k, 1), (), 0, size))(keys)
  return u, slot


def query(pool: Pool, images: jax.Array, key: jax.Array
          ) -> tuple[jax.Array, Pool]:
  """(what D sees for each of `images`, the updated pool)."""
  size = pool.images.shape[0]
  if size == 0:
    return images, pool
  u, slot = draws(key, images.shape[0], size)

  def one(carry, x):
    stored, count = carry
    image, u, slot = x
    filling = count < size
    swap = u > 0.5  # The authors': random.uniform(0, 1) > 0.5.
    index = jnp.where(filling, count, slot)
    old = stored[index]
    out = jnp.where(filling | ~swap, image, old)
    stored = stored.at[index].set(jnp.where(filling | swap, image, old))
    return (stored, count + filling.astype(count.dtype)), out

  (stored, count), out = jax.lax.scan(
      one, (pool.images, pool.count), (images.astype(pool.images.dtype), u,
                                       slot))
  return out.astype(images.dtype), Pool(stored, count)
