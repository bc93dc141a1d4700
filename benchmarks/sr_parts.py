"""srgan96's parts alone, forward + backward, jaxgan against PyTorch (CPU).

  JAXGAN_CONV_TUNING_S=0 python -m benchmarks.sr_parts jax
  VENV_TORCH/bin/python benchmarks/sr_parts.py torch

Median of 10 after two warm-up calls, ms, of: G's forward (batch 16, 24x24
-> 96x96), G's forward + backward of a pixel MSE, and D's forward +
backward of mean(D(x)^2) with respect to its parameters at batch 32 and 16
(and to the input too at 32). jaxgan's SRResNet and SRGAN discriminator
in training mode (BatchNorm on batch statistics) with the rules' forms
(impl 'matmul'); PyTorch's are `../shared/bench/torch_translation_bench.py`'s
srresnet() and srgan_discriminator(96), 2 threads. The iteration runs G
forward + backward once, D at batch 16 twice (real, then fake) and once
more for G's adversarial term, as both frameworks' steps do. Prints one
JSON object. Only the framework named is imported.
"""

import json
import os
import sys
import time

import numpy as np

REPEATS = 10
BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                     'shared', 'bench')


def median_ms(f, repeats=REPEATS):
  f()
  f()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    f()
    times.append(time.perf_counter() - start)
  return round(1000 * float(np.median(times)), 1)


def run_jax():
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jaxgan.networks import srresnet  # pylint: disable=g-import-not-at-top
  g = srresnet.SRResNet(impl='matmul')
  d = srresnet.SRGANDiscriminator(impl='matmul')
  lr = jax.random.uniform(jax.random.key(0), (16, 24, 24, 3))
  hr = jax.random.uniform(jax.random.key(1), (16, 96, 96, 3))
  hr32 = jnp.concatenate([hr, hr])
  g_vars, d_vars = g.init(jax.random.key(2), lr), d.init(jax.random.key(3),
                                                         hr32)
  g_stats = {k: v for k, v in g_vars.items() if k != 'params'}
  d_stats = {k: v for k, v in d_vars.items() if k != 'params'}

  def g_loss(params, x):
    y, _ = g.apply({'params': params, **g_stats}, x, mutable=['batch_stats'])
    return jnp.mean((y - hr) ** 2)

  def d_loss(params, x):
    y, _ = d.apply({'params': params, **d_stats}, x, mutable=['batch_stats'])
    return jnp.mean(y ** 2)

  g_fwd = jax.jit(lambda p, x: g.apply({'params': p, **g_stats}, x,
                                       mutable=['batch_stats'])[0])
  g_grad = jax.jit(jax.grad(g_loss))
  d_grad = jax.jit(jax.grad(d_loss))
  d_grad_x = jax.jit(jax.grad(d_loss, argnums=(0, 1)))
  gp, dp = g_vars['params'], d_vars['params']
  return {
      'G fwd b16': median_ms(lambda: g_fwd(gp, lr).block_until_ready()),
      'G fwd+bwd b16': median_ms(
          lambda: jax.block_until_ready(g_grad(gp, lr))),
      'D fwd+bwd b32': median_ms(
          lambda: jax.block_until_ready(d_grad(dp, hr32))),
      'D fwd+bwd (params, input) b32': median_ms(
          lambda: jax.block_until_ready(d_grad_x(dp, hr32))),
      'D fwd+bwd b16': median_ms(
          lambda: jax.block_until_ready(d_grad(dp, hr))),
  }


def run_torch():
  import torch  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, BENCH)
  import torch_translation_bench as bench  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(2)
  g, d = bench.srresnet(), bench.srgan_discriminator(96)
  lr, hr = torch.rand(16, 3, 24, 24), torch.rand(16, 3, 96, 96)
  hr32 = torch.cat([hr, hr])

  def g_fwd():
    with torch.no_grad():
      g(lr)

  def g_grad():
    g.zero_grad()
    ((g(lr) - hr) ** 2).mean().backward()

  def d_grad(x, wrt_input=False):
    d.zero_grad()
    x = x.clone().requires_grad_(wrt_input)
    (d(x) ** 2).mean().backward()

  return {
      'G fwd b16': median_ms(g_fwd),
      'G fwd+bwd b16': median_ms(g_grad),
      'D fwd+bwd b32': median_ms(lambda: d_grad(hr32)),
      'D fwd+bwd (params, input) b32': median_ms(lambda: d_grad(hr32, True)),
      'D fwd+bwd b16': median_ms(lambda: d_grad(hr)),
  }


if __name__ == '__main__':
  if sys.argv[1:] not in (['jax'], ['torch']):
    sys.exit(__doc__)
  print(json.dumps(run_jax() if sys.argv[1] == 'jax' else run_torch()))
