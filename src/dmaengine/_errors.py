"""Exceptions. Each carries ``errno``, the Linux errno it stands for."""

from __future__ import annotations

import errno as _errno

__all__ = [
    "BusyError",
    "ConfigError",
    "DmaError",
    "MappingError",
    "NoChannelError",
    "NotSupportedError",
    "StateError",
]


class DmaError(Exception):
    """Base of every dmaengine error."""

    errno: int = _errno.EIO


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
