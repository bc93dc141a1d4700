r"""The convergence lab: which GAN training methods converge on the Dirac GAN
and on bilinear games (Mescheder, Geiger & Nowozin 2018, "Which Training
Methods for GANs do actually Converge?", sections 2-3).

  python -m jaxgan.benchmarks.convergence --out=runs/convergence

The Dirac GAN: the data is a point mass at 0, the generator a point mass at
theta, the discriminator linear, D_psi(x) = psi * x; the only equilibrium is
(theta, psi) = (0, 0). The losses and penalties are jaxgan's own
(`losses.GAN_LOSSES`, `losses.r1_penalty`, `losses.gradient_penalty`), so
what converges here is what the library's maths does. Both players descend
their own loss: the vector field is v = -(dL_G/dtheta, dL_D/dpsi).

The bilinear game: min_x max_y x^T A y (x, y in R^n, A fixed and
nonsingular), equilibrium 0. The Dirac GAN with the Wasserstein loss is its
n = 1 case.

Regularizers (each a change of the field):
  none              the plain game;
  r1                D's loss + gamma/2 E_real ||grad_x D||^2 (eq. 9), = gamma/2 psi^2;
  gradient_penalty  D's loss + lambda E (||grad_x D(x_hat)|| - 1)^2 (Gulrajani et
                    al. 2017), = lambda (|psi| - 1)^2, not differentiable at psi = 0;
  instance_noise    real and fake points + N(0, sigma^2) noise; the expectation is
                    taken over fixed normal quantiles, so the field is deterministic;
  consensus         v - gamma grad(||v||^2 / 2) (Mescheder et al. 2017).
Updates, step size h:
  simultaneous      z + h v(z);
  alternating       D (psi, or y) first, then G with the new D, as GAN training does;
  extragradient     z + h v(z + h v(z)) (Korpelevich 1976);
  optimistic        z + 2h v(z_k) - h v(z_{k-1}) (Daskalakis et al. 2018).

For every (game, loss, regularizer, update) the lab reports the eigenvalues of
the field's Jacobian at the equilibrium (continuous time: a negative real part
attracts, a zero one circles), the spectral radius rho of the update's
Jacobian there (rho < 1: locally convergent; rho > 1: diverges; rho = 1:
neither, Mescheder et al. 2018 Theorem 3.1's discrete-time condition), the
distance to the equilibrium after --steps updates from --start, and the
verdict measured from that trajectory beside the paper's (or, for
extragradient and optimistic steps, the literature's) analysis. It writes
`table.json`, `table.md`, `dirac.png` (the trajectories over each loss's
field, one panel per regularizer) and `bilinear.png` (distance per step).
"""

import dataclasses
import functools
import json
import os
from typing import Callable

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import losses

REGULARIZERS = ('none', 'r1', 'gradient_penalty', 'instance_noise',
                'consensus')
UPDATES = ('simultaneous', 'alternating', 'extragradient', 'optimistic')

FLAGS = flags.FLAGS


def define_flags():
  """The command's flags (defined when it runs, not on import: the tests
  import this module beside others whose flags share these names)."""
  flags.DEFINE_string('out', 'runs/convergence', 'Output folder.')
  flags.DEFINE_list('losses', 'minimax,non_saturating,wasserstein',
                    f'Dirac GAN losses, from {sorted(losses.GAN_LOSSES)}.')
  flags.DEFINE_list('regularizers', ','.join(REGULARIZERS),
                    'Regularizers (module docstring).')
  flags.DEFINE_list('updates', ','.join(UPDATES), 'Update rules.')
  flags.DEFINE_integer('steps', 3000, 'Updates per trajectory.')
  flags.DEFINE_float('lr', 0.1, 'Step size h.')
  flags.DEFINE_list('start', '1,1', 'Dirac GAN start (theta, psi).')
  flags.DEFINE_float('r1_gamma', 1.0, 'R1 weight gamma.')
  flags.DEFINE_float('gp_weight', 1.0, 'Gradient penalty weight lambda.')
  flags.DEFINE_float('noise_std', 1.0, 'Instance noise sigma.')
  flags.DEFINE_float('consensus', 1.0, 'Consensus weight gamma.')
  flags.DEFINE_integer('bilinear_dim', 4,
                       'n of the bilinear game (0: leave it out).')


_NOISE_NODES = 32

