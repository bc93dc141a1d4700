"""Data: tfds via manual_dir, folders, mixtures, embedded MNIST, batching."""

import hashlib
import tarfile
import time

import numpy as np
from PIL import Image
import pytest

from configs import dcgan
from jaxgan import input_pipeline as ip


def test_tfds_mnist_from_manual_dir(tfds_dir):
  ds = ip.tfds_dataset('mnist', 'train', str(tfds_dir))
  assert ds.num_examples == 60000 and ds.sample_shape == (28, 28, 1)
  assert ds.num_classes == 10
  x, labels = ds.fetch(np.arange(60000))
  assert x.dtype == np.uint8 and x.max() == 255 and x.min() == 0
  # The class counts of the official MNIST training set.
  assert np.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421,
                                          5918, 6265, 5851, 5949]


def test_tfds_fashion_mnist_is_fashion_and_resizes(tfds_dir):
  ds = ip.tfds_dataset('fashion_mnist', 'train', str(tfds_dir))
  x, labels = ds.fetch(np.arange(60000))
  # Fashion-MNIST: 6,000 images per class and a mean pixel of about 72.9
  # (MNIST's is 33.3) -- not MNIST's files under another name.
  assert np.bincount(labels).tolist() == [6000] * 10
  assert 70 < x.mean() < 76
  ds = ip.tfds_dataset('fashion_mnist', 'train', str(tfds_dir),
                       image_size=(32, 32))
  assert ds.fetch([0, 1])[0].shape == (2, 32, 32, 1)


def test_offline_download_fails_fast_and_suggests_manual_dir(tmp_path,
                                                             monkeypatch):
  monkeypatch.setattr(ip, '_network_reachable', lambda url: False)
  start = time.time()
  with pytest.raises(ip.DataError, match='manual_dir') as e:
    ip.tfds_dataset('fashion_mnist', 'train', str(tmp_path))
  assert time.time() - start < 10
  assert 'train-images-idx3-ubyte.gz' in str(e.value)


def test_unreachable_host_is_detected_quickly():
  start = time.time()
  assert not ip._network_reachable('http://127.0.0.1:1/x')
  assert time.time() - start < 5


def test_missing_manual_dir_is_named(tmp_path):
  with pytest.raises(ip.DataError, match='does not exist'):
    ip.tfds_dataset('mnist', 'train', str(tmp_path / 'tfds'),
                    str(tmp_path / 'nowhere'))


def test_unknown_dataset_name():
  config = dcgan.get_config('no_such_dataset_xyz')
  with pytest.raises(ip.DataError, match='unknown dataset'):
    ip.create_dataset(config)


def test_mnist_falls_back_to_embedded_test_split(tmp_path, monkeypatch):
  monkeypatch.setattr(ip, '_network_reachable', lambda url: False)
  config = dcgan.get_config()
  config.data.data_dir = str(tmp_path)
  ds = ip.create_dataset(config)
  assert 'embedded' in ds.name and ds.num_examples == 10000
  # The shipped files are the official ones.
  digests = {p.name: hashlib.md5(p.read_bytes()).hexdigest()
             for p in ip.EMBEDDED_MNIST.glob('*.gz')}
  assert digests['t10k-images-idx3-ubyte.gz'] == '9fb629c4189551a2d022fa330f9573f3'
  assert digests['t10k-labels-idx1-ubyte.gz'] == 'ec29112dd5afa0611ce80d1b7f02629c'
  _, labels = ds.fetch(np.arange(10000))
  assert np.bincount(labels).min() > 800  # All ten digits, roughly balanced.


@pytest.fixture(scope='module')
def orl_dir(shared_data, tmp_path_factory):
  out = tmp_path_factory.mktemp('orl')
  with tarfile.open(shared_data / 'orl-faces' / 'att_faces.tar.gz') as tar:
    tar.extractall(out, filter='data')
  return out


def test_folder_of_pgm_faces(orl_dir):
  ds = ip.folder_dataset(orl_dir, image_size=(112, 92))
  assert ds.num_examples == 400 and ds.sample_shape == (112, 92, 1)
  ds = ip.folder_dataset(orl_dir, image_size=(100, 100),
                         labels_from_subfolders=True)
  assert ds.sample_shape == (100, 100, 1)
  _, labels = ds.fetch(np.arange(400))
  # ORL's faces are not in a class folder at the top (att_faces/sN/M.pgm):
  # the first sub-folder is att_faces, one class.
  assert ds.num_classes >= 1 and labels.min() >= 0


