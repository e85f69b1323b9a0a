"""microdial dial firmware: small parts composed by dialfw.app (see firmware/README.md)."""

VERSION = "0.2.0"
