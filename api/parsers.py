"""The API's JSON parser: DRF's, with a nesting limit.

A body nested deeper than ``MAX_JSON_DEPTH`` (arrays and objects) is a 400 (``ParseError``), checked on the
raw text before decoding, so a hostile body of 100,000 ``[`` costs one linear scan and never reaches the
decoder's recursion (which would end in a ``RecursionError``, a 500). The size limit is Django's
``DATA_UPLOAD_MAX_MEMORY_SIZE`` (a 400 from ``api.errors.handler400``).
"""

from io import BytesIO

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32


def json_depth_exceeds(text: bytes, limit: int) -> bool:
    """Whether the JSON text nests arrays/objects deeper than ``limit`` (brackets inside strings ignored)."""
    depth, in_string, escaped = 0, False, False
    for byte in text:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        if json_depth_exceeds(raw, MAX_JSON_DEPTH):
            raise ParseError(f"JSON body nested deeper than {MAX_JSON_DEPTH} levels.")
        return super().parse(BytesIO(raw), media_type, parser_context)
