#!/usr/bin/env python3
"""Writes the wire seeds of fuzz/corpus in the current protocol (version 3).

Each seed is one fuzz input (see Sources/fuzz-decoders/FuzzDecoders.swift):
a selector byte, then, for selector bit 1, four piece sizes, then frames
for a region of 16 pages of 4 KiB. Run it after a change to the wire format:

    python3 fuzz/seeds.py

The codec-* seeds are not wire frames and are left as they are.
"""
import os
import struct

VERSION = 3
MAGIC = 0x59435043
PAGE = 4096
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def frame(kind, body=b"", flags=0, skip=0):
    return struct.pack("<IBBH", len(body), kind, flags, skip) + body


def page_data(count, start=0):
    return bytes((start + i) & 0xFF for i in range(count * PAGE))


JOIN = frame(1, struct.pack("<IHBBQ", MAGIC, VERSION, 0, 0, 7))
HELLO = frame(2, struct.pack("<IHHIIQQQ", MAGIC, VERSION, 0, PAGE, 0, 16 * PAGE, 3, 7))
READY = frame(3)
BITMAP = frame(4, bytes([1]) + bytes(7) + bytes([0x01, 0x10, 0x00, 0x08, 0x08]))
PAGES_REPLY = frame(5, struct.pack("<I", 2) + page_data(1), flags=1)
PAGES_CONTINUING = frame(5, page_data(1, 7), flags=2, skip=3)
ZERO = frame(6, struct.pack("<II", 1, 3))
REQUEST = frame(7, struct.pack("<II", 0, 15))
COMPLETE = frame(8, struct.pack("<Q", 16))
DONE = frame(9)
ERROR = frame(10, struct.pack("<I", 1) + b"bad frame")
DISCARD = frame(11, struct.pack("<II", 0, 2))
RESUME = frame(12, bytes([1]) + bytes(7) + bytes([0x01, 0x10, 0x00, 0x08, 0x08]))

STREAM = READY + ZERO + REQUEST + frame(5, struct.pack("<I", 4) + page_data(1)) + PAGES_CONTINUING + COMPLETE + DONE

SEEDS = {
    "wire-join": b"\x00" + JOIN,
    "wire-hello": b"\x00" + HELLO,
    "wire-ready": b"\x00" + READY,
    "wire-bitmap": b"\x00" + BITMAP,
    "wire-pages": b"\x00" + PAGES_REPLY,
    "wire-pages-continuing": b"\x00" + PAGES_REPLY + PAGES_CONTINUING,
    "wire-pages-pieces": b"\x02" + bytes([1, 3, 0, 2]) + frame(5, struct.pack("<I", 0) + page_data(1), flags=1),
    "wire-pages-pieces-continuing": b"\x02" + bytes([1, 2, 0, 1])
    + frame(5, struct.pack("<I", 3) + page_data(2)) + frame(5, page_data(1, 9), flags=2, skip=2),
    "wire-zero": b"\x00" + ZERO,
    "wire-request": b"\x00" + REQUEST,
    "wire-complete": b"\x00" + COMPLETE,
    "wire-done": b"\x00" + DONE,
    "wire-error": b"\x00" + ERROR,
    "wire-discard": b"\x00" + DISCARD,
    "wire-resume": b"\x00" + RESUME,
    "wire-stream": b"\x00" + STREAM,
    "wire-stream-pieces": b"\x02" + bytes([4, 0xFF, 1, 0x10]) + STREAM,
}

if __name__ == "__main__":
    for name, data in SEEDS.items():
        with open(os.path.join(HERE, name), "wb") as out:
            out.write(data)
        print(f"{name}: {len(data)} bytes")
