#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the baggage fuzzer to Tests/BaggageFuzz/seeds.

The seeds are committed; this script says where each came from, and writes
them again (`python3 Tests/BaggageFuzz/make_seeds.py`). `make fuzz-baggage`
never rewrites them: it keeps its own finds in Tests/BaggageFuzz/corpus.
Every seed is at most 20,480 bytes, the fuzzer's -max_len, so that replaying
reads each whole.
"""

import pathlib

SEEDS = pathlib.Path(__file__).resolve().parent / "seeds"
READ_LIMIT = 16_384  # W3CBaggage.maxReadBytes


def filling(total, count, key="m"):
    """`count` members whose sizes add up to `total` bytes joined with commas."""
    size_sum = total - (count - 1)
    out = []
    for index in range(count):
        name = "%s%d" % (key, index)
        size = size_sum // count + (1 if index < size_sum % count else 0)
        out.append(name + "=" + "x" * (size - len(name) - 1))
    return out


seeds = {
    # The spec's examples.
    "spec-properties": "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
    "spec-single": "userId=alice,serverNode=DF%2028,isProduction=false",
    "spec-lines-joined": "userId =   alice,serverNode = DF%2028, isProduction = false",
    "spec-utf8": "userId=Am%C3%A9lie",
    # OpenTelemetry Python 1.45.3's inject (OTelPythonBaggageFixtures.swift).
    "otel-python-together": "userId=alice,user+id=Am%C3%A9lie,serverNode=DF+28,isProduction=false",
    "otel-python-values": "plus_space=1+%2B+1+%3D+2,percent_space=50%25+off,percent_escape=%2541,"
    "emoji=%F0%9F%9A%80+launch,emoji_modifier=%F0%9F%91%8D%F0%9F%8F%BD,padded=+padded+,"
    "marks=~-_.%21%2A%27%28%29,empty=,tab=tab%09here",
    "otel-python-keys": "user+id=1,user%2Bid=1,a%21b=1,%C3%A9=1,a%2Cb=1,a%3Db=1,emoji%F0%9F%9A%80=1,a%2520b=1,100%25=1",
    # What W3CBaggage.serialize writes for the same values.
    "contextstore-values": "k=1%20%2B%201%20=%202,k=50%25%20off,k=%F0%9F%9A%80%20launch,k=%20padded%20,k=~-_.!*'()",
    # Malformed members among good ones.
    "malformed-mix": "=v, k, k=\"q\", k=a\\b, k=v;;p, ;, k=v;p q, k=v;, a=1, (k)=v, k=v v, b=2",
    "equals": "k==v=;p==;q;r=s=t, ==, k= =",
    "nul-and-controls": "k=v\x00,l=w\x7f,m=\x01,n=ok",
    "crlf": "k=v\r\n l=w,m=x\r\n",
    "percent-sequences": "k=%%41%4%%%FF%fF%C3%28%E2%82%%2B+%g0%0g%,p=%,q=%%",
    "invalid-utf8-escapes": "k=" + "%FF%C3%28%E2%82%ED%A0%80%F4%90%80%80%C0%AF" * 3,
    # The limits: 64 members in 8,192 bytes (kept whole), one byte more, 180 and 181 members.
    "limit-64-members-8192-bytes": ",".join(filling(8192, 64)),
    "limit-64-members-8193-bytes": ",".join(filling(8193, 64)),
    "limit-64-members-in-8-lines": ", ".join(",".join(filling(8192, 64)[i * 8 : i * 8 + 8]) for i in range(8)),
    "limit-180-members": ",".join("k%d=v" % i for i in range(180)),
    "limit-181-members": ",".join("k%d=v" % i for i in range(181)),
    "limit-member-too-big-then-small": "huge=" + "x" * 9000 + ",a=1,b=2",
    "limit-invalid-utf8-8192-bytes": ",".join(m.replace("xxx", "%FF") for m in filling(8192, 64)),
    # Hostile: separators, properties, huge parts, whitespace, the read limit's edge.
    "hostile-commas": "," * 17_000,
    "hostile-semicolons": "k=v" + ";" * 17_000,
    "hostile-properties": "k=v" + ";p" * 8_500,
    "hostile-properties-with-values": "k=v" + ";p=%20" * 3_000,
    "hostile-many-members": "a=1," * 5_000,
    "hostile-huge-key": "k" * 17_000 + "=v",
    "hostile-huge-value": "k=" + "x" * 17_000,
    "hostile-ows": " \t" * 8_500 + "k = v",
    "hostile-equals": "k" + "=" * 17_000,
    "hostile-percent": "k=" + "%" * 17_000,
    "window-edge-kept": " " * (READ_LIMIT - 3) + "a=1,b=2",
    "window-edge-cut": " " * (READ_LIMIT - 2) + "a=1,b=2",
    # Members to send: NUL-separated key, value; a key's 0x01-separated properties.
    "send-members": b"k\x00v v\x00k2\x01p=a;b\x01q\x00\xc3\xa9+%\x00bad key\x00x",
    "send-emoji": b"emoji\x00\xf0\x9f\x9a\x80 launch\x00plus\x00a+b\x00",
    # Bytes that are not UTF-8 (a Swift String holds U+FFFD for them).
    "invalid-utf8-bytes": b"k\xff=v,\xc3(=1,k=\xfe\xfe,ok=1,v=\xed\xa0\x80",
    "empty": "",
}

SEEDS.mkdir(exist_ok=True)
for name, text in seeds.items():
    data = text.encode("utf-8") if isinstance(text, str) else text
    assert len(data) <= 20_480, name
    (SEEDS / name).write_bytes(data)
print("%d seeds in %s" % (len(seeds), SEEDS))
