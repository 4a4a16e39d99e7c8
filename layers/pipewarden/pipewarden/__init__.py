"""pipewarden: the runtime library shared by every controller function (shipped as a Lambda layer)."""

__version__ = "0.1.0"
