"""Spectral normalisation (Miyato et al. 2018) as a transform of a network's
parameters, so it applies to every conv and dense layer of any discriminator
without changing the network's code.

Every weight leaf named `kernel` (a dense (in, out) or a conv (kh, kw, in,
out)) or `embedding` (a projection discriminator's class embedding, as
SNGAN's projection code normalises it) is divided by its largest singular
value sigma(W), estimated by power iteration on W viewed as a matrix
(-1, out) (the same singular values as PyTorch's (out, -1)). The vectors u
(out,) and v (rows,) live in the network's state (`init_state`), as
PyTorch's `weight_u`/`weight_v` buffers, so a resumed run continues them:

  training   (`update=True`): one power iteration per forward pass,
             v = normalize(W u), u = normalize(W^T v), with u and v held
             constant for the gradient (Miyato et al. 2018, Algorithm 1);
  evaluation (`update=False`): no iteration; the stored u and v.

In both, sigma = v^T W u and the layer uses W / sigma.
"""

import jax
import jax.numpy as jnp

NORMALIZED = ('kernel', 'embedding')


def _is_normalized(path) -> bool:
  last = path[-1]
  name = getattr(last, 'key', getattr(last, 'name', None))
  return name in NORMALIZED


def _matrix(w):
  return w.reshape(-1, w.shape[-1]).astype(jnp.float32)


def _unit(x, eps=1e-12):
  return x / (jnp.linalg.norm(x) + eps)


def _key(path) -> str:
  return jax.tree_util.keystr(path, simple=True, separator='/')


def init_state(params, key) -> dict:
  """{'path/to/kernel': {'u': (out,), 'v': (rows,)}} for every normalised
  leaf: unit normal vectors drawn from `key` leaf by leaf (a plain dict of
  arrays, as checkpoints keep them)."""
  state = {}
  for i, (path, w) in enumerate(jax.tree_util.tree_flatten_with_path(
      params)[0]):
    if _is_normalized(path) and w.ndim >= 2:
      ku, kv = jax.random.split(jax.random.fold_in(key, i))
      rows, out = _matrix(w).shape
      state[_key(path)] = {'u': _unit(jax.random.normal(ku, (out,))),
                           'v': _unit(jax.random.normal(kv, (rows,)))}
  return state


def sigma(w, u, v):
  """v^T W u for W viewed as (-1, out)."""
  return v @ (_matrix(w) @ u)


def power_iteration(w, u, v):
  """One step: (u, v) of W (-1, out), without gradient."""
  m = jax.lax.stop_gradient(_matrix(w))
  v = _unit(m @ u)
  u = _unit(m.T @ v)
  return u, v


def normalize(params, state: dict, update: bool = True):
  """(params with every normalised leaf W / sigma(W), new state, sigmas by
  the leaves' paths, 'a/b/kernel')."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
  out, new_state, sigmas = [], {}, {}
  for path, w in leaves:
    name = _key(path)
    if name not in state:
      out.append(w)
      continue
    u, v = state[name]['u'], state[name]['v']
    if update:
      u, v = power_iteration(w, u, v)
    s = sigma(w, u, v)
    out.append((w / s).astype(w.dtype))
    new_state[name] = {'u': u, 'v': v}
    sigmas[name] = s
  return jax.tree_util.tree_unflatten(treedef, out), new_state, sigmas
