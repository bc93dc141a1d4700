"""The convergence lab (jaxgan/benchmarks/convergence.py): the Dirac GAN's
fixed point and eigenvalues against the closed forms of Mescheder et al.
2018, the update rules' spectral radii, and the trajectories' verdicts."""

import json
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.benchmarks import convergence

# f'(0) of Mescheder et al.'s f for each of jaxgan's losses, the rotation speed
# of the plain Dirac GAN's field: sigmoid'(0)-type 1/2 for the BCE losses, 1
# for the Wasserstein loss.
F_PRIME = {'minimax': 0.5, 'non_saturating': 0.5, 'wasserstein': 1.0}


def _sorted(eig):
  return np.array(sorted(np.asarray(eig, np.complex128),
                         key=lambda e: (round(e.real, 6), e.imag)))


def _roots(b, c):
  """Roots of lambda^2 + b lambda + c."""
  return _sorted(np.roots([1.0, b, c]))


@pytest.mark.parametrize('loss', sorted(F_PRIME))
@pytest.mark.parametrize('regularizer', convergence.REGULARIZERS)
def test_the_equilibrium_is_a_fixed_point(loss, regularizer):
  game = convergence.dirac_game(loss, regularizer, 0.7)
  np.testing.assert_array_equal(np.asarray(game.field(jnp.zeros(2))), 0.0)


@pytest.mark.parametrize('loss', sorted(F_PRIME))
def test_field_eigenvalues_equal_the_closed_forms(loss):
  a = F_PRIME[loss]
  eig = lambda reg, s: _sorted(convergence.field_eigenvalues(
      convergence.dirac_game(loss, reg, s)))
  # Plain game: +-i f'(0), a pure rotation (sec. 2.2).
  np.testing.assert_allclose(eig('none', 0.0), _sorted([1j * a, -1j * a]),
                             atol=1e-6)
  # R1 with gamma: lambda^2 + gamma lambda + f'(0)^2 = 0 (Theorem 4.1's
  # -gamma/2 +- sqrt(gamma^2/4 - f'(0)^2)).
  gamma = 0.7
  np.testing.assert_allclose(eig('r1', gamma), _roots(gamma, a * a),
                             atol=1e-5)
  # Consensus: J - gamma J^T J = -gamma f'(0)^2 +- i f'(0).
  np.testing.assert_allclose(
      eig('consensus', gamma),
      _sorted([-gamma * a * a + 1j * a, -gamma * a * a - 1j * a]), atol=1e-5)
  # Instance noise: f''(0) s^2 +- sqrt(f''(0)^2 s^4 - f'(0)^2) (sec. 3.3),
  # s^2 the noise's second moment (here of the quantile nodes); f''(0) is
  # -1/4 for the BCE losses and 0 for the Wasserstein loss.
  sigma = 0.8
  s2 = float(np.mean(np.square(convergence.noise_nodes(sigma))))
  f2 = 0.0 if loss == 'wasserstein' else -0.25
  np.testing.assert_allclose(eig('instance_noise', sigma),
                             _roots(-2 * f2 * s2, a * a), atol=1e-5)


def test_bilinear_game_eigenvalues_are_the_singular_values():
  matrix = convergence.bilinear_matrix(3)
  eig = convergence.field_eigenvalues(convergence.bilinear_game(matrix))
  singular = np.linalg.svd(matrix, compute_uv=False)
  np.testing.assert_allclose(eig.real, 0.0, atol=1e-6)
  np.testing.assert_allclose(np.sort(np.abs(eig.imag)),
                             np.sort(np.repeat(singular, 2)), atol=1e-5)
  with pytest.raises(ValueError, match='only none or consensus'):
    convergence.bilinear_game(matrix, 'r1', 1.0)


