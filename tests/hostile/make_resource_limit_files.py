#!/usr/bin/env python3
"""Writes the decompression bombs of tests/hostile (category resource-limit): files of about
40 KB that inflate to 40 MiB of zeros, past the decompression cap (onnx_train/limits.h: at
most 200-fold, or 16 MiB for any file). Deterministic (gzip mtime 0, zip date 0).
Run from this folder: /usr/bin/python3 make_resource_limit_files.py"""
import gzip
import struct
import zipfile

MIB = 1 << 20


def idx_gzip_bomb(path):
    n = 40 * MIB // 784 + 1  # uint8 [53488, 28, 28]: 40 MiB of pixels
    header = struct.pack(">BBBBIII", 0, 0, 0x08, 3, n, 28, 28)
    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(header)
        gz.write(bytes(n * 784))


def npz_deflate_bomb(path):
    rows = 40 * MIB // 16  # float32 [2621440, 4]: 40 MiB
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 4), }" % rows
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(rows * 16)
    info = zipfile.ZipInfo("x.npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(info, npy, compresslevel=9)


idx_gzip_bomb("idx/gzip-bomb-images-idx3-ubyte.gz")
npz_deflate_bomb("npz/deflate-bomb.npz")
