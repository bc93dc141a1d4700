"""Per-layer forward + backward time of the DCGANs' and pix2pix's
convolutions.

  python -m benchmarks.layer_speed jax [dcgan32|dcgan64|pix2pix256]
  VENV_TORCH/bin/python benchmarks/layer_speed.py torch [...]

Each prints one JSON object: the median seconds of the gradient of sum(y^2)
with respect to the input and the kernel, at the workload's batch, for each
layer's shapes (benchmarks/README.md has the results): for jaxgan every form of
`conv_forms` ('xla' is XLA's own convolution), plus the rules' choice and
the one measured in training's context (`conv_forms.measure`, two
unrolled steps); for PyTorch its layer. Only the framework named is imported.
"""

import json
import sys
import time

import numpy as np

# (kind, input size, C_in, C_out): G's transposed convolutions 4 -> 8 -> ...,
# D's strided convolutions ... -> 8 -> 4.
LAYERS = {
    'dcgan32': [('up', 4, 256, 128), ('up', 8, 128, 64), ('up', 16, 64, 1),
                ('down', 32, 1, 64), ('down', 16, 64, 128),
                ('down', 8, 128, 256)],
    'dcgan64': [('up', 4, 512, 256), ('up', 8, 256, 128), ('up', 16, 128, 64),
                ('up', 32, 64, 3), ('down', 64, 3, 64), ('down', 32, 64, 128),
                ('down', 16, 128, 256), ('down', 8, 256, 512)],
    # pix2pix256 (batch 1): unet_256's encoder and decoder (the decoder's
    # inputs are the skip concatenations), the 70x70 PatchGAN on the pair.
    'pix2pix256': [('down', 256, 3, 64), ('down', 128, 64, 128),
                   ('down', 64, 128, 256), ('down', 32, 256, 512),
                   ('down', 16, 512, 512), ('down', 8, 512, 512),
                   ('down', 4, 512, 512), ('down', 2, 512, 512),
                   ('up', 1, 512, 512), ('up', 2, 1024, 512),
                   ('up', 4, 1024, 512), ('up', 8, 1024, 512),
                   ('up', 16, 1024, 256), ('up', 32, 512, 128),
                   ('up', 64, 256, 64), ('up', 128, 128, 3),
                   ('down', 256, 6, 64), ('patch', 32, 256, 512),
                   ('patch', 31, 512, 1)],
}
# Batch per layer set: the workload's.
BATCHES = {'dcgan32': 64, 'dcgan64': 64, 'pix2pix256': 1}


def median_seconds(fn, repeats=20) -> float:
  fn()  # Compile / warm up.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def time_jax(layers_of: str) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jaxgan.networks import conv_forms  # pylint: disable=g-import-not-at-top
  from jaxgan.networks import layers  # pylint: disable=g-import-not-at-top,unused-import
  out = {}
  for kind, size, c_in, c_out in LAYERS[layers_of]:
    site = conv_forms.Site(kind, (BATCHES[layers_of], size, size, c_in),
                           c_out, 'float32', 1)
    name = f'{kind}{size}_{c_in}_{c_out}'
    x = jnp.ones(site.shape)
    k = jnp.full((4, 4, c_in, c_out), 0.01)
    for form in ['xla'] + conv_forms.candidates(site):
      fn = conv_forms.build(site, form)
      grad = jax.jit(jax.grad(lambda x, k, fn=fn: jnp.sum(fn(x, k) ** 2),
                              argnums=(0, 1)))
      out[f'{name}_{form}'] = median_seconds(
          lambda g=grad: jax.block_until_ready(g(x, k)))
    out[f'{name}_rule'] = conv_forms.rule(site)
    out[f'{name}_measured'] = conv_forms.measure(site)
  return out


def time_torch(layers_of: str) -> dict:
  import torch  # pylint: disable=g-import-not-at-top
  out = {}
  for kind, size, c_in, c_out in LAYERS[layers_of]:
    cls = torch.nn.ConvTranspose2d if kind == 'up' else torch.nn.Conv2d
    layer = cls(c_in, c_out, 4, 1 if kind == 'patch' else 2, 1, bias=False)
    x = torch.ones(BATCHES[layers_of], c_in, size, size, requires_grad=True)

    def step(layer=layer, x=x):
      (layer(x) ** 2).sum().backward()

    out[f'{kind}{size}_{c_in}_{c_out}_torch'] = median_seconds(step)
  return out


if __name__ == '__main__':
  args = sys.argv[1:] + ['dcgan32'] * (len(sys.argv) == 2)
  if len(args) != 2 or args[0] not in ('jax', 'torch') or (
      args[1] not in LAYERS):
    sys.exit('usage: layer_speed.py jax|torch [dcgan32|dcgan64|pix2pix256]')
  print(json.dumps(time_jax(args[1]) if args[0] == 'jax' else
                   time_torch(args[1])))