# What the analysis says happens near the equilibrium for small steps:
# Mescheder et al. 2018 sections 2.2-3 (the plain GAN and WGAN: simultaneous
# GD is not locally convergent, moving away from the equilibrium (Lemma 2.2
# with Theorem 3.1; far from it the non-saturating loss's field can hold it on
# a limit cycle), alternating GD circles (sec. 2.2);
# WGAN-GP does not converge in general (sec. 3.2); instance noise converges
# when the loss is curved at 0, f''(0) < 0 (sec. 3.3: not for the WGAN's
# linear f, nor the hinge's, linear near 0); zero-centred gradient penalties
# and consensus optimisation converge (sec. 3.4, 4.1)); extragradient and
# optimistic steps converge on bilinear games (Korpelevich 1976; Daskalakis et
# al. 2018; Mertikopoulos et al. 2019) and so locally on the Dirac GAN, whose
# linearisation is one.
_ANALYSIS = {
    ('none', 'simultaneous'): 'does not converge',
    ('none', 'alternating'): 'circles',
    ('none', 'extragradient'): 'converges',
    ('none', 'optimistic'): 'converges',
    ('gradient_penalty', 'simultaneous'): 'does not converge',
    ('gradient_penalty', 'alternating'): 'does not converge',
}
CURVED_LOSSES = ('minimax', 'non_saturating', 'least_squares')
LINEAR_LOSSES = ('wasserstein', 'hinge')


def analysis(regularizer: str, update: str, loss: str = '') -> str:
  """The published verdict for a (regularizer, update) near equilibrium;
  '' where the analysis says nothing (loss '': the bilinear game)."""
  if regularizer in ('r1', 'consensus'):
    return 'converges'
  if regularizer == 'instance_noise':
    if loss in CURVED_LOSSES:
      return 'converges'
    if loss not in LINEAR_LOSSES:
      return ''
    regularizer = 'none'  # No effect on a loss linear at 0.
  return _ANALYSIS.get((regularizer, update), '')


@dataclasses.dataclass(frozen=True)
class Game:
  """A two-player game on a flat state z: the field, and which entries the
  discriminator (maximising player) owns, for alternating updates."""
  name: str
  field: Callable[[jax.Array], jax.Array]
  discriminator_mask: np.ndarray
  equilibrium: np.ndarray


def noise_nodes(std: float, num: int = _NOISE_NODES) -> jax.Array:
  """num normal quantiles of N(0, std^2), symmetric: the expectation over
  instance noise as a fixed, deterministic average (std 0: no noise)."""
  if std == 0:
    return jnp.zeros((1,), jnp.float32)
  probs = (np.arange(num) + 0.5) / num
  return std * jax.scipy.special.ndtri(jnp.asarray(probs, jnp.float32))


def dirac_losses(theta, psi, loss: str, regularizer: str = 'none',
                 strength: float = 0.0, noise: jax.Array | None = None):
  """(generator loss, discriminator loss) of the Dirac GAN at (theta, psi).

  Real points 0 + noise, fake points theta + noise, each (N, 1); D_psi(x) =
  psi x. The penalties act on D's loss with jaxgan's functions: R1 is
  strength / 2 * losses.r1_penalty (Mescheder et al.'s gamma / 2), the
  gradient penalty strength * losses.gradient_penalty.
  """
  gan = losses.GAN_LOSSES[loss]
  noise = jnp.zeros((1,), jnp.float32) if noise is None else noise
  real = noise[:, None]  # (N, 1)
  fake = theta + noise[:, None]  # (N, 1)
  critic = lambda x: psi * x[:, 0]  # (N, 1) -> (N,)
  real_logits, fake_logits = critic(real), critic(fake)
  d_loss = gan.discriminator(real_logits, fake_logits)
  g_loss = (gan.generator(fake_logits, real_logits) if gan.relativistic
            else gan.generator(fake_logits))
  if regularizer == 'r1':
    d_loss += strength / 2 * losses.r1_penalty(critic, real)
  elif regularizer == 'gradient_penalty':
    # Any interpolate: D's input gradient is psi everywhere.
    epsilon = jnp.full((real.shape[0],), 0.5)
    d_loss += strength * losses.gradient_penalty(critic, real, fake, epsilon)
  return g_loss, d_loss


def consensus(field, gamma: float):
  """v - gamma grad(||v||^2 / 2): Mescheder et al. 2017, eq. 5."""
  def regularized(z):
    return field(z) - gamma * jax.grad(
        lambda u: 0.5 * jnp.sum(jnp.square(field(u))))(z)
  return regularized


