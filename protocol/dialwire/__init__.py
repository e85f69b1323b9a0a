"""The microdial serial wire format: one codec shared by the firmware and the host.

Written in the Python subset CircuitPython runs: no typing, no dataclasses, no
f-string conversions beyond what mpy-cross accepts, and bytes methods that
MicroPython's bytes type has. protocol/SPEC.md is the prose definition of what
this module does; protocol/vectors/ pins it down byte for byte.
"""

PROTOCOL_VERSION = 2

START = b"$"
CHECK = b"*"
END = b"\r\n"
# A longest legal record (an ERR with a full message) stays well under this;
# anything longer without a newline is garbage and is dropped while resyncing.
MAX_RECORD = 160

# Field layouts per record kind: "i" decimal integer (ASCII digits, optional "-"), "s" text
# without , * $ CR LF, "d" a device id (DEVICE_ID_CHARS, 1..MAX_DEVICE_ID long), "n" a boot
# nonce (BOOT_DIGITS upper-case hex digits).
# ID's layout follows its first field, the protocol version the dial speaks, so a host still
# reads dials running older firmware: version -> layout.
ID_LAYOUTS = {
    1: "isdsiii",  # protocol, firmware, device id, input, rate_hz, steps_per_detent, value
    2: "isdsiiin",  # ... and boot: one nonce per boot of the dial
}
# Device -> host kinds are upper case words; host -> device kinds too, but distinct.
SCHEMA = {
    # device -> host
    "ID": ID_LAYOUTS[PROTOCOL_VERSION],
    "S": "iii",  # seq, t_us, value
    "HB": "iii",  # t_us, last seq, value
    "BTN": "is",  # t_us, kind: down | up | mark | long
    "DIAG": "iiiiii",  # t_us, dropped records, dropped bytes, bad commands, loop max us, errors
    "PONG": "ii",  # token, t_us
    "ACK": "sss",  # command, ok | err, detail
    "ERR": "iss",  # t_us, code, message
    # host -> device
    "PING": "i",  # token
    "IDENT": "",
    "ZERO": "",
    "RATE": "i",  # samples per second
}

# The rating scale every dial reports and every host part reads: whole points.
VALUE_MIN = -50
VALUE_MAX = 50
SCALE_LABELS = {VALUE_MIN: "Weakest possible", 0: "Neutral", VALUE_MAX: "Strongest possible"}

SEQ_MODULO = 1 << 30  # small int on CircuitPython, so no allocation per increment

_FORBIDDEN = (",", "*", "$", "\r", "\n")
_HEX_DIGITS = "0123456789ABCDEF"
_DIGITS = "0123456789"
# A device id ends up in MQTT topics and file names on the host: no character there that a
# topic filter (+ #), a path (/ . ..) or a shell would read as syntax.
DEVICE_ID_CHARS = _DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"
MAX_DEVICE_ID = 32
BOOT_DIGITS = 8

try:
    from binascii import crc_hqx as _crc_hqx  # CPython: CRC-CCITT in C

    def crc16(data):
        """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of data."""
        return _crc_hqx(data, 0xFFFF)

except ImportError:  # CircuitPython's binascii has no crc_hqx
    _TABLE = []
    for _byte in range(256):
        _crc = _byte << 8
        for _ in range(8):
            _crc = ((_crc << 1) ^ 0x1021) if _crc & 0x8000 else (_crc << 1)
        _TABLE.append(_crc & 0xFFFF)

    def crc16(data):
        """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of data."""
        crc = 0xFFFF
        table = _TABLE
        for b in data:
            crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ b]
        return crc


class ProtocolError(ValueError):
    pass


def clean_text(text, limit=None):
    """Make text safe as a field: the framing characters become '_', anything else that is not
    printable ASCII '?', cut to limit characters (which are then also bytes)."""
    out = []
    for ch in str(text):
        if limit is not None and len(out) >= limit:
            break
        if ch in _FORBIDDEN:
            ch = "_"
        elif not " " <= ch <= "~":
            ch = "?"
        out.append(ch)
    return "".join(out)


def parse_int(text):
    """An integer field: ASCII digits with an optional leading '-', nothing else.

    int() alone would take "+5", " 5", "5_000" and any Unicode digit (Arabic-Indic three is 3),
    so a damaged or forged record could still pass as a number."""
    digits = text[1:] if text.startswith("-") else text
    if not digits:
        raise ProtocolError("integer field is empty")
    for ch in digits:
        if ch not in _DIGITS:
            raise ProtocolError("integer field has " + repr(ch))
    return int(text)


def check_device_id(text):
    """text if it is a valid device id (protocol/SPEC.md 1.3), else ProtocolError."""
    if not 1 <= len(text) <= MAX_DEVICE_ID:
        raise ProtocolError("device id must be 1.." + str(MAX_DEVICE_ID) + " characters")
    for ch in text:
        if ch not in DEVICE_ID_CHARS:
            raise ProtocolError("device id has " + repr(ch))
    return text


