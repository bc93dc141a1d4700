"""Training-health signals: what GAN courses say a failing run looks like,
watched at every log step and reported as one-line warnings.

A family's iteration returns generic metrics where it has them:
  d_real_acc, d_fake_acc  the discriminator's accuracy on the real and fake
                          batch (`losses.GANLoss.accuracy`);
  g_grad_norm             the generator's gradient norm;
  diversity               `batch_diversity(fake) / batch_diversity(real)`.
`HealthMonitor` reads them from the host metrics at log steps and warns, once
per episode, in the log and in metrics.jsonl (a record {"step", "warning",
"message"}), when over the last config.health.patience_steps the median of
  discriminator_wins  the smaller accuracy is >= config.health.d_accuracy: the
                      generator's gradient vanishes (the minimax loss) or
                      carries little signal (Goodfellow et al. 2014 sec. 3;
                      Arjovsky & Bottou 2017);
  vanishing_generator_gradient  g_grad_norm over its median at the run's
                      first five log steps is below config.health.g_grad_ratio
                      (a resumed run takes its reference afresh);
  mode_collapse       diversity is below config.health.diversity: the samples
                      of a batch are far more alike than real images are.
Each warning says what to try, in the family's own config keys
(`Family.health_advice`). config.health.patience_steps = 0 turns them off.
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np


def add_config(config: ml_collections.ConfigDict):
  config.health = ml_collections.ConfigDict()
  # A condition must hold this many steps before it is reported; 0: off.
  config.health.patience_steps = 1000
  config.health.d_accuracy = 0.99
  config.health.g_grad_ratio = 0.01
  config.health.diversity = 0.1


def batch_diversity(x: jax.Array) -> jax.Array:
  """Mean L2 distance between the distinct pairs of a batch (B, ...), in
  float32: a cheap statistic whose ratio fake / real falls toward 0 when the
  generator maps many latents to one output."""
  flat = x.reshape(x.shape[0], -1).astype(jnp.float32)
  sq = jnp.sum(flat * flat, axis=1)
  d2 = sq[:, None] + sq[None, :] - 2.0 * flat @ flat.T
  n = flat.shape[0]
  off_diagonal = 1.0 - jnp.eye(n)
  dist = jnp.sqrt(jnp.maximum(d2, 0.0) * off_diagonal)
  return jnp.sum(dist) / jnp.maximum(n * (n - 1), 1)


def diversity_ratio(fake: jax.Array, real: jax.Array) -> jax.Array:
  """batch_diversity(fake) / batch_diversity(real) (1 for a generator as
  varied as the data; 0 when every sample is the same)."""
  return batch_diversity(fake) / jnp.maximum(batch_diversity(real), 1e-12)


# What to try, by warning; a family replaces these with its own config keys.
ADVICE = {
    'discriminator_wins': 'a weaker or slower discriminator, a loss that '
                          'keeps the generator\'s gradient, or noise on the '
                          'discriminator\'s inputs',
    'vanishing_generator_gradient': 'the non-saturating loss, a smaller '
                                    'discriminator learning rate, or a '
                                    'gradient penalty',
    'mode_collapse': 'minibatch discrimination, packing, unrolling or a '
                     'lower learning rate',
}


@dataclasses.dataclass(frozen=True)
class _Rule:
  """A statistic of the logged metrics, and when it is unhealthy."""
  name: str
  needs: tuple[str, ...]
  # (metrics, monitor) -> the statistic, or None when it cannot be had yet.
  statistic: Callable[[dict, 'HealthMonitor'], float | None]
  # (median statistic, health config) -> a description when unhealthy.
  judge: Callable[[float, ml_collections.ConfigDict], str | None]


def _accuracy(m, monitor):
  del monitor
  return min(m['d_real_acc'], m['d_fake_acc'])


def _judge_accuracy(value, config):
  if value >= config.d_accuracy:
    return (f'the discriminator tells real from fake on at least '
            f'{100 * value:.1f}% of both batches; the generator\'s gradient '
            'vanishes or carries little signal')
  return None


def _gradient_ratio(m, monitor):
  reference = monitor.reference('g_grad_norm')
  return None if not reference else m['g_grad_norm'] / reference


def _judge_gradient(value, config):
  if value < config.g_grad_ratio:
    return (f'the generator\'s gradient norm fell to {value:.2g} of its '
            'early median')
  return None


def _diversity(m, monitor):
  del monitor
  return m['diversity']


def _judge_diversity(value, config):
  if value < config.diversity:
    return (f'the samples of a batch are {value:.3f} times as far apart as '
            'real images (mode collapse)')
  return None


RULES = (
    _Rule('discriminator_wins', ('d_real_acc', 'd_fake_acc'), _accuracy,
          _judge_accuracy),
    _Rule('vanishing_generator_gradient', ('g_grad_norm',), _gradient_ratio,
          _judge_gradient),
    _Rule('mode_collapse', ('diversity',), _diversity, _judge_diversity),
)


class HealthMonitor:
  """Host-side: `update(step, metrics)` at log steps -> new warnings as
  (name, message) pairs.

  A rule is judged on the median of its statistic over the log steps of the
  last `patience_steps` (so one noisy batch neither starts nor ends an
  episode), once it has been watched that long; each episode is reported
  once, and the rule re-arms when the median is healthy again.
  """

  REFERENCE_LOGS = 5

  def __init__(self, config: ml_collections.ConfigDict,
               advice: dict[str, str] | None = None):
    self.config = config
    self.advice = {**ADVICE, **(advice or {})}
    self._history = {}  # rule -> [(step, statistic)] in the window
    self._first = {}  # rule -> the first step it was watched
    self._reported = set()
    self._early = {}  # metric -> its first REFERENCE_LOGS values

  @property
  def enabled(self) -> bool:
    return self.config.patience_steps > 0

  def reference(self, name: str) -> float | None:
    """The median of a metric's first REFERENCE_LOGS logged values (None
    until there are that many)."""
    values = self._early.get(name, [])
    if len(values) < self.REFERENCE_LOGS:
      return None
    return float(np.median(values))

  def update(self, step: int, metrics: dict) -> list[tuple[str, str]]:
    if not self.enabled:
      return []
    patience = self.config.patience_steps
    if 'g_grad_norm' in metrics:
      early = self._early.setdefault('g_grad_norm', [])
      if len(early) < self.REFERENCE_LOGS:
        early.append(float(metrics['g_grad_norm']))
    warnings = []
    for rule in RULES:
      if not all(k in metrics for k in rule.needs):
        continue
      value = rule.statistic(metrics, self)
      if value is None:
        continue
      self._first.setdefault(rule.name, step)
      window = [(s, v) for s, v in self._history.get(rule.name, [])
                if s >= step - patience] + [(step, float(value))]
      self._history[rule.name] = window
      if step - self._first[rule.name] < patience:
        continue
      problem = rule.judge(float(np.median([v for _, v in window])),
                           self.config)
      if problem is None:
        self._reported.discard(rule.name)
      elif rule.name not in self._reported:
        self._reported.add(rule.name)
        warnings.append((rule.name, (
            f'Training health at step {step}: {problem} (median over steps '
            f'{window[0][0]}-{step}). Try {self.advice[rule.name]} '
            f'(config.health.patience_steps=0 silences this).')))
    return warnings
