# Types for the host side; the codec itself is untyped CircuitPython-compatible code.
PROTOCOL_VERSION: int
START: bytes
CHECK: bytes
END: bytes
MAX_RECORD: int
SEQ_MODULO: int
VALUE_MIN: int
VALUE_MAX: int
SCALE_LABELS: dict[int, str]
SCHEMA: dict[str, str]

Value = int | str

class ProtocolError(ValueError): ...

def crc16(data: bytes) -> int: ...
def clean_text(text: object) -> str: ...
def encode(kind: str, fields: tuple[Value, ...] | list[Value] = ...) -> bytes: ...
def decode_body(body: bytes) -> tuple[str, list[Value]]: ...
def seq_next(seq: int) -> int: ...
def seq_delta(newer: int, older: int) -> int: ...

class Framer:
    records: int
    bad_records: int
    skipped_bytes: int
    last_error: str | None
    def __init__(self, max_record: int = ...) -> None: ...
    def feed(self, data: bytes | bytearray) -> list[tuple[str, list[Value]]]: ...
