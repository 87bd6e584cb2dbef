"""Exceptions. Each carries ``errno``, the Linux errno it stands for."""

from __future__ import annotations

import errno as _errno

__all__ = [
    "ENOTSUPP",
    "BusyError",
    "ConfigError",
    "DmaError",
    "MappingError",
    "NoChannelError",
    "NotSupportedError",
    "StateError",
]


#: The kernel-internal errno ``ENOTSUPP`` (524), which the metadata calls of dmaengine.c return; Python's ``errno``
#: module does not name it (its ``ENOTSUP`` is the user-space 95).
ENOTSUPP = 524


class DmaError(Exception):
    """Base of every dmaengine error. ``errno`` is the class's unless the raiser gives another (``errno=``), as
    for the kernel calls that answer ``-ENOSYS`` or ``-ENOTSUPP``."""

    errno: int = _errno.EIO

    def __init__(self, *args: object, errno: int | None = None) -> None:
        super().__init__(*args)
        if errno is not None:
            self.errno = errno


class NoChannelError(DmaError, LookupError):
    """No channel matches the request (ENODEV)."""

    errno = _errno.ENODEV


class ConfigError(DmaError, ValueError):
    """A bad argument or configuration (EINVAL); the message names the bad value."""

    errno = _errno.EINVAL


class NotSupportedError(DmaError):
    """The channel's device lacks the operation or capability (ENXIO)."""

    errno = _errno.ENXIO


class BusyError(DmaError):
    """The resource is in use (EBUSY)."""

    errno = _errno.EBUSY


class StateError(DmaError):
    """The call is not valid now (EPERM)."""

    errno = _errno.EPERM


class MappingError(DmaError):
    """A buffer cannot be mapped, or an unmap of something not mapped (EFAULT)."""

    errno = _errno.EFAULT
