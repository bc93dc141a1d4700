"""Unpaired data: two folders (or two class sub-folders, or a tfds
cycle_gan dataset's splits) as the domains, each in its own order of
(seed, step), and clear errors for bad folders."""

import ml_collections
import numpy as np
from PIL import Image
import pytest

from jaxgan import input_pipeline
from jaxgan.families.unpaired import data as unpaired_data


def write_domain(folder, n, value, grey=False, size=12):
  folder.mkdir(parents=True, exist_ok=True)
  for i in range(n):
    # Image i of a domain: `value` in channel 0, its index in channel 1.
    image = np.zeros((size, size, 3), np.uint8)
    image[..., 0], image[..., 1] = value, i
    Image.fromarray(image[..., 1] if grey else image).save(
        folder / f'{i:03d}.png')


def config_for(root, **data):
  return ml_collections.ConfigDict({
      'seed': 3,
      'train': {'batch_size': 2},
      'data': {'name': 'unaligned', 'manual_dir': None,
               'data_dir': str(root), 'train_dirs': ('trainA', 'trainB'),
               'eval_dirs': ('testA', 'testB'), 'channels': None,
               'preprocess': 'resize_and_crop', 'load_size': 12,
               'crop_size': 8, 'flip': True, **data}})


def test_each_domain_visits_every_image_once_an_epoch_in_its_own_order(
    tmp_path):
  write_domain(tmp_path / 'trainA', 6, 50)
  write_domain(tmp_path / 'trainB', 4, 200)
  write_domain(tmp_path / 'testA', 3, 50)
  write_domain(tmp_path / 'testB', 2, 200)
  data = unpaired_data.UnpairedData(config_for(tmp_path))
  assert data.sizes == {'A': 6, 'B': 4} and data.num_examples == 6
  assert data.spec == {'A': (8, 8, 3), 'B': (8, 8, 3), 'num_examples': 6}
  seen = {'A': [], 'B': []}
  for step in range(6):  # 12 images a domain: 2 epochs of A, 3 of B.
    batch = data.batch(step)
    for domain, value in (('A', 50), ('B', 200)):
      assert batch[domain].shape == (2, 8, 8, 3)
      assert np.all(batch[domain][..., 0] == value)
      seen[domain] += [int(i) for i in batch[domain][:, 0, 0, 1]]
  for domain, n in (('A', 6), ('B', 4)):
    for epoch in range(12 // n):
      assert sorted(seen[domain][epoch * n:(epoch + 1) * n]) == list(range(n))
  # Two orders, not one shifted: B's first four are not A's first four.
  assert seen['A'][:4] != seen['B'][:4]
  # A function of (seed, step): a fresh reader (a resumed run) gives the
  # same batches; another seed another order.
  again = unpaired_data.UnpairedData(config_for(tmp_path))
  for step in (0, 4, 5):
    for domain in ('A', 'B'):
      np.testing.assert_array_equal(again.batch(step)[domain],
                                    data.batch(step)[domain])
  other = config_for(tmp_path)
  other.seed = 4
  other = unpaired_data.UnpairedData(other)
  assert any(not np.array_equal(other.batch(s)['A'], data.batch(s)['A'])
             for s in range(3))
  # The process's rows of the global batch.
  assert data.batch(1, 1, 2)['B'].shape == (1, 8, 8, 3)
  np.testing.assert_array_equal(data.batch(1, 1, 2)['B'],
                                data.batch(1)['B'][1:])
  evaluation = data.eval_images()
  assert evaluation['A'].shape == (3, 8, 8, 3)
  assert evaluation['B'].shape == (2, 8, 8, 3)


def test_class_folders_as_domains_and_bad_folders_are_clear(tmp_path):
  write_domain(tmp_path / 'train' / 'cat', 3, 10)
  write_domain(tmp_path / 'train' / 'dog', 3, 20)
  data = unpaired_data.UnpairedData(config_for(
      tmp_path, train_dirs=('train/cat', 'train/dog'), eval_dirs=()))
  assert data.sizes == {'A': 3, 'B': 3}
  with pytest.raises(input_pipeline.DataError, match='eval_dirs'):
    data.eval_images()
  with pytest.raises(input_pipeline.DataError, match='train_dirs'):
    unpaired_data.UnpairedData(config_for(
        tmp_path, train_dirs=('train/cat', 'train/horse')))
  (tmp_path / 'train' / 'empty').mkdir()
  with pytest.raises(input_pipeline.DataError, match='holds no images'):
    unpaired_data.UnpairedData(config_for(
        tmp_path, train_dirs=('train/cat', 'train/empty')))
  with pytest.raises(input_pipeline.DataError, match='data_dir'):
    unpaired_data.UnpairedData(config_for(''))
  # Grey against colour: an error naming config.data.channels; with
  # channels=3 the grey domain becomes three equal channels.
  write_domain(tmp_path / 'train' / 'grey', 3, 0, grey=True)
  dirs = {'train_dirs': ('train/cat', 'train/grey'), 'eval_dirs': ()}
  with pytest.raises(input_pipeline.DataError, match='channels=3'):
    unpaired_data.UnpairedData(config_for(tmp_path, **dirs))
  mixed = unpaired_data.UnpairedData(config_for(tmp_path, channels=3,
                                                **dirs))
  grey = mixed.batch(0)['B']
  assert grey.shape == (2, 8, 8, 3)
  assert np.all(grey[..., 0] == grey[..., 1])


def test_a_prepared_tfds_cycle_gan_dataset_gives_the_same_domains(tmp_path):
  """What a user with internet reads: tfds's cycle_gan builder, prepared
  here from the same folders (its download replaced by them, offline)."""
  tfds = pytest.importorskip('tensorflow_datasets')
  from tensorflow_datasets.image_classification import cycle_gan  # pylint: disable=g-import-not-at-top
  for folder, n, value in (('trainA', 5, 50), ('trainB', 3, 200),
                           ('testA', 2, 50), ('testB', 2, 200)):
    write_domain(tmp_path / 'zip' / 'horse2zebra' / folder, n, value)

  class LocalCycleGAN(cycle_gan.CycleGAN, skip_registration=True):
    name = 'cycle_gan'

    def _split_generators(self, dl_manager):
      root = tmp_path / 'zip' / 'horse2zebra'
      return {split: self._generate_examples(str(root / split), split[-1])
              for split in ('trainA', 'trainB', 'testA', 'testB')}

  LocalCycleGAN(config='horse2zebra', data_dir=str(tmp_path / 'tfds'),
                file_format='array_record').download_and_prepare()
  from_tfds = unpaired_data.UnpairedData(config_for(
      tmp_path / 'tfds', name='cycle_gan/horse2zebra'))
  from_folders = unpaired_data.UnpairedData(config_for(
      tmp_path / 'zip' / 'horse2zebra'))
  assert from_tfds.sizes == {'A': 5, 'B': 3}
  assert from_tfds.name == 'tfds:cycle_gan/horse2zebra'
  # The same images (tfds orders a split's files its own way).
  for domain in ('A', 'B'):
    for split in ('train', 'eval'):
      ours = getattr(from_folders, split)[domain]
      theirs = getattr(from_tfds, split)[domain]
      np.testing.assert_array_equal(np.sort(ours[..., 1, 1, 1]),
                                    np.sort(theirs[..., 1, 1, 1]))
      assert ours.shape == theirs.shape
  with pytest.raises(input_pipeline.DataError, match='unknown dataset'):
    unpaired_data.UnpairedData(config_for(tmp_path / 'tfds',
                                          name='cycle_gan_typo/x'))
