"""One small tree of errors; each message says what to do."""


class MicrodialError(Exception):
    """Base of every error microdial reports to the user in one line."""


class ConfigError(MicrodialError):
    pass


class TransportError(MicrodialError):
    """A dial's byte transport failed (port missing, unplugged, permission)."""


class TransportUnavailable(TransportError):
    """A backend cannot run on this machine (module or device support missing)."""


class BrokerUnreachable(MicrodialError):
    pass


class RecordingError(MicrodialError):
    """The recorder cannot write (full disk, permissions); what was written stays intact."""