def test_update_spectral_radii_equal_the_linear_analysis():
  # The linearisation is a rotation at speed a: simultaneous steps have
  # |1 + i h a| > 1, alternating steps a matrix of determinant 1 (|eig| = 1
  # for h a < 2), extragradient |1 + i h a - h^2 a^2| < 1.
  h = 0.1
  for loss, a in F_PRIME.items():
    game = convergence.dirac_game(loss)
    radius = lambda u, g=game: convergence.update_spectral_radius(g, u, h)
    np.testing.assert_allclose(radius('simultaneous'),
                               np.sqrt(1 + (h * a) ** 2), rtol=1e-6)
    np.testing.assert_allclose(radius('alternating'), 1.0, rtol=1e-6)
    np.testing.assert_allclose(
        radius('extragradient'),
        np.sqrt((1 - (h * a) ** 2) ** 2 + (h * a) ** 2), rtol=1e-6)
    assert radius('optimistic') < 1.0


@pytest.mark.parametrize('loss,regularizer,update,expected', [
    ('wasserstein', 'none', 'simultaneous', 'diverges'),
    ('wasserstein', 'none', 'alternating', 'circles'),
    ('minimax', 'none', 'extragradient', 'converges slowly'),
    ('non_saturating', 'r1', 'simultaneous', 'converges'),
    ('minimax', 'instance_noise', 'alternating', 'converges'),
    # A loss linear at 0 gets nothing from instance noise.
    ('wasserstein', 'instance_noise', 'simultaneous', 'diverges'),
    ('wasserstein', 'consensus', 'optimistic', 'converges'),
    ('wasserstein', 'gradient_penalty', 'alternating', 'circles'),
])
def test_trajectories_behave_as_the_analysis_says(loss, regularizer, update,
                                                  expected):
  strength = {'none': 0.0, 'r1': 1.0, 'instance_noise': 1.0,
              'consensus': 1.0, 'gradient_penalty': 1.0}[regularizer]
  game = convergence.dirac_game(loss, regularizer, strength)
  row, zs = convergence.evaluate(game, regularizer, update, 0.1, [1.0, 1.0],
                                 3000, loss)
  assert zs.shape == (3001, 2)
  assert row['measured'] == expected, row
  assert row['agrees'], row


def test_verdicts_and_agreement():
  steps = np.arange(400)
  assert convergence.verdict(np.exp(-steps / 20.0)) == 'converges'
  assert convergence.verdict(np.exp(-steps / 150.0)) == 'converges slowly'
  assert convergence.verdict(1 + 0.1 * np.sin(steps / 5.0)) == 'circles'
  assert convergence.verdict(np.exp(steps / 100.0)) == 'diverges'
  assert convergence.verdict(np.array([1.0, 1.5, np.nan])) == 'diverges'
  assert convergence.agrees('circles', 'does not converge')
  assert not convergence.agrees('converges slowly', 'does not converge')
  assert convergence.agrees('converges slowly', 'converges')
  assert not convergence.agrees('circles', 'converges')
  assert convergence.analysis('instance_noise', 'simultaneous',
                              'hinge') == 'does not converge'
  with pytest.raises(ValueError, match='unknown regularizer'):
    convergence.dirac_game('minimax', 'dropout')


def test_the_command_writes_its_table_and_figures(tmp_path):
  subprocess.run(
      [sys.executable, '-m', 'jaxgan.benchmarks.convergence',
       f'--out={tmp_path}', '--losses=wasserstein', '--regularizers=none,r1',
       '--updates=simultaneous,alternating', '--steps=600',
       '--bilinear_dim=2'], check=True, capture_output=True)
  rows = json.loads((tmp_path / 'table.json').read_text())
  assert [(r['game'], r['regularizer'], r['update']) for r in rows] == [
      ('dirac/wasserstein', 'none', 'simultaneous'),
      ('dirac/wasserstein', 'none', 'alternating'),
      ('dirac/wasserstein', 'r1', 'simultaneous'),
      ('dirac/wasserstein', 'r1', 'alternating'),
      ('bilinear2', 'none', 'simultaneous'),
      ('bilinear2', 'none', 'alternating')]
  assert all(r['agrees'] for r in rows), rows
  assert (tmp_path / 'dirac.png').stat().st_size > 10_000
  assert (tmp_path / 'bilinear.png').stat().st_size > 5_000
  assert '| dirac/wasserstein | r1 | simultaneous |' in (
      tmp_path / 'table.md').read_text()
