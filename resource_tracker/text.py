"""Text that may hold anything (a disk path, a header's name) made safe to print as one line."""

from __future__ import annotations

# Within journald's LineMax (48 KiB) even at 4 bytes of UTF-8 a character: never split.
MAX_RECORD_CHARS = 8000
_CONTROL = [*range(0x20), 0x7F, *range(0x80, 0xA0)]
_ESCAPES = {code: f"\\x{code:02x}" for code in _CONTROL} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}
# a file name's undecodable bytes, as os.fsdecode keeps them (U+DC80..U+DCFF), shown as the
# bytes they were: lone surrogates cannot be written as UTF-8 (to a log file, to journald)
_ESCAPES |= {0xDC00 + byte: f"\\x{byte:02x}" for byte in range(0x80, 0x100)}


def one_line(text: str, limit: int = MAX_RECORD_CHARS) -> str:
    """`text` with its control characters escaped (C0, DEL, C1, the Unicode line and
    paragraph separators), cut in the middle to at most `limit` characters, saying so."""
    text = text.translate(_ESCAPES)
    if len(text) <= limit:
        return text
    marker = f" [... {len(text) - limit} characters cut ...] "
    head = (limit - len(marker)) * 3 // 4
    tail = limit - len(marker) - head
    return f"{text[:head]}{marker}{text[-tail:]}"
