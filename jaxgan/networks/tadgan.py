"""TadGAN's four networks (Geiger et al. 2020) as Orion's `tadgan` defines them.

orion-ml 0.7.1, orion/primitives/jsons/orion.primitives.tadgan.TadGAN.json,
for windows (B, T, 1) and latents (B, L, 1), T = 100 and L = 20 there:

  Encoder    Bidirectional(LSTM(100, return_sequences)) -> Flatten ->
             Dense(L) -> Reshape(L, 1)
  Generator  Flatten -> Dense(T / 2) -> Reshape(T / 2, 1) ->
             Bidirectional(LSTM(64, dropout 0.2, recurrent_dropout 0.2)) ->
             UpSampling1D(2) -> Bidirectional(LSTM(64, same)) ->
             TimeDistributed(Dense(1)) -> tanh
  CriticX    4 x [Conv1D(64, 5, 'valid'), LeakyReLU(0.2), Dropout(0.25)] ->
             Flatten -> Dense(1)
  CriticZ    Flatten -> 2 x [Dense(L), LeakyReLU(0.2), Dropout(0.2)] -> Dense(1)

Bidirectional layers concatenate the forward and the (time-aligned)
backward sequences. The LSTMs are Flax's LSTM cell parameters over
`nn.scan`, with Keras 2.14's dropout: an LSTM with recurrent_dropout runs
in Keras's `implementation=1`, which draws, once per sequence and
direction, a separate input mask and recurrent mask for each of the four
gates (i, f, c, o), the same at every step, scaled by 1 / (1 - rate); the
cell state is not masked. Without masks (inference, the encoder) the four
gates' products are fused into one, as Flax's `OptimizedLSTMCell`.
Initialization follows Keras in distribution: Dense and Conv kernels
Glorot-uniform, zero biases; each LSTM gate's input kernel uniform with
Keras's fused (in, 4 units) Glorot limit, each gate's recurrent kernel
orthogonal scaled by 1/2 (the (units, 4 units) orthogonal matrix Keras
draws has blocks of that scale), and the forget gate's bias 1
(`unit_forget_bias`, set by `keras_forget_bias` after init). Keras runs
TadGAN in float64 (`set_floatx('float64')`); jaxgan in float32.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

_GLOROT = nn.initializers.glorot_uniform()


def _gate_kernel_init(units: int):
  """Keras's Glorot-uniform limit for the fused (in, 4 units) kernel, drawn
  per gate."""

  def init(key, shape, dtype=jnp.float32):
    limit = math.sqrt(6.0 / (shape[0] + 4 * units))
    return jax.random.uniform(key, shape, dtype, -limit, limit)

  return init


GATES = 'ifgo'  # Keras's i, f, c, o; Flax's parameter names.


class KerasLSTMCell(nn.Module):
  """An LSTM step with `nn.OptimizedLSTMCell`'s parameters (per gate: an
  input kernel 'i<gate>', a recurrent kernel 'h<gate>' with the bias) and
  Keras's per-gate dropout masks. `masks`: None (no dropout: the four
  gates' products fused into one, as Flax's cell) or (input masks
  (4, B, F), recurrent masks (4, B, units)), gate n computed from
  x * input_masks[n] and h * recurrent_masks[n]: one product per gate."""
  units: int

  @nn.compact
  def __call__(self, carry, x, masks=None):
    c, h = carry
    dense = nn.recurrent.DenseParams
    w_in = [dense(self.units, use_bias=False,
                  kernel_init=_gate_kernel_init(self.units),
                  name=f'i{g}')(x)[0] for g in GATES]
    w_rec = [dense(self.units,
                   kernel_init=nn.initializers.orthogonal(scale=0.5),
                   name=f'h{g}')(h) for g in GATES]
    bias = jnp.concatenate([b for _, b in w_rec])
    if masks is None:
      z = (x @ jnp.concatenate(w_in, -1) +
           h @ jnp.concatenate([k for k, _ in w_rec], -1) + bias)
    else:
      in_masks, rec_masks = masks
      z = jnp.concatenate([(x * in_masks[n]) @ w_in[n] +
                           (h * rec_masks[n]) @ w_rec[n][0]
                           for n in range(4)], -1) + bias
    zi, zf, zg, zo = jnp.split(z, 4, axis=-1)
    c = nn.sigmoid(zf) * c + nn.sigmoid(zi) * jnp.tanh(zg)
    h = nn.sigmoid(zo) * jnp.tanh(c)
    return (c, h), h


class _BiStep(nn.Module):
  """Step t of the forward LSTM and step T - 1 - t of the backward one, with
  Keras's dropout masks (None: none): one loop for both directions, as
  XLA:CPU's loop overhead, not arithmetic, bounds these small cells."""
  units: int

  @nn.compact
  def __call__(self, carry, xs, masks):
    out = []
    for d, name in enumerate(('forward', 'backward')):
      carry_d, y = KerasLSTMCell(self.units, name=name)(
          carry[d], xs[d], None if masks is None else masks[d])
      out.append((carry_d, y))
    return (out[0][0], out[1][0]), (out[0][1], out[1][1])