def dirac_game(loss: str, regularizer: str = 'none',
               strength: float = 0.0) -> Game:
  """The Dirac GAN, z = (theta, psi), with one regularizer of given strength
  (R1's gamma, the penalty's lambda, the noise's sigma, consensus' gamma)."""
  if loss not in losses.GAN_LOSSES:
    raise ValueError(f'unknown loss {loss!r}: one of '
                     f'{sorted(losses.GAN_LOSSES)}')
  if regularizer not in REGULARIZERS:
    raise ValueError(f'unknown regularizer {regularizer!r}: one of '
                     f'{list(REGULARIZERS)}')
  noise = noise_nodes(strength if regularizer == 'instance_noise' else 0.0)
  penalty = regularizer if regularizer in ('r1', 'gradient_penalty') else 'none'
  player_losses = functools.partial(dirac_losses, loss=loss,
                                    regularizer=penalty, strength=strength,
                                    noise=noise)

  def field(z):
    theta, psi = z[0], z[1]
    g_grad = jax.grad(lambda t: player_losses(t, psi)[0])(theta)
    d_grad = jax.grad(lambda p: player_losses(theta, p)[1])(psi)
    return -jnp.stack([g_grad, d_grad])

  if regularizer == 'consensus':
    field = consensus(field, strength)
  return Game(f'dirac/{loss}', field, np.array([False, True]),
              np.zeros(2, np.float32))


def bilinear_game(matrix: np.ndarray, regularizer: str = 'none',
                  strength: float = 0.0) -> Game:
  """min_x max_y x^T A y on z = (x, y): v = (-A y, A^T x)."""
  if regularizer not in ('none', 'consensus'):
    raise ValueError(f'the bilinear game takes no {regularizer!r}: only '
                     'none or consensus (the others act on a discriminator)')
  a = jnp.asarray(matrix, jnp.float32)
  n = a.shape[0]

  def field(z):
    x, y = z[:n], z[n:]
    return jnp.concatenate([-a @ y, a.T @ x])

  if regularizer == 'consensus':
    field = consensus(field, strength)
  mask = np.arange(2 * n) >= n
  return Game(f'bilinear{n}', field, mask, np.zeros(2 * n, np.float32))


def step_fn(game: Game, update: str, lr: float):
  """One update on the carry (z, previous field); optimistic steps need the
  field of the step before, the others carry it unchanged."""
  v = game.field
  d_mask = jnp.asarray(game.discriminator_mask)

  def step(carry):
    z, v_prev = carry
    if update == 'simultaneous':
      v_now = v(z)
      return z + lr * v_now, v_now
    if update == 'alternating':
      z_d = jnp.where(d_mask, z + lr * v(z), z)
      v_now = v(z_d)
      return jnp.where(d_mask, z_d, z_d + lr * v_now), v_now
    if update == 'extragradient':
      v_now = v(z)
      return z + lr * v(z + lr * v_now), v_now
    if update == 'optimistic':
      v_now = v(z)
      return z + 2 * lr * v_now - lr * v_prev, v_now
    raise ValueError(f'unknown update {update!r}: one of {list(UPDATES)}')
  return step


def trajectory(game: Game, update: str, lr: float, start, steps: int):
  """(steps + 1, dim) states from start."""
  step = step_fn(game, update, lr)
  z0 = jnp.asarray(start, jnp.float32)

  @jax.jit
  def run(z0):
    def body(carry, _):
      carry = step(carry)
      return carry, carry[0]
    _, zs = jax.lax.scan(body, (z0, game.field(z0)), None, length=steps)
    return jnp.concatenate([z0[None], zs])
  return np.asarray(run(z0))


def field_eigenvalues(game: Game) -> np.ndarray:
  """Eigenvalues of the field's Jacobian at the equilibrium."""
  jac = jax.jacobian(game.field)(jnp.asarray(game.equilibrium))
  return np.linalg.eigvals(np.asarray(jac, np.float64))


