"""GAN losses and penalties as small pure functions of logits, scores and critics.

Every loss takes discriminator outputs of shape (B,) or (B, 1) and returns a
scalar mean. Discriminator/critic losses are minimised by the discriminator,
generator losses by the generator. BCE-type losses take *logits* and are written
with `log_sigmoid`, so they are exact and finite for logits of any magnitude.

The train step looks losses up by name in `GAN_LOSSES` and penalties in
`PENALTIES`; adding a loss is adding a function and a registry entry.
"""

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


def _flat(x: Array) -> Array:
  """(B,) or (B, 1) -> (B,), in at least float32."""
  x = jnp.asarray(x)
  if x.ndim == 2 and x.shape[1] == 1:
    x = x[:, 0]
  if x.ndim != 1:
    raise ValueError(f'expected logits of shape (B,) or (B, 1), got {x.shape}')
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


# --- Minimax / BCE (Goodfellow et al. 2014; Salimans et al. 2016) -----------


def minimax_discriminator_loss(real_logits: Array, fake_logits: Array,
                               label_smoothing: float = 0.0) -> Array:
  """BCE(D(x), 1 - s) + BCE(D(G(z)), 0): Goodfellow et al. 2014, eq. 1.

  `label_smoothing` s is *one-sided*: only the real target moves, to 1 - s
  (Salimans et al. 2016, sec. 3.4; s = 0.1 gives their 0.9 target).
  BCE(l, t) = -t log sigmoid(l) - (1 - t) log sigmoid(-l).
  """
  real_logits, fake_logits = _flat(real_logits), _flat(fake_logits)
  target = 1.0 - label_smoothing
  real_loss = -(target * jax.nn.log_sigmoid(real_logits) +
                (1.0 - target) * jax.nn.log_sigmoid(-real_logits))
  fake_loss = -jax.nn.log_sigmoid(-fake_logits)
  return jnp.mean(real_loss) + jnp.mean(fake_loss)


def minimax_generator_loss(fake_logits: Array) -> Array:
  """mean log(1 - sigmoid(D(G(z)))): the saturating loss of Goodfellow et al.

  The generator minimises it; its gradient vanishes as D(G(z)) -> 0, which is
  why the paper recommends the non-saturating loss in practice.
  log(1 - sigmoid(l)) = log sigmoid(-l).
  """
  return jnp.mean(jax.nn.log_sigmoid(-_flat(fake_logits)))


def non_saturating_generator_loss(fake_logits: Array) -> Array:
  """-mean log sigmoid(D(G(z))): Goodfellow et al. 2014, sec. 3."""
  return -jnp.mean(jax.nn.log_sigmoid(_flat(fake_logits)))


# --- Relativistic average (Jolicoeur-Martineau 2018; ESRGAN) ----------------


def relativistic_average_discriminator_loss(real_logits: Array,
                                            fake_logits: Array) -> Array:
  """RaGAN's D loss as Wang et al. 2018 train it (eq. 2, halved as
  in the authors' code): D_Ra(a, b) = sigmoid(C(a) - E[C(b)]),

    L_D = (BCE(C(x_r) - E[C(x_f)], 1) + BCE(C(x_f) - E[C(x_r)], 0)) / 2.
  """
  real, fake = _flat(real_logits), _flat(fake_logits)
  return 0.5 * (-jnp.mean(jax.nn.log_sigmoid(real - jnp.mean(fake))) -
                jnp.mean(jax.nn.log_sigmoid(-(fake - jnp.mean(real)))))


def relativistic_average_generator_loss(fake_logits: Array,
                                        real_logits: Array) -> Array:
  """RaGAN's G loss (Wang et al. 2018, eq. 3, halved as the authors'): the symmetric
  form, so G also gets gradients from the real data's term,

    L_G = (BCE(C(x_r) - E[C(x_f)], 0) + BCE(C(x_f) - E[C(x_r)], 1)) / 2.
  """
  real, fake = _flat(real_logits), _flat(fake_logits)
  return 0.5 * (-jnp.mean(jax.nn.log_sigmoid(-(real - jnp.mean(fake)))) -
                jnp.mean(jax.nn.log_sigmoid(fake - jnp.mean(real))))


# --- Wasserstein (Arjovsky et al. 2017) --------------------------------------


def wasserstein_critic_loss(real_scores: Array, fake_scores: Array) -> Array:
  """mean f(G(z)) - mean f(x): Arjovsky et al. 2017, Algorithm 1."""
  return jnp.mean(_flat(fake_scores)) - jnp.mean(_flat(real_scores))