class BiLSTM(nn.Module):
  """Keras's Bidirectional(LSTM(units, return_sequences=True, dropout,
  recurrent_dropout)), merge 'concat': (B, T, F) -> (B, T, 2 units), the
  backward LSTM's outputs aligned with the inputs' time."""
  units: int
  dropout: float = 0.0
  recurrent_dropout: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False):
    batch, _, features = x.shape

    def mask(rate, width):
      """Keras's masks of one direction: one per gate, (4, B, width)."""
      if rate == 0:
        return jnp.ones((4, batch, width), x.dtype)
      keep = jax.random.bernoulli(self.make_rng('dropout'), 1 - rate,
                                  (4, batch, width))
      return keep.astype(x.dtype) / (1 - rate)

    masks = None
    if train and (self.dropout or self.recurrent_dropout):
      # Per direction: the input masks, then the recurrent ones.
      masks = tuple((mask(self.dropout, features),
                     mask(self.recurrent_dropout, self.units))
                    for _ in range(2))
    scan = nn.scan(_BiStep, variable_broadcast='params',
                   split_rngs={'params': False},
                   in_axes=(1, nn.broadcast), out_axes=1)
    zeros = jnp.zeros((batch, self.units), x.dtype)
    _, (forward, backward) = scan(self.units, name='step')(
        ((zeros, zeros), (zeros, zeros)), (x, x[:, ::-1]), masks)
    return jnp.concatenate([forward, backward[:, ::-1]], axis=-1)


class Encoder(nn.Module):
  """E: windows (B, T, 1) -> latents (B, L, 1)."""
  latent_dim: int = 20
  units: int = 100

  @nn.compact
  def __call__(self, x, train: bool = False):
    h = BiLSTM(self.units, name='lstm')(x, train)
    h = nn.Dense(self.latent_dim, kernel_init=_GLOROT, name='dense')(
        h.reshape(len(x), -1))
    return h[..., None]


class Generator(nn.Module):
  """G: latents (B, L, 1) -> windows (B, T, 1) in (-1, 1)."""
  window: int = 100
  units: int = 64
  dropout: float = 0.2
  recurrent_dropout: float = 0.2

  @nn.compact
  def __call__(self, z, train: bool = False):
    half = self.window // 2
    h = nn.Dense(half, kernel_init=_GLOROT, name='dense')(
        z.reshape(len(z), -1))[..., None]
    kw = dict(units=self.units, dropout=self.dropout,
              recurrent_dropout=self.recurrent_dropout)
    h = BiLSTM(**kw, name='lstm1')(h, train)
    h = jnp.repeat(h, 2, axis=1)  # UpSampling1D(2): each step twice.
    h = BiLSTM(**kw, name='lstm2')(h, train)
    return jnp.tanh(nn.Dense(1, kernel_init=_GLOROT, name='out')(h))


class Conv1D(nn.Module):
  """Keras's Conv1D(features, kernel_size) ('valid', stride 1) as kernel_size
  shifted slices and one dot, with nn.Conv's parameters (kernel (k, C, F),
  bias (F,)). The penalty differentiates Cx twice; XLA:CPU ran the second
  derivative of its own convolution about 8x slower than of this form
  (benchmarks/README.md, TadGAN)."""
  features: int
  kernel_size: int

  @nn.compact
  def __call__(self, x):
    k, channels = self.kernel_size, x.shape[-1]
    kernel = self.param('kernel', _GLOROT, (k, channels, self.features))
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
    length = x.shape[1] - k + 1
    patches = jnp.concatenate([x[:, i:i + length] for i in range(k)], -1)
    return patches @ kernel.reshape(k * channels, -1) + bias


class CriticX(nn.Module):
  """Cx: windows (B, T, 1) -> scores (B, 1)."""
  features: int = 64
  kernel_size: int = 5
  layers: int = 4
  dropout: float = 0.25

  @nn.compact
  def __call__(self, x, train: bool = False):
    h = x
    for i in range(self.layers):
      h = Conv1D(self.features, self.kernel_size, name=f'conv{i}')(h)
      h = nn.leaky_relu(h, 0.2)
      h = nn.Dropout(self.dropout, deterministic=not train)(h)
    return nn.Dense(1, kernel_init=_GLOROT, name='out')(h.reshape(len(x), -1))


class CriticZ(nn.Module):
  """Cz: latents (B, L, 1) -> scores (B, 1)."""
  features: int = 20
  dropout: float = 0.2

  @nn.compact
  def __call__(self, z, train: bool = False):
    h = z.reshape(len(z), -1)
    for i in range(2):
      h = nn.Dense(self.features, kernel_init=_GLOROT, name=f'dense{i}')(h)
      h = nn.leaky_relu(h, 0.2)
      h = nn.Dropout(self.dropout, deterministic=not train)(h)
    return nn.Dense(1, kernel_init=_GLOROT, name='out')(h)


def keras_forget_bias(params):
  """Every LSTM's forget-gate bias set to 1 (Keras's unit_forget_bias)."""

  def fix(path, leaf):
    names = [getattr(p, 'key', None) for p in path]
    return jnp.ones_like(leaf) if names[-2:] == ['hf', 'bias'] else leaf

  return jax.tree_util.tree_map_with_path(fix, params)
