#!/usr/bin/env python3
"""Seeds for the binary AWS event-stream fuzz targets (`bedrock_stream`, `eventstream_framing`):
the golden Bedrock ConverseStream fixture encoded in the event-stream framing, as the provider
sends it. Without them libFuzzer starts from nothing and rarely builds a frame whose two CRCs
hold, so it never reaches the event decoding behind them.

    fuzz/seeds/eventstream.py FIXTURE.jsonl OUT_DIR

Writes: the whole stream; each event alone; the stream cut after its first half; the stream
ending in an in-stream exception. Every seed starts with the byte the targets read as the
split position (0 and 0x5b: two splits)."""
import json, os, struct, sys, zlib


def header(name, value):
    n, v = name.encode(), value.encode()
    return bytes([len(n)]) + n + bytes([7]) + struct.pack(">H", len(v)) + v  # 7: string


def message(headers, payload):
    head = b"".join(header(k, v) for k, v in headers)
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    msg = prelude + struct.pack(">I", zlib.crc32(prelude)) + head + payload
    return msg + struct.pack(">I", zlib.crc32(msg))


def event(kind, payload):
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return message([(":event-type", kind), (":content-type", "application/json"),
                    (":message-type", "event")], body)


def main():
    fixture, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    events = [json.loads(line) for line in open(fixture, encoding="utf-8") if line.strip()]
    frames = [event(e["event"], e["payload"]) for e in events]
    exception = message([(":exception-type", "throttlingException"), (":content-type", "application/json"),
                         (":message-type", "exception")], b'{"message":"Too many requests"}')
    seeds = {"whole": b"".join(frames), "half": b"".join(frames[: len(frames) // 2]),
             "exception": b"".join(frames[: len(frames) // 2]) + exception}
    seeds.update({f"event{i:02}": f for i, f in enumerate(frames)})
    for name, data in seeds.items():
        for split in (0, 0x5B):
            with open(os.path.join(out, f"seed-{name}-{split:02x}"), "wb") as f:
                f.write(bytes([split]) + data)


if __name__ == "__main__":
    main()
