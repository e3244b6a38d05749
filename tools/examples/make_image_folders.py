#!/usr/bin/python3
"""Writes part of Fashion-MNIST as an image classification folder, the layout most fine-tuning
data comes in (README: "Your first fine-tune"):

    /usr/bin/python3 tools/examples/make_image_folders.py OUT_DIR [--classes t-shirt,pullover,coat,shirt]
                                                          [--train-per-class 300] [--val-per-class 100]

    OUT_DIR/train/<class>/<index>.png
    OUT_DIR/val/<class>/<index>.png

The images are the 28x28 grayscale PNGs of Debian's dataset-fashion-mnist package
(/usr/share/datasets/fashion-mnist): the training files give train/, the test files val/. Only
numpy and the standard library are needed (the PNGs are written with zlib).
"""
import argparse
import gzip
import os
import struct
import zlib

import numpy as np

SOURCE = "/usr/share/datasets/fashion-mnist"
CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]


def read_idx(path):
    """An IDX file (gzip) as a numpy array: magic 0x0000 <type 0x08 = uint8> <rank>, big-endian
    uint32 dimensions, then the values."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, rank = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype == 0x08, f"{path}: not an unsigned-byte IDX file"
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(dims)


def png_bytes(image):
    """A grayscale 8-bit PNG: signature, IHDR, one IDAT (each row prefixed by filter type 0), IEND;
    every chunk is length, type, data, CRC-32 of type and data."""
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    height, width = image.shape
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8 bits, grayscale
    rows = b"".join(b"\x00" + image[r].tobytes() for r in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def write_split(images, labels, classes, per_class, folder):
    written = 0
    for name in classes:
        os.makedirs(os.path.join(folder, name), exist_ok=True)
        indices = np.flatnonzero(labels == CLASSES.index(name))[:per_class]
        for i in indices:
            with open(os.path.join(folder, name, f"{i:05d}.png"), "wb") as f:
                f.write(png_bytes(images[i]))
        written += len(indices)
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--classes", default="t-shirt,pullover,coat,shirt",
                        help="comma-separated, from: " + ", ".join(CLASSES))
    parser.add_argument("--train-per-class", type=int, default=300)
    parser.add_argument("--val-per-class", type=int, default=100)
    args = parser.parse_args()
    classes = args.classes.split(",")
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        parser.error(f"unknown class {', '.join(unknown)}; the classes are {', '.join(CLASSES)}")
    train = write_split(read_idx(f"{SOURCE}/train-images-idx3-ubyte.gz"), read_idx(f"{SOURCE}/train-labels-idx1-ubyte.gz"),
                        classes, args.train_per_class, os.path.join(args.out_dir, "train"))
    val = write_split(read_idx(f"{SOURCE}/t10k-images-idx3-ubyte.gz"), read_idx(f"{SOURCE}/t10k-labels-idx1-ubyte.gz"),
                      classes, args.val_per_class, os.path.join(args.out_dir, "val"))
    print(f"wrote {args.out_dir}: {train} training and {val} validation images of {len(classes)} classes "
          f"({', '.join(classes)})")


if __name__ == "__main__":
    main()
