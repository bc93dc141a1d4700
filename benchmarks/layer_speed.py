"""Per-layer forward + backward time of the DCGANs', pix2pix's, SRGAN's and
CycleGAN's convolutions.

  python -m benchmarks.layer_speed jax [dcgan32|dcgan64|pix2pix256|srgan96|cyclegan256] [FORMS]
  VENV_TORCH/bin/python benchmarks/layer_speed.py torch [...]

Each prints one JSON object: the median seconds of the gradient of sum(y^2)
with respect to the input and the kernel, at the workload's batch, for each
layer's shapes (benchmarks/README.md has the results): for jaxgan every form of
`conv_forms` ('xla' is XLA's own convolution), plus the rules' choice and
the one measured in training's context (`conv_forms.measure`, two
unrolled steps); FORMS (e.g. xla,im2col,winograd) times those forms only,
without the measurement. For PyTorch its layer. Only the framework named
is imported.
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
    # srgan96 (batch 16, 96x96 HR): SRResNet's layers at 24x24 (the 3x3
    # 64 -> 64 one 33 times), its sub-pixel convolutions and 9x9 ends; the
    # SRGAN discriminator's eight 3x3 convolutions, on real and fake
    # (batch 32). A 5th to 7th element: kernel size, stride, batch.
    'srgan96': [('patch', 24, 3, 64, 9), ('patch', 24, 64, 64, 3),
                ('patch', 24, 64, 256, 3), ('patch', 48, 64, 256, 3),
                ('patch', 96, 64, 3, 9),
                ('patch', 96, 3, 64, 3, 1, 32), ('patch', 96, 64, 64, 3, 2, 32),
                ('patch', 48, 64, 128, 3, 1, 32),
                ('patch', 48, 128, 128, 3, 2, 32),
                ('patch', 24, 128, 256, 3, 1, 32),
                ('patch', 24, 256, 256, 3, 2, 32),
                ('patch', 12, 256, 512, 3, 1, 32),
                ('patch', 12, 512, 512, 3, 2, 32)],
    # cyclegan256 (batch 1): resnet_9blocks' layers (reflection padding
    # stands in as zero padding; the 3x3 256 -> 256 one 18 times, the two
    # 3x3 transposed convolutions 'up' with kernel 3, UpConv3), the 70x70
    # PatchGAN's.
    'cyclegan256': [('patch', 256, 3, 64, 7), ('patch', 256, 64, 128, 3, 2),
                    ('patch', 128, 128, 256, 3, 2), ('patch', 64, 256, 256, 3),
                    ('up', 64, 256, 128, 3), ('up', 128, 128, 64, 3),
                    ('patch', 256, 64, 3, 7), ('down', 256, 3, 64),
                    ('down', 128, 64, 128), ('down', 64, 128, 256),
                    ('patch', 32, 256, 512), ('patch', 31, 512, 1)],
}
# Batch per layer set: the workload's.
BATCHES = {'dcgan32': 64, 'dcgan64': 64, 'pix2pix256': 1, 'srgan96': 16,
           'cyclegan256': 1}


def _layers(layers_of: str):
  """(name, kind, batch, size, c_in, c_out, kernel, stride, padding)."""
  for kind, size, c_in, c_out, *rest in LAYERS[layers_of]:
    k, stride, batch = (list(rest) + [4, 1, BATCHES[layers_of]][len(rest):])
    if kind != 'patch':
      stride = 2
    padding = 1 if k == 4 else k // 2
    name = f'{kind}{size}_{c_in}_{c_out}'
    if (k, stride, batch) != (4, 1 if kind == 'patch' else 2,
                              BATCHES[layers_of]):
      name += f'_k{k}s{stride}b{batch}'
    yield name, kind, batch, size, c_in, c_out, k, stride, padding


def median_seconds(fn, repeats=20) -> float:
  fn()  # Compile / warm up.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def time_jax(layers_of: str, only: list[str] | None = None) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jaxgan.networks import conv_forms  # pylint: disable=g-import-not-at-top
  from jaxgan.networks import layers  # pylint: disable=g-import-not-at-top,unused-import
  out = {}
  for (name, kind, batch, size, c_in, c_out, ksize, stride,
       padding) in _layers(layers_of):
    site = conv_forms.Site(kind, (batch, size, size, c_in), c_out, 'float32',
                           1, ksize, padding, stride if kind == 'patch' else 1)
    x = jnp.ones(site.shape)
    k = jnp.full((ksize, ksize, c_in, c_out), 0.01)
    for form in ['xla'] + conv_forms.candidates(site):
      if only and form not in only:
        continue
      fn = conv_forms.build(site, form)
      grad = jax.jit(jax.grad(lambda x, k, fn=fn: jnp.sum(fn(x, k) ** 2),
                              argnums=(0, 1)))
      out[f'{name}_{form}'] = median_seconds(
          lambda g=grad: jax.block_until_ready(g(x, k)))
    out[f'{name}_rule'] = conv_forms.rule(site)
    if not only:
      out[f'{name}_measured'] = conv_forms.measure(site)
  return out


def time_torch(layers_of: str) -> dict:
  import torch  # pylint: disable=g-import-not-at-top
  out = {}
  for (name, kind, batch, size, c_in, c_out, ksize, stride,
       padding) in _layers(layers_of):
    cls = torch.nn.ConvTranspose2d if kind == 'up' else torch.nn.Conv2d
    # ConvTranspose2d(3, 2, 1, output_padding=1): UpConv3's doubling.
    extra = {'output_padding': 1} if kind == 'up' and ksize == 3 else {}
    layer = cls(c_in, c_out, ksize, stride, padding, bias=False, **extra)
    x = torch.ones(batch, c_in, size, size, requires_grad=True)

    def step(layer=layer, x=x):
      (layer(x) ** 2).sum().backward()

    out[f'{name}_torch'] = median_seconds(step)
  return out


if __name__ == '__main__':
  args = sys.argv[1:] + ['dcgan32'] * (len(sys.argv) == 2)
  only = args.pop(2).split(',') if len(args) == 3 else None
  if len(args) != 2 or args[0] not in ('jax', 'torch') or (
      args[1] not in LAYERS):
    sys.exit('usage: layer_speed.py jax|torch '
             '[dcgan32|dcgan64|pix2pix256|srgan96|cyclegan256]')
  print(json.dumps(time_jax(args[1], only) if args[0] == 'jax' else
                   time_torch(args[1])))
