"""Reads PyTorch weight files into NumPy arrays, without PyTorch.

Evaluation needs the weights of networks published as PyTorch files (FID's
Inception), but torch must not be a dependency at evaluation time. Three
layouts occur, all pickles whose tensors point at raw storages:

* a zip archive from `torch.save` (PyTorch >= 1.6): `ARCHIVE/data.pkl` plus one
  file per storage, `ARCHIVE/data/KEY`;
* the same zip layout written by `torch.jit.save` (TorchScript), where the
  pickle holds module objects whose attributes are the tensors;
* the legacy `torch.save` stream (PyTorch < 1.6): a magic number, a protocol
  and a system-info pickle, the main pickle, the list of storage keys, then
  each storage as an 8-byte element count followed by its bytes.

`load(path)` returns a flat `{dotted.name: np.ndarray}` for any of them.
"""

import collections
import io
import pickle
import zipfile

import numpy as np

_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c

_STORAGE_DTYPES = {
    'FloatStorage': np.float32, 'DoubleStorage': np.float64,
    'HalfStorage': np.float16, 'BFloat16Storage': None,
    'LongStorage': np.int64, 'IntStorage': np.int32,
    'ShortStorage': np.int16, 'CharStorage': np.int8,
    'ByteStorage': np.uint8, 'BoolStorage': np.bool_,
}


class _StorageType:

  def __init__(self, name):
    self.name = name
    self.dtype = _STORAGE_DTYPES.get(name)
    if self.dtype is None:
      raise ValueError(f'Unsupported torch storage type {name}.')


class _Module:
  """Stands in for any pickled class (TorchScript modules, torch.nn modules)."""

  def __init__(self, *args, **kwargs):
    del args, kwargs
    self.state = {}

  def __setstate__(self, state):
    self.state = state if isinstance(state, dict) else {'state': state}


class _Storage:
  """A storage named in the pickle; legacy files store its bytes after it."""

  def __init__(self, key, dtype):
    self.key, self.dtype = key, dtype


class _Tensor:

  def __init__(self, storage, offset, size, stride):
    self.storage, self.offset = storage, offset
    self.size, self.stride = tuple(size), tuple(stride)

  def numpy(self, storages) -> np.ndarray:
    data = storages[self.storage.key]
    if not self.size:
      return data[self.offset].copy()
    return np.lib.stride_tricks.as_strided(
        data[self.offset:], shape=self.size,
        strides=tuple(s * data.itemsize for s in self.stride)).copy()


def _rebuild_tensor(storage, storage_offset, size, stride, *unused_args):
  return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *unused_args):
  return data


class _Unpickler(pickle.Unpickler):

  def find_class(self, module, name):
    if module == 'torch._utils' and name == '_rebuild_tensor_v2':
      return _rebuild_tensor
    if module == 'torch._utils' and name == '_rebuild_parameter':
      return _rebuild_parameter
    if module == 'torch' and name.endswith('Storage'):
      return _StorageType(name)
    if module == 'collections' and name == 'OrderedDict':
      return collections.OrderedDict
    return type(name, (_Module,), {})

  def persistent_load(self, pid):
    if pid[0] != 'storage':
      raise pickle.UnpicklingError(f'Unknown persistent id {pid!r}.')
    return _Storage(pid[2], pid[1].dtype)


def _tensors(obj, prefix='', out=None) -> dict[str, _Tensor]:
  """Flattens modules and (ordered) dicts to `{dotted.name: tensor}`."""
  out = {} if out is None else out
  if isinstance(obj, _Tensor):
    out[prefix] = obj
  elif isinstance(obj, dict):
    for name, value in obj.items():
      if isinstance(name, str) and not name.startswith('_'):
        _tensors(value, f'{prefix}.{name}' if prefix else name, out)
  elif isinstance(obj, _Module):
    _tensors(obj.state, prefix, out)
  return out


def _load_zip(archive: zipfile.ZipFile) -> dict[str, np.ndarray]:
  pickles = [n for n in archive.namelist() if n.endswith('/data.pkl')]
  if len(pickles) != 1:
    raise ValueError('Not a PyTorch zip checkpoint: expected one data.pkl, '
                     f'found {len(pickles)}.')
  root = pickles[0][:-len('data.pkl')]
  tensors = _tensors(_Unpickler(io.BytesIO(archive.read(pickles[0]))).load())
  storages = {}
  for tensor in tensors.values():
    key = tensor.storage.key
    if key not in storages:
      storages[key] = np.frombuffer(archive.read(f'{root}data/{key}'),
                                    dtype=tensor.storage.dtype)
  return {name: tensor.numpy(storages) for name, tensor in tensors.items()}


def _load_legacy(file) -> dict[str, np.ndarray]:
  try:
    magic = pickle.load(file)
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError('Not a PyTorch weight file (neither a zip archive nor a '
                     'legacy torch.save stream).') from e
  if magic != _LEGACY_MAGIC:
    raise ValueError('Not a PyTorch weight file: wrong magic number.')
  pickle.load(file)  # Protocol version.
  pickle.load(file)  # System info (endianness, type sizes).
  tensors = _tensors(_Unpickler(file).load())
  dtypes = {t.storage.key: t.storage.dtype for t in tensors.values()}
  storages = {}
  for key in pickle.load(file):
    count = int(np.frombuffer(file.read(8), dtype='<i8')[0])
    dtype = np.dtype(dtypes.get(key, np.uint8))
    storages[key] = np.frombuffer(file.read(count * dtype.itemsize), dtype)
  return {name: tensor.numpy(storages) for name, tensor in tensors.items()}


def load(path) -> dict[str, np.ndarray]:
  """Returns `{dotted.name: array}` for a torch.save or torch.jit.save file."""
  with open(path, 'rb') as file:
    if zipfile.is_zipfile(file):
      file.seek(0)
      with zipfile.ZipFile(file) as archive:
        return _load_zip(archive)
    file.seek(0)
    return _load_legacy(file)
