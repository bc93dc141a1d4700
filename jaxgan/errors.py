"""Errors a user can fix, as one kind, so programs can show them plainly.

A `UserError` is raised for a problem in what the user gave (a config value,
a path, a workdir, a checkpoint of another model) and its message names the
problem and the fix. `jaxgan.cli.run` prints it as one or two lines without a
traceback; any other exception is a bug and keeps its traceback.
"""


class UserError(Exception):
  """A problem in the user's input; the message says how to fix it."""


class ConfigError(UserError, ValueError):
  """A config or command-line value that cannot work."""


class MissingFileError(UserError, FileNotFoundError):
  """A file or folder the user named (or a command needs) is not there."""


class WorkdirError(UserError):
  """The workdir cannot be used as it is: busy, a file, or holding history
  that a fresh start would overwrite."""
