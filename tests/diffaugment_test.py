"""DiffAugment (jaxgan/diffaugment.py) against a NumPy transcription of the
authors' DiffAugment_pytorch.py, its gradients, and its place in the noise
GAN's updates."""

import jax
from jax import test_util
import jax.numpy as jnp
import numpy as np
import pytest

from configs import dcgan, gan_mlp
from jaxgan import diffaugment
from jaxgan import errors
from jaxgan.families import gan as gan_family


def _images(shape=(4, 12, 10, 3), seed=0):
  return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def _numpy_op(op, x, p):
  """The authors' ops on NHWC arrays with the same random draws."""
  x = x.copy()
  b, h, w, _ = x.shape
  if op == 'color':
    x = x + (np.asarray(p['brightness']) - 0.5)
    m = x.mean(axis=3, keepdims=True)
    x = (x - m) * (np.asarray(p['saturation']) * 2) + m
    m = x.mean(axis=(1, 2, 3), keepdims=True)
    return (x - m) * (np.asarray(p['contrast']) + 0.5) + m
  if op == 'translation':
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.empty_like(x)
    for n in range(b):
      gi = np.clip(np.arange(h) + int(p['dy'][n]) + 1, 0, h + 1)
      gj = np.clip(np.arange(w) + int(p['dx'][n]) + 1, 0, w + 1)
      out[n] = padded[n][gi][:, gj]
    return out
  if op == 'cutout':
    ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
    mask = np.ones((b, h, w), np.float32)
    for n in range(b):
      gi = np.clip(np.arange(ch) + int(p['cy'][n]) - ch // 2, 0, h - 1)
      gj = np.clip(np.arange(cw) + int(p['cx'][n]) - cw // 2, 0, w - 1)
      mask[n][np.ix_(gi, gj)] = 0
    return x * mask[..., None]
  raise ValueError(op)


@pytest.mark.parametrize('op', diffaugment.OPS)
def test_ops_equal_the_authors_on_the_same_draws(op):
  x = _images()
  for seed in range(5):
    params = diffaugment.draw(op, jax.random.key(seed), x.shape)
    np.testing.assert_allclose(
        np.asarray(diffaugment.apply(op, jnp.asarray(x), params)),
        _numpy_op(op, x, jax.device_get(params)), rtol=1e-5, atol=1e-6)


def test_draws_span_the_authors_ranges():
  shape = (4096, 32, 32, 3)
  t = diffaugment.draw('translation', jax.random.key(0), shape)
  assert int(t['dy'].min()) == -4 and int(t['dy'].max()) == 4
  c = diffaugment.draw('cutout', jax.random.key(1), shape)
  # Cutout 16 (even): centres in [0, 33).
  assert int(c['cy'].min()) == 0 and int(c['cy'].max()) == 32
  x = jnp.ones((64, 32, 32, 1))
  cut = diffaugment.apply('cutout', x, diffaugment.draw(
      'cutout', jax.random.key(2), x.shape))
  zeros = np.asarray((cut == 0).sum(axis=(1, 2, 3)))
  assert zeros.max() == 16 * 16 and zeros.min() >= 8 * 8


def test_what_must_not_change_does_not():
  x = jnp.asarray(_images())
  # No shift: the image itself.
  zero = {'dy': jnp.zeros(4, jnp.int32), 'dx': jnp.zeros(4, jnp.int32)}
  np.testing.assert_array_equal(diffaugment.apply('translation', x, zero), x)
  # A shift moves pixels unchanged: output (i, j) is input (i + 2, j - 1).
  shift = {'dy': jnp.full(4, 2), 'dx': jnp.full(4, -1)}
  moved = np.asarray(diffaugment.apply('translation', x, shift))
  np.testing.assert_array_equal(moved[:, :-2, 1:], np.asarray(x)[:, 2:, :-1])
  assert not moved[:, -2:].any() and not moved[:, :, :1].any()
  # Cutout keeps every pixel it does not zero.
  cut = np.asarray(diffaugment.augment(x, jax.random.key(3), ('cutout',)))
  kept = cut != 0
  np.testing.assert_array_equal(cut[kept], np.asarray(x)[kept])
  # Colour: a grey image keeps equal channels (saturation acts on the
  # difference from the channel mean), and one image's draw touches only it.
  grey = jnp.repeat(x[..., :1], 3, axis=-1)
  out = np.asarray(diffaugment.augment(grey, jax.random.key(4), ('color',)))
  np.testing.assert_allclose(out[..., 0], out[..., 2], atol=1e-6)
  params = diffaugment.draw('color', jax.random.key(5), x.shape)
  one = diffaugment.apply('color', x[:1], jax.tree.map(lambda p: p[:1],
                                                       params))
  np.testing.assert_allclose(diffaugment.apply('color', x, params)[:1], one,
                             rtol=1e-6)


def test_augment_is_differentiable():
  x = jnp.asarray(_images((2, 8, 8, 3)))
  f = lambda v: diffaugment.augment(v, jax.random.key(0), diffaugment.OPS)
  test_util.check_grads(f, (x,), order=1, modes=('rev',), atol=1e-2,
                        rtol=1e-2)
  grad = jax.grad(lambda v: jnp.sum(f(v) ** 2))(x)
  assert np.abs(np.asarray(grad)).sum() > 0


def test_parse_and_bad_policies():
  assert diffaugment.parse('') == ()
  assert diffaugment.parse('color, cutout') == ('color', 'cutout')
  with pytest.raises(ValueError, match='unknown DiffAugment'):
    diffaugment.parse('color,flip')
  config = dcgan.get_config()
  config.train.diffaugment = 'color,flip'
  with pytest.raises(errors.ConfigError, match='config.train.diffaugment'):
    gan_family.GAN(config, (16, 16, 1))
  config = gan_mlp.get_config('ring8')
  config.train.diffaugment = 'translation'
  with pytest.raises(errors.ConfigError, match='transforms images'):
    gan_family.GAN(config, (2,))


def test_gan_updates_see_augmented_images():
  def make(policy):
    config = dcgan.get_config()
    config.model.d_features = config.model.g_features = 8
    config.train.batch_size = 4
    config.train.diffaugment = policy
    return gan_family.GAN(config, (16, 16, 1))
  plain, augmented = make(''), make('translation,cutout')
  state = jax.jit(plain.init)(jax.random.key(0))
  real = jnp.asarray(_images((4, 16, 16, 1)))
  fake = jnp.asarray(_images((4, 16, 16, 1), seed=1))

  def critic_loss(gan):
    return jax.jit(lambda: gan.critic_loss(state.d_params, state.d_state,
                                           real, None, fake, {},
                                           jax.random.key(7))[0])()
  assert abs(float(critic_loss(plain)) - float(critic_loss(augmented))) > 1e-4
  # The iteration trains through the transforms: G's gradient is not zero.
  batches = jnp.asarray(_images((1, 4, 16, 16, 1)) * 127.5 + 127.5,
                        jnp.uint8)
  _, metrics = jax.jit(augmented.iteration)(state, batches)
  assert float(metrics['g_grad_norm']) > 0 and bool(metrics['finite'])


# What each family hands to DiffAugment in one iteration: (batches
# transformed together) per call. pix2pix: (source, real) and (source, fake)
# in D's update, (source, fake) in G's; CycleGAN: each D's fakes in G's
# update, its reals and pooled fakes in D's; ProGAN: reals and fakes in D's,
# fakes in G's.
EXPECTED_CALLS = {'paired': [2, 2, 2], 'unpaired': [1] * 6,
                  'progressive': [1, 1, 1]}


@pytest.mark.parametrize('family_name', sorted(EXPECTED_CALLS))
def test_every_image_family_augments_what_its_discriminators_see(
    tmp_path, monkeypatch, family_name):
  """Traced, not compiled: which batches each update hands to DiffAugment,
  all of the discriminator's inputs with the same batch shape."""
  import cyclegan_test  # pylint: disable=g-import-not-at-top
  import paired_test  # pylint: disable=g-import-not-at-top
  import progressive_test  # pylint: disable=g-import-not-at-top
  from configs import pix2pix  # pylint: disable=g-import-not-at-top
  from jaxgan import families  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top

  data_dir = tmp_path / 'data'
  if family_name == 'paired':
    paired_test.write_aligned(data_dir / 'train', n=4, size=40)
    config = paired_test.tiny(pix2pix.get_config('aligned'), data_dir)
  elif family_name == 'unpaired':
    cyclegan_test.write_domains(data_dir)
    config = cyclegan_test.tiny(data_dir, steps=1)
  else:
    data_dir.mkdir()
    rng = np.random.default_rng(0)
    for i in range(16):
      Image.fromarray(rng.integers(0, 256, (16, 16, 3), np.uint8)).save(
          data_dir / f'{i:02d}.png')
    config = progressive_test._config(data_dir)  # pylint: disable=protected-access

  calls = []
  original = diffaugment.augment_together

  def spy(images, key, ops):
    calls.append([x.shape for x in images])
    return original(images, key, ops)

  monkeypatch.setattr(diffaugment, 'augment_together', spy)
  for policy, want in (('', []),
                       ('color,translation,cutout',
                        EXPECTED_CALLS[family_name])):
    config.train.diffaugment = policy
    family_cls = families.get(config.family)
    data = family_cls.create_data(config)
    family_cls.resolve(config, data)
    family = family_cls(config, data.spec)
    state = jax.eval_shape(family.init, jax.random.key(0))
    batch = next(iter(family.batches(data, 0)))
    phase = family.phase(0)
    update = (family.update if phase is None else
              lambda s, b, f=family, p=phase: f.update(s, b, p))
    calls.clear()
    _, metrics = jax.eval_shape(update, state, batch)
    assert [len(c) for c in calls] == want, (policy, calls)
    for shapes in calls:  # Same batch and size within a call.
      assert len({s[:3] for s in shapes}) == 1
    assert 'd_real_acc' in metrics and 'diversity' in metrics


def test_the_series_family_has_no_diffaugment():
  from jaxgan import config_lib  # pylint: disable=g-import-not-at-top
  assert 'diffaugment' not in config_lib.default_config('series').train
