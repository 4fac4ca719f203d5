"""Content codings on the wire: decoding compressed request bodies, compressing answers.

Pure functions over bytes and header values; the server (`sandbox.httpbase`) applies them.

Facts relied on:
- Salesforce REST API, "Compression Headers" (developer.salesforce.com/docs/platform/api-rest/
  guide/intro-rest-compression.html): a request may be compressed with `Content-Encoding: gzip`
  or `deflate` and is decompressed before processing; a response is compressed only when the
  request's `Accept-Encoding` asks for it ("isn't required to … but it normally does"), and then
  carries `Content-Encoding`. The 2026 page also lists `br` and `zstd` for responses; the
  sandbox answers those uncompressed, which the same page allows.
- Bulk API 2.0 ("Use Compression for Responses", api_asynch guide): gzip when asked, other
  values ignored (uncompressed).
- HubSpot documents neither request nor response compression (searched its developer docs
  and the 2026-09 OpenAPI specs: no `Content-Encoding`/`Accept-Encoding` parameter). The HubSpot
  sandbox applies the same rules as Salesforce, which are the HTTP defaults; no client this
  project drives compresses request bodies.
- RFC 9110 §8.4 and §12.5.3: codings are case-insensitive, listed in the order applied, `x-gzip`
  is `gzip`, `identity` is none, `q=0` means "not acceptable"; §15.5.16: an unsupported content
  coding in a request is answered 415.
"""

from __future__ import annotations

import gzip
import zlib

# A decompressed body above this is refused (a zip bomb must not take the test machine down);
# Bulk API 2.0 takes at most 150 MB of upload data per job, so real clients stay well under it.
MAX_DECODED_BYTES = 256 * 1024 * 1024

RESPONSE_CODINGS = ("gzip", "deflate")  # in order of preference


class UnsupportedEncodingError(ValueError):
    """The request names a content coding the server does not know (415)."""


class CorruptBodyError(ValueError):
    """The body does not decode under its declared coding (400)."""


def decode_body(body: bytes, content_encoding: str | None) -> bytes:
    """The body with every coding of `Content-Encoding` undone, last applied first."""
    if not content_encoding:
        return body
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding in ("gzip", "x-gzip"):
            body = _inflate(body, zlib.MAX_WBITS | 16, coding)
        elif coding == "deflate":
            body = _inflate_deflate(body)
        else:
            raise UnsupportedEncodingError(f"unsupported Content-Encoding {coding!r}")
    return body


def _inflate(body: bytes, wbits: int, coding: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, MAX_DECODED_BYTES + 1)
    except zlib.error as exc:
        raise CorruptBodyError(f"request body is not valid {coding}: {exc}") from None
    if len(out) > MAX_DECODED_BYTES:
        raise CorruptBodyError(f"request body decodes to more than {MAX_DECODED_BYTES} bytes")
    if not inflater.eof:
        raise CorruptBodyError(f"request body is truncated {coding}")
    return out


def _inflate_deflate(body: bytes) -> bytes:
    """`deflate` is the zlib format (RFC 9110 §8.4.1.2); some clients send raw deflate."""
    try:
        return _inflate(body, zlib.MAX_WBITS, "deflate")
    except CorruptBodyError:
        return _inflate(body, -zlib.MAX_WBITS, "deflate")


def negotiate(accept_encoding: str | None) -> str | None:
    """The coding to answer with under `Accept-Encoding`, or None for the body as is."""
    if not accept_encoding:
        return None
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights["gzip" if name == "x-gzip" else name] = weight
    for coding in RESPONSE_CODINGS:
        if weights.get(coding, weights.get("*", 0.0)) > 0.0:
            return coding
    return None


def encode_body(body: bytes, coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(body, compresslevel=5, mtime=0)
    if coding == "deflate":
        return zlib.compress(body, 5)
    raise ValueError(f"cannot encode {coding!r}")