def test_folder_of_cifar10_pngs_with_classes(shared_data, tmp_path):
  archive = shared_data / 'cifar10' / 'cifar10-png-test.tar.gz'
  with tarfile.open(archive) as tar:
    per_class = {}
    members = []
    for m in tar:
      parts = m.name.split('/')
      if m.isfile() and m.name.endswith('.png') and len(parts) >= 2:
        cls = parts[-2]
        if per_class.get(cls, 0) < 20:
          per_class[cls] = per_class.get(cls, 0) + 1
          members.append(m)
      if len(per_class) == 10 and all(v >= 20 for v in per_class.values()):
        break
    tar.extractall(tmp_path, members=members, filter='data')
  root = next(p.parent.parent for p in tmp_path.rglob('*.png'))
  ds = ip.folder_dataset(root, image_size=(32, 32), labels_from_subfolders=True)
  assert ds.num_examples == 200 and ds.num_classes == 10
  x, labels = ds.fetch(np.arange(200))
  assert x.shape == (200, 32, 32, 3) and np.bincount(labels).tolist() == [20] * 10
  assert 100 < x.mean() < 150  # CIFAR-10's mean pixel is about 120.


def test_folder_errors(tmp_path):
  with pytest.raises(ip.DataError, match='does not exist'):
    ip.folder_dataset(tmp_path / 'missing')
  (tmp_path / 'empty').mkdir()
  with pytest.raises(ip.DataError, match='holds no images'):
    ip.folder_dataset(tmp_path / 'empty')
  bad = tmp_path / 'bad'
  bad.mkdir()
  (bad / 'a.png').write_bytes(b'not a png at all')
  with pytest.raises(ip.DataError, match='none of the 1 image files'):
    ip.folder_dataset(bad)


def test_unreadable_images_are_skipped_and_counted(tmp_path, caplog):
  for i in range(3):
    Image.fromarray(np.full((10, 12), i * 50, np.uint8)).save(tmp_path / f'{i}.png')
  (tmp_path / 'broken.jpg').write_bytes(b'\xff\xd8 truncated')
  ds = ip.folder_dataset(tmp_path, image_size=(8, 8))
  assert ds.num_examples == 3 and ds.sample_shape == (8, 8, 1)
  assert 'Skipped 1 unreadable' in caplog.text


def test_resize_and_crop_keeps_the_centre():
  image = np.zeros((20, 40, 1), np.uint8)
  image[:, 10:30] = 255  # A bright centre square, dark sides.
  out = ip.resize_and_crop(image, (10, 10))
  assert out.shape == (10, 10, 1) and out.min() > 200


@pytest.mark.parametrize('name,count,std,radius', [('ring8', 8, 0.01, 1.0),
                                                   ('grid25', 25, 0.05, None)])
def test_mixtures(name, count, std, radius):
  modes, s = ip.mixture_modes(name)
  assert len(modes) == count and s == std
  assert len(np.unique(np.round(modes, 6), axis=0)) == count  # No duplicates.
  if radius:
    np.testing.assert_allclose(np.linalg.norm(modes, axis=1), radius)
  else:
    assert set(np.unique(modes)) == {-4.0, -2.0, 0.0, 2.0, 4.0}
  ds = ip._mixture_dataset(name, seed=0)
  x, labels = ds.fetch(np.arange(5000))
  assert x.dtype == np.float32 and x.shape == (5000, 2)
  assert np.bincount(labels, minlength=count).min() > 5000 / count * 0.6
  residual = x - modes[labels]
  np.testing.assert_allclose(residual.std(), std, rtol=0.1)


def test_batches_are_a_function_of_the_step_and_cover_epochs():
  n = 50
  seen = np.concatenate([ip.example_indices(3, s, (2, 5), n).ravel()
                         for s in range(5)])
  assert sorted(seen) == list(range(n))  # One epoch: every example once.
  np.testing.assert_array_equal(ip.example_indices(3, 7, (2, 5), n),
                                ip.example_indices(3, 7, (2, 5), n))
  assert not np.array_equal(ip.example_indices(3, 5, (2, 5), n).ravel(),
                            seen[:10])  # The next epoch is reshuffled.


def test_each_process_gets_its_slice_of_the_global_batch():
  ds = ip.embedded_mnist()
  full = ip.process_batch(ds, 0, 4, 3, 8)
  parts = [ip.process_batch(ds, 0, 4, 3, 8, i, 2) for i in range(2)]
  assert parts[0]['image'].shape == (3, 4, 28, 28, 1)
  np.testing.assert_array_equal(
      np.concatenate([p['image'] for p in parts], axis=1), full['image'])