def wasserstein_generator_loss(fake_scores: Array) -> Array:
  """-mean f(G(z))."""
  return -jnp.mean(_flat(fake_scores))


# --- Hinge (Lim & Ye 2017; Miyato et al. 2018) -------------------------------


def hinge_discriminator_loss(real_logits: Array, fake_logits: Array) -> Array:
  """mean relu(1 - D(x)) + mean relu(1 + D(G(z))): Miyato et al. 2018, eq. 16."""
  return (jnp.mean(jax.nn.relu(1.0 - _flat(real_logits))) +
          jnp.mean(jax.nn.relu(1.0 + _flat(fake_logits))))


def hinge_generator_loss(fake_logits: Array) -> Array:
  """-mean D(G(z)): Miyato et al. 2018, eq. 17."""
  return -jnp.mean(_flat(fake_logits))


# --- Least squares (Mao et al. 2017, eq. 2 with a=0, b=c=1) ------------------


def least_squares_discriminator_loss(real_logits: Array,
                                     fake_logits: Array) -> Array:
  """0.5 mean (D(x) - 1)^2 + 0.5 mean D(G(z))^2."""
  return (0.5 * jnp.mean(jnp.square(_flat(real_logits) - 1.0)) +
          0.5 * jnp.mean(jnp.square(_flat(fake_logits))))


def least_squares_generator_loss(fake_logits: Array) -> Array:
  """0.5 mean (D(G(z)) - 1)^2."""
  return 0.5 * jnp.mean(jnp.square(_flat(fake_logits) - 1.0))


# --- Auxiliary terms: ACGAN and InfoGAN -------------------------------------


def auxiliary_classifier_loss(class_logits: Array, labels: Array) -> Array:
  """-mean log p(c | x): ACGAN's L_C (Odena et al. 2017, eq. 2).

  `class_logits` (B, K), `labels` integer classes (B,). The discriminator
  minimises it on real and fake samples, the generator on fake ones.
  """
  log_probs = jax.nn.log_softmax(class_logits.astype(jnp.float32), axis=-1)
  return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=-1))


def info_categorical_loss(q_logits: Array, codes: Array) -> Array:
  """-mean log Q(c | G(z, c)) of a categorical code (Chen et al. 2016, eq. 4).

  Minimising it maximises the variational lower bound L_I on the mutual
  information I(c; G(z, c)) up to the constant entropy H(c). `q_logits`
  (B, K), `codes` integer categories (B,).
  """
  return auxiliary_classifier_loss(q_logits, codes)


def info_continuous_loss(q_means: Array, codes: Array) -> Array:
  """-mean log Q(c | x) of continuous codes, Q a unit-variance Gaussian.

  = mean over the batch of sum_j (c_j - mu_j)^2 / 2, dropping the constant
  log(2 pi) / 2 per code. `q_means` and `codes` (B, C).
  """
  diff = codes.astype(jnp.float32) - q_means.astype(jnp.float32)
  return 0.5 * jnp.mean(jnp.sum(jnp.square(diff), axis=-1))


# --- Penalties and constraints -----------------------------------------------


def _per_example_input_grads(critic_fn: Callable[[Array], Array],
                             x: Array) -> Array:
  """d critic_fn(x)_i / d x_i for every example i, shape of x.

  The critic maps (B, ...) -> (B,) or (B, 1) and treats examples independently
  (no BatchNorm), so the gradient of the sum of its outputs with respect to
  the input batch holds each example's own input gradient.
  """
  return jax.grad(lambda inputs: jnp.sum(_flat(critic_fn(inputs))))(x)


def _squared_norms(grads: Array) -> Array:
  """Per-example squared L2 norm over all non-batch axes, float32 or wider."""
  grads = grads.astype(jnp.promote_types(grads.dtype, jnp.float32))
  return jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1)


def gradient_penalty(critic_fn: Callable[[Array], Array], real: Array,
                     fake: Array, epsilon: Array, target: float = 1.0) -> Array:
  """WGAN-GP penalty: Gulrajani et al. 2017, eq. 3 (without the lambda).

  x = epsilon * real + (1 - epsilon) * fake, one epsilon per example
  (`epsilon` has shape (B,) and is broadcast over the other axes);
  returns mean_i (||d critic_fn(x)_i / d x_i||_2 - target)^2.
  The square root is taken with a safe gradient at zero norm, so the
  penalty's own gradient stays finite when a critic is flat.
  """
  epsilon = jnp.reshape(epsilon, (-1,) + (1,) * (real.ndim - 1))
  interpolates = epsilon * real + (1.0 - epsilon) * fake
  sq_norms = _squared_norms(_per_example_input_grads(critic_fn, interpolates))
  safe = sq_norms > 0
  norms = jnp.where(safe, jnp.sqrt(jnp.where(safe, sq_norms, 1.0)), 0.0)
  return jnp.mean(jnp.square(norms - target))