def update_spectral_radius(game: Game, update: str, lr: float) -> float:
  """The spectral radius of the update map's Jacobian at the equilibrium;
  for optimistic steps the map acts on (z_k, z_{k-1})."""
  step = step_fn(game, update, lr)
  eq = jnp.asarray(game.equilibrium)
  if update == 'optimistic':
    def pair_map(pair):
      z, z_prev = pair[:eq.size], pair[eq.size:]
      return jnp.concatenate([step((z, game.field(z_prev)))[0], z])
    jac = jax.jacobian(pair_map)(jnp.concatenate([eq, eq]))
  else:
    jac = jax.jacobian(lambda z: step((z, game.field(z)))[0])(eq)
  return float(np.max(np.abs(np.linalg.eigvals(np.asarray(jac, np.float64)))))


def verdict(distances: np.ndarray) -> str:
  """What a trajectory did, from its distances to the equilibrium:
  converges (the last within 1e-3 of the start's), diverges (over twice the
  start's, or not finite); otherwise from the mean distance over the last
  quarter against the quarter before: converges slowly (below 0.7 of it),
  diverges slowly (above 1.3), or circles (an orbit or a limit cycle)."""
  start, last = distances[0], distances[-1]
  if not np.isfinite(last) or last > 2 * start:
    return 'diverges'
  if last <= 1e-3 * start:
    return 'converges'
  quarter = max(1, len(distances) // 4)
  before = distances[-2 * quarter:-quarter].mean()
  after = distances[-quarter:].mean()
  if after < 0.7 * before:
    return 'converges slowly'
  if after > 1.3 * before:
    return 'diverges slowly'
  return 'circles'


def agrees(measured: str, expected: str) -> bool:
  """Whether a measured verdict is the analysis' ('slowly' counts)."""
  if not expected:
    return True
  if expected == 'does not converge':
    return not measured.startswith('converges')
  return measured.split()[0] == expected


def evaluate(game: Game, regularizer: str, update: str, lr: float, start,
             steps: int, loss: str = '') -> tuple[dict, np.ndarray]:
  """One table row and its trajectory."""
  zs = trajectory(game, update, lr, start, steps)
  distances = np.linalg.norm(zs - game.equilibrium, axis=1)
  eig = field_eigenvalues(game)
  measured = verdict(distances)
  expected = analysis(regularizer, update, loss)
  row = {
      'game': game.name, 'loss': loss, 'regularizer': regularizer,
      'update': update, 'lr': lr, 'steps': steps,
      'field_eigenvalues': [[float(e.real), float(e.imag)] for e in eig],
      'update_spectral_radius': update_spectral_radius(game, update, lr),
      'start_distance': float(distances[0]),
      'final_distance': float(distances[-1]),
      'measured': measured, 'analysis': expected,
      'agrees': agrees(measured, expected),
  }
  if regularizer == 'gradient_penalty':
    row['note'] = ('the penalty is not differentiable at psi = 0: the '
                   'Jacobian there is the unregularized one')
  return row, zs


def table(rows: list[dict]) -> str:
  lines = ['| game | regularizer | update | eig(J): max Re, max abs Im '
           '| rho(update) | distance start -> end | measured | analysis |',
           '|---|---|---|---|---|---|---|---|']
  for r in rows:
    lines.append(
        f"| {r['game']} | {r['regularizer']} | {r['update']} | "
        f"{max(e[0] for e in r['field_eigenvalues']):+.3f}, "
        f"{max(abs(e[1]) for e in r['field_eigenvalues']):.3f} | "
        f"{r['update_spectral_radius']:.5f} | {r['start_distance']:.3g} -> "
        f"{r['final_distance']:.3g} | {r['measured']} | "
        f"{r['analysis'] or '-'}{'' if r['agrees'] else ' (DISAGREES)'} |")
  return '\n'.join(lines)


def strength_of(regularizer: str) -> float:
  return {'r1': FLAGS.r1_gamma, 'gradient_penalty': FLAGS.gp_weight,
          'instance_noise': FLAGS.noise_std,
          'consensus': FLAGS.consensus}.get(regularizer, 0.0)


def draw_dirac(path: str, trajectories: dict, games: dict, limit: float = 2.5):
  """One row per loss, one panel per regularizer: the field as streamlines,
  each update's trajectory over it."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  loss_names = list(dict.fromkeys(k[0] for k in games))
  regularizers = list(dict.fromkeys(k[1] for k in games))
  fig, axes = plt.subplots(len(loss_names), len(regularizers), squeeze=False,
                           figsize=(3.2 * len(regularizers),
                                    3.2 * len(loss_names)))
  grid = np.linspace(-limit, limit, 21, dtype=np.float32)
  theta, psi = np.meshgrid(grid, grid)
  points = jnp.stack([theta.ravel(), psi.ravel()], axis=1)
  colors = dict(zip(UPDATES, ('C3', 'C0', 'C2', 'C1')))
  for i, loss in enumerate(loss_names):
    for j, regularizer in enumerate(regularizers):
      ax = axes[i][j]
      game = games[(loss, regularizer)]
      field = np.asarray(jax.vmap(game.field)(points))
      ax.streamplot(theta, psi, field[:, 0].reshape(theta.shape),
                    field[:, 1].reshape(theta.shape), color='0.8',
                    density=0.8, linewidth=0.6)
      for update in UPDATES:
        zs = trajectories.get((loss, regularizer, update))
        if zs is not None:
          zs = np.where(np.abs(zs) > 10 * limit, np.nan, zs)
          ax.plot(zs[:, 0], zs[:, 1], color=colors[update], lw=0.8,
                  label=update)
      ax.plot([0], [0], 'k*', ms=8)
      ax.set_xlim(-limit, limit)
      ax.set_ylim(-limit, limit)
      ax.set_title(f'{loss}, {regularizer}', fontsize=9)
      ax.set_xlabel('theta (G)', fontsize=8)
      ax.set_ylabel('psi (D)', fontsize=8)
  axes[0][0].legend(fontsize=7, loc='lower left')
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def draw_distances(path: str, trajectories: dict, title: str):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(6, 4))
  for label, zs in trajectories.items():
    # Floored where a trajectory reaches the equilibrium exactly.
    ax.semilogy(np.maximum(np.linalg.norm(zs, axis=1), 1e-12), label=label,
                lw=1)
  ax.set_xlabel('step')
  ax.set_ylabel('distance to the equilibrium')
  ax.set_title(title, fontsize=9)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def bilinear_matrix(n: int) -> np.ndarray:
  """A fixed, well-conditioned n x n matrix: an orthogonal matrix from
  seed 0 times singular values spread over [0.5, 1]."""
  rng = np.random.default_rng(0)
  q, _ = np.linalg.qr(rng.normal(size=(n, n)))
  return (q * np.linspace(0.5, 1.0, n)).astype(np.float32)


def main(argv):
  del argv
  os.makedirs(FLAGS.out, exist_ok=True)
  start = [float(s) for s in FLAGS.start]
  rows, dirac_paths, games = [], {}, {}
  for loss in FLAGS.losses:
    for regularizer in FLAGS.regularizers:
      game = dirac_game(loss, regularizer, strength_of(regularizer))
      games[(loss, regularizer)] = game
      for update in FLAGS.updates:
        row, zs = evaluate(game, regularizer, update, FLAGS.lr, start,
                           FLAGS.steps, loss)
        rows.append(row)
        dirac_paths[(loss, regularizer, update)] = zs
  bilinear_paths = {}
  if FLAGS.bilinear_dim:
    matrix = bilinear_matrix(FLAGS.bilinear_dim)
    z0 = np.ones(2 * FLAGS.bilinear_dim, np.float32) / np.sqrt(
        2 * FLAGS.bilinear_dim) * np.linalg.norm(start)
    for regularizer in [r for r in FLAGS.regularizers
                        if r in ('none', 'consensus')]:
      game = bilinear_game(matrix, regularizer, strength_of(regularizer))
      for update in FLAGS.updates:
        row, zs = evaluate(game, regularizer, update, FLAGS.lr, z0,
                           FLAGS.steps)
        rows.append(row)
        bilinear_paths[f'{regularizer}, {update}'] = zs
  md = table(rows)
  print(md)
  with open(os.path.join(FLAGS.out, 'table.md'), 'w') as f:
    f.write(md + '\n')
  with open(os.path.join(FLAGS.out, 'table.json'), 'w') as f:
    json.dump(rows, f, indent=1)
  draw_dirac(os.path.join(FLAGS.out, 'dirac.png'), dirac_paths, games)
  if bilinear_paths:
    draw_distances(os.path.join(FLAGS.out, 'bilinear.png'), bilinear_paths,
                   f'bilinear game, n = {FLAGS.bilinear_dim}, h = '
                   f'{FLAGS.lr}')
  disagree = [r for r in rows if not r['agrees']]
  print(f'{len(rows) - len(disagree)} of {len(rows)} rows agree with the '
        'analysis.')


if __name__ == '__main__':
  define_flags()
  app.run(main)
