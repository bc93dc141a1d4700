"""Per-layer forward + backward time of dcgan32_mnist's convolutions.

  python -m benchmarks.layer_speed jax                    # jaxgan, both impls
  VENV_TORCH/bin/python benchmarks/layer_speed.py torch   # PyTorch's layers

Each prints one JSON object: the median seconds of the gradient of sum(y^2)
with respect to the input and the kernel, batch 64, for each layer's shapes
(benchmarks/README.md has the results). Only the framework named is imported.
"""

import json
import sys
import time

import numpy as np

BATCH = 64
# (kind, input size, C_in, C_out): G's transposed convolutions 4 -> 8 -> 16 ->
# 32, D's strided convolutions 32 -> 16 -> 8 -> 4.
LAYERS = [('up', 4, 256, 128), ('up', 8, 128, 64), ('up', 16, 64, 1),
          ('down', 32, 1, 64), ('down', 16, 64, 128), ('down', 8, 128, 256)]


def median_seconds(fn, repeats=20) -> float:
  fn()  # Compile / warm up.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def time_jax() -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jaxgan.networks import layers  # pylint: disable=g-import-not-at-top
  out = {}
  for kind, size, c_in, c_out in LAYERS:
    for impl in ('matmul', 'conv'):
      cls = layers.UpConv if kind == 'up' else layers.DownConv
      layer = cls(c_out, impl=impl)
      x = jnp.ones((BATCH, size, size, c_in))
      params = layer.init(jax.random.key(0), x)

      def loss(p, x, layer=layer):
        return jnp.sum(layer.apply(p, x) ** 2)

      grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
      out[f'{kind}{size}_{c_in}_{c_out}_{impl}'] = median_seconds(
          lambda g=grad, p=params, x=x: jax.block_until_ready(g(p, x)))
  return out


def time_torch() -> dict:
  import torch  # pylint: disable=g-import-not-at-top
  out = {}
  for kind, size, c_in, c_out in LAYERS:
    cls = torch.nn.ConvTranspose2d if kind == 'up' else torch.nn.Conv2d
    layer = cls(c_in, c_out, 4, 2, 1, bias=False)
    x = torch.ones(BATCH, c_in, size, size, requires_grad=True)

    def step(layer=layer, x=x):
      (layer(x) ** 2).sum().backward()

    out[f'{kind}{size}_{c_in}_{c_out}_torch'] = median_seconds(step)
  return out


if __name__ == '__main__':
  if sys.argv[1:] not in (['jax'], ['torch']):
    sys.exit('usage: layer_speed.py jax|torch')
  print(json.dumps(time_jax() if sys.argv[1] == 'jax' else time_torch()))
