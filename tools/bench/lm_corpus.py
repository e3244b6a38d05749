#!/usr/bin/env python3
"""The fine-tuning benchmark's data: a byte-level language-modelling corpus from text every Debian
machine can have.

    /usr/bin/python3 tools/bench/lm_corpus.py OUT_DIR [--seq 256] [--source DIR] [--val-fraction 0.05]
        [--max-samples N]

Reads the plain-text files of --source (default: the `fortunes` package's quotes,
/usr/share/games/fortunes, about 1.5 MB of text; when that is not installed,
/usr/share/common-licenses, 264 KB, which every Debian has), in sorted order, skipping binary
files (the `.dat` indices, anything with a NUL byte). The bytes are the tokens (0-255). The
concatenated text is cut into non-overlapping windows of seq + 1 bytes; a window w gives one
sample: input_ids = w[0:seq], label = w[1:seq+1] (the next byte at every position). The last
--val-fraction of the windows (the end of the text, not a random draw, so no validation text is
seen in training) is the validation split. Writes

  OUT_DIR/train/input_ids.npy, OUT_DIR/train/label.npy   int64 [N, seq]
  OUT_DIR/val/input_ids.npy,   OUT_DIR/val/label.npy     int64 [M, seq]
  OUT_DIR/corpus.json                                    source, files, bytes, samples

the layout `onnx-train MODEL OUT_DIR` reads (arrays matched to the model's inputs by name; `label`
is the label) and torch_finetune.py reads.
"""
import argparse
import json
import os

import numpy as np

DEFAULT_SOURCES = ["/usr/share/games/fortunes", "/usr/share/common-licenses"]


def text_files(source):
    """Sorted regular text files under SOURCE (recursively); symlinks to files already taken are skipped."""
    seen, out = set(), []
    for root, dirs, files in os.walk(source):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            real = os.path.realpath(path)
            if name.endswith(".dat") or not os.path.isfile(real) or real in seen:
                continue
            with open(real, "rb") as f:
                data = f.read()
            if b"\0" in data or not data:
                continue
            seen.add(real)
            out.append((path, data))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--source", default="", help="a folder of text files (default: fortunes, else common-licenses)")
    parser.add_argument("--val-fraction", type=float, default=0.05)
    parser.add_argument("--max-samples", type=int, default=0, help="keep at most N training samples (0: all)")
    args = parser.parse_args()
    if args.seq < 1:
        parser.error("--seq must be at least 1")
    source = args.source or next((s for s in DEFAULT_SOURCES if os.path.isdir(s)), "")
    if not source or not os.path.isdir(source):
        raise SystemExit(f"lm_corpus.py: no text folder: {args.source or ' or '.join(DEFAULT_SOURCES)} is missing "
                         "(install Debian's fortunes package, or give --source DIR)")
    files = text_files(source)
    text = b"".join(data for _, data in files)
    window = args.seq + 1
    count = len(text) // window
    if count < 2:
        raise SystemExit(f"lm_corpus.py: {source} holds {len(text)} bytes of text, too few for two windows of "
                         f"{window} bytes; give a larger --source or a smaller --seq")
    tokens = np.frombuffer(text[:count * window], dtype=np.uint8).astype(np.int64).reshape(count, window)
    val = max(1, int(round(count * args.val_fraction)))
    splits = {"train": tokens[:count - val], "val": tokens[count - val:]}
    if args.max_samples:
        splits["train"] = splits["train"][:args.max_samples]
    for split, windows in splits.items():
        folder = os.path.join(args.out, split)
        os.makedirs(folder, exist_ok=True)
        np.save(os.path.join(folder, "input_ids.npy"), np.ascontiguousarray(windows[:, :-1]))
        np.save(os.path.join(folder, "label.npy"), np.ascontiguousarray(windows[:, 1:]))
    info = dict(source=source, files=len(files), bytes=len(text), seq=args.seq,
                train_samples=len(splits["train"]), val_samples=len(splits["val"]))
    with open(os.path.join(args.out, "corpus.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(f"lm_corpus.py: {len(files)} files, {len(text)} bytes from {source}: "
          f"{info['train_samples']} training and {info['val_samples']} validation samples of {args.seq} bytes in {args.out}")


if __name__ == "__main__":
    main()
