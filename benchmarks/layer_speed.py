"""Per-layer forward + backward time of dcgan32_mnist's convolutions.

  python benchmarks/layer_speed.py jax      # jaxgan's UpConv/DownConv, both impls
  VENV_TORCH/bin/python benchmarks/layer_speed.py torch   # PyTorch's layers

Each prints one JSON object: median seconds of the gradient of sum(y^2) with
respect to the input and the kernel, batch 64, for each layer's shapes
(benchmarks/README.md has the results).
"""
import sys, time, json, numpy as np
which = sys.argv[1]
B = 64
# (kind, H_in, C_in, C_out): G up convs 4->8->16->32, D down convs 32->16->8->4
LAYERS = [('up', 4, 256, 128), ('up', 8, 128, 64), ('up', 16, 64, 1),
          ('down', 32, 1, 64), ('down', 16, 64, 128), ('down', 8, 128, 256)]
def bench(f, n=20):
  f(); ts = []
  for _ in range(n):
    t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
  return float(np.median(ts))
out = {}
if which == 'jax':
  import jax, jax.numpy as jnp
  from jaxgan import models
  for kind, h, ci, co in LAYERS:
    for impl in ('matmul', 'conv'):
      m = (models.UpConv if kind == 'up' else models.DownConv)(co, impl=impl)
      x = jnp.ones((B, h, h, ci)); p = m.init(jax.random.key(0), x)
      g = jax.jit(jax.grad(lambda p, x: jnp.sum(m.apply(p, x) ** 2), argnums=(0, 1)))
      out[f'{kind}{h}_{ci}_{co}_{impl}'] = bench(lambda: jax.block_until_ready(g(p, x)))
else:
  import torch, torch.nn as nn
  for kind, h, ci, co in LAYERS:
    m = (nn.ConvTranspose2d if kind == 'up' else nn.Conv2d)(ci, co, 4, 2, 1, bias=False)
    x = torch.ones(B, ci, h, h, requires_grad=True)
    def f():
      y = m(x); (y ** 2).sum().backward()
    out[f'{kind}{h}_{ci}_{co}_torch'] = bench(f)
print(json.dumps(out))