def drift_penalty(real_scores: Array) -> Array:
  """mean_i D(x_i)^2 over real scores: Karras et al. 2018, sec. A.1 (weighted
  0.001 there), which keeps a WGAN-GP critic's outputs from drifting."""
  return jnp.mean(jnp.square(_flat(real_scores).astype(jnp.float32)))


def r1_penalty(critic_fn: Callable[[Array], Array], real: Array) -> Array:
  """R1: mean_i ||d critic_fn(x)_i / d x_i||^2 at real data.

  Mescheder et al. 2018, eq. 9 (without the gamma / 2 factor).
  """
  return jnp.mean(_squared_norms(_per_example_input_grads(critic_fn, real)))


def clip_weights(params, clip: float):
  """Every leaf clipped to [-clip, clip]: Arjovsky et al. 2017, Algorithm 1."""
  return jax.tree.map(lambda p: jnp.clip(p, -clip, clip), params)


# --- Discriminator accuracy (a training-health signal) -----------------------


def threshold_accuracy(real_scores: Array, fake_scores: Array,
                       threshold: float = 0.0) -> tuple[Array, Array]:
  """(share of real scored above `threshold`, share of fake at or below it):
  how often D tells the two apart, for losses whose targets sit on either
  side of a fixed score (BCE and hinge: 0; least squares' 1 and 0: 0.5)."""
  real, fake = _flat(real_scores), _flat(fake_scores)
  return (jnp.mean((real > threshold).astype(jnp.float32)),
          jnp.mean((fake <= threshold).astype(jnp.float32)))


def midpoint_accuracy(real_scores: Array,
                      fake_scores: Array) -> tuple[Array, Array]:
  """threshold_accuracy at the midpoint of the two batches' mean scores,
  for critics whose scores have no fixed scale (Wasserstein)."""
  real, fake = _flat(real_scores), _flat(fake_scores)
  return threshold_accuracy(real, fake, 0.5 * (jnp.mean(real) +
                                               jnp.mean(fake)))


def relativistic_accuracy(real_scores: Array,
                          fake_scores: Array) -> tuple[Array, Array]:
  """RaGAN's decision: a real x is called real when C(x) > E[C(fake)], a
  fake when C(x) < E[C(real)] (Jolicoeur-Martineau 2018, sec. 4.2)."""
  real, fake = _flat(real_scores), _flat(fake_scores)
  return (jnp.mean((real > jnp.mean(fake)).astype(jnp.float32)),
          jnp.mean((fake < jnp.mean(real)).astype(jnp.float32)))


# --- Registries used by the train step ---------------------------------------


class GANLoss(NamedTuple):
  """A discriminator loss and the generator loss that goes with it."""
  discriminator: Callable[..., Array]
  generator: Callable[..., Array]
  # Whether discriminator outputs are logits of a probability (BCE losses).
  outputs_logits: bool
  # The generator loss also takes the real logits: generator(fake, real).
  relativistic: bool = False
  # (real scores, fake scores) -> (accuracy on real, accuracy on fake).
  accuracy: Callable[..., tuple[Array, Array]] = threshold_accuracy


GAN_LOSSES = {
    'minimax': GANLoss(minimax_discriminator_loss, minimax_generator_loss,
                       True),
    'non_saturating': GANLoss(minimax_discriminator_loss,
                              non_saturating_generator_loss, True),
    'wasserstein': GANLoss(wasserstein_critic_loss, wasserstein_generator_loss,
                           False, accuracy=midpoint_accuracy),
    'hinge': GANLoss(hinge_discriminator_loss, hinge_generator_loss, False),
    'least_squares': GANLoss(least_squares_discriminator_loss,
                             least_squares_generator_loss, False,
                             accuracy=functools.partial(threshold_accuracy,
                                                        threshold=0.5)),
    'relativistic_average': GANLoss(
        relativistic_average_discriminator_loss,
        relativistic_average_generator_loss, True, relativistic=True,
        accuracy=relativistic_accuracy),
}

# Penalties added to the critic loss, each weighted by config.loss.penalty_weight.
PENALTIES = ('none', 'gradient_penalty', 'r1')