def check_boot(text):
    """text if it is a valid boot nonce (protocol/SPEC.md 1.1), else ProtocolError."""
    if len(text) != BOOT_DIGITS:
        raise ProtocolError("boot nonce must be " + str(BOOT_DIGITS) + " hex digits")
    for ch in text:
        if ch not in _HEX_DIGITS:
            raise ProtocolError("boot nonce has " + repr(ch))
    return text


def _layout(kind, version):
    """The field layout of kind; an ID's is its protocol version's (version: its first field)."""
    layout = SCHEMA.get(kind)
    if layout is None:
        raise ProtocolError("unknown record kind " + str(kind))
    if kind == "ID":
        # A version this codec does not know is read with the newest layout, so a host still
        # learns that a newer dial speaks it (later versions only append fields to ID).
        return ID_LAYOUTS.get(version, layout)
    return layout


def layout_of(kind, fields):
    """The field layout a record of kind with these fields must have."""
    return _layout(kind, int(fields[0]) if kind == "ID" and fields else None)


def encode(kind, fields=()):
    """One record as bytes: $KIND,f1,f2*CRC\\r\\n."""
    layout = layout_of(kind, fields)
    if len(fields) != len(layout):
        raise ProtocolError(kind + " takes " + str(len(layout)) + " fields")
    parts = [kind]
    for spec, value in zip(layout, fields):
        if spec == "i":
            parts.append(str(int(value)))
        elif spec == "d":
            parts.append(check_device_id(str(value)))
        elif spec == "n":
            parts.append(check_boot(str(value)))
        else:
            text = str(value)
            for ch in _FORBIDDEN:
                if ch in text:
                    raise ProtocolError("field of " + kind + " contains " + repr(ch))
            parts.append(text)
    body = ",".join(parts).encode()
    return START + body + CHECK + ("%04X" % crc16(body)).encode() + END


def decode_body(body):
    """(kind, values) from the bytes between '$' and the line end, or raise ProtocolError."""
    if body.endswith(b"\r"):
        body = body[:-1]
    star = len(body) - 5
    if star < 1 or body[star : star + 1] != CHECK:
        raise ProtocolError("no check field")
    try:
        digits = body[star + 1 :].decode()
    except UnicodeError:
        raise ProtocolError("check field is not text")
    # Exactly four upper-case digits: int(x, 16) alone would also take "a" for "A", so a
    # bit flip in the check field could turn a damaged copy into a valid duplicate.
    for digit in digits:
        if digit not in _HEX_DIGITS:
            raise ProtocolError("check field is not four upper-case hex digits")
    claimed = int(digits, 16)
    payload = body[:star]
    if crc16(payload) != claimed:
        raise ProtocolError("check mismatch")
    try:
        text = payload.decode()
    except UnicodeError:
        raise ProtocolError("not text")
    parts = text.split(",")
    kind = parts[0]
    raw = parts[1:]
    version = parse_int(raw[0]) if kind == "ID" and raw else None
    layout = _layout(kind, version)
    if version is not None and version > PROTOCOL_VERSION:
        raw = raw[: len(layout)]  # a newer dial's ID: the fields this codec knows
    if len(raw) != len(layout):
        raise ProtocolError(kind + " has " + str(len(raw)) + " fields, wants " + str(len(layout)))
    values = []
    for spec, item in zip(layout, raw):
        if spec == "i":
            values.append(parse_int(item))
        elif spec == "d":
            values.append(check_device_id(item))
        elif spec == "n":
            values.append(check_boot(item))
        else:
            values.append(item)
    return kind, values


class Framer:
    """Splits a byte stream into records, skipping garbage and damaged records.

    A record's body never contains '$', so the last '$' before a line end
    starts the only candidate record: after any garbage the next intact
    record is recovered (resynchronisation within one record).
    """

    def __init__(self, max_record=MAX_RECORD):
        self._pending = b""
        self._max = max_record
        self.records = 0
        self.bad_records = 0  # framed but failing the check, layout or kind
        self.skipped_bytes = 0  # bytes outside any record
        self.last_error = None

    def feed(self, data):
        """Records completed by data, as a list of (kind, values)."""
        buf = self._pending + bytes(data) if self._pending else bytes(data)
        out = []
        while True:
            end = buf.find(b"\n")
            if end < 0:
                break
            line = buf[:end]
            buf = buf[end + 1 :]
            start = line.rfind(START)
            if start < 0:
                self.skipped_bytes += len(line) + 1
                continue
            self.skipped_bytes += start
            try:
                out.append(decode_body(line[start + 1 :]))
                self.records += 1
            except ProtocolError as err:
                self.bad_records += 1
                self.last_error = str(err)
        if len(buf) > self._max:
            start = buf.rfind(START)
            keep = buf[start:] if start >= 0 and len(buf) - start <= self._max else b""
            self.skipped_bytes += len(buf) - len(keep)
            buf = keep
        self._pending = buf
        return out


def seq_next(seq):
    return (seq + 1) % SEQ_MODULO


def seq_delta(newer, older):
    """How many steps newer is after older, on the wrapping sequence counter."""
    return (newer - older) % SEQ_MODULO
