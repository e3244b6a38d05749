#!/usr/bin/env python3
"""Writes the seed inputs of the data readers' fuzz targets to tests/fuzz/seeds/<target>/:
small valid files of each format (and a few edge cases a reader must refuse cleanly), made
with the standard library alone so that anyone can regenerate them.

    python3 tests/fuzz/make_data_seeds.py     # rewrites seeds/{npy,npz,csv,idx,png,jpeg,test_data_set}/

The JPEG seeds are libjpeg's output for tiny pictures (gray, RGB 4:2:0, progressive 4:4:4,
CMYK, optimised Huffman tables), kept here as hex: the standard library has no JPEG encoder.
"""
import gzip
import io
import os
import shutil
import struct
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, 'seeds')
TARGETS = ['npy', 'npz', 'csv', 'idx', 'png', 'jpeg', 'test_data_set']


def put(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(SEEDS, target, name), 'wb') as f:
        f.write(data)


# ---- npy / npz

FORMATS = {'b1': '?', 'i1': 'b', 'u1': 'B', 'i2': 'h', 'u2': 'H', 'i4': 'i', 'u4': 'I', 'i8': 'q', 'u8': 'Q',
           'f2': 'e', 'f4': 'f', 'f8': 'd'}


def npy(descr, shape, values, version=(1, 0), header=None):
    """numpy.save's bytes: magic, version, header length, the dict padded to 64 bytes, data."""
    code = descr[1:]
    order = '>' if descr[0] == '>' else '<'
    data = struct.pack(order + FORMATS[code] * len(values), *values)
    if header is None:
        dims = ''.join(f'{d}, ' for d in shape) if len(shape) == 1 else ', '.join(str(d) for d in shape)
        header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, dims.rstrip(' ') if len(shape) == 1 else dims)
    length_bytes = 2 if version[0] == 1 else 4
    preamble = 6 + 2 + length_bytes
    text = header + ' ' * ((64 - (preamble + len(header) + 1) % 64) % 64) + '\n'
    length = struct.pack('<H' if length_bytes == 2 else '<I', len(text))
    return b'\x93NUMPY' + bytes(version) + length + text.encode('latin-1') + data


def make_npy():
    put('npy', 'f4_4x3.npy', npy('<f4', (4, 3), [i * 0.5 for i in range(12)]))
    put('npy', 'u1_2x2x2.npy', npy('|u1', (2, 2, 2), list(range(8))))
    put('npy', 'i8_labels.npy', npy('<i8', (5,), [0, 1, 2, 3, 9]))
    put('npy', 'f8_3.npy', npy('<f8', (3,), [1.5, -2.0, 1e300]))
    put('npy', 'b1_4.npy', npy('|b1', (4,), [True, False, True, True]))
    put('npy', 'f2_2x2.npy', npy('<f2', (2, 2), [0.5, 1.0, -1.0, 65504.0]))
    put('npy', 'i2_3x1.npy', npy('<i2', (3, 1), [-1, 0, 7]))
    put('npy', 'u2_2.npy', npy('<u2', (2,), [3, 65535]))
    put('npy', 'i1_big_endian_byte.npy', npy('>i1', (2,), [-3, 4]))
    put('npy', 'v2_f4_2x2.npy', npy('<f4', (2, 2), [1, 2, 3, 4], version=(2, 0)))
    put('npy', 'v3_u4_3.npy', npy('<u4', (3,), [1, 2, 3], version=(3, 0)))
    put('npy', 'py2_long_dims.npy',
        npy('<i4', (2, 2), [1, 2, 3, 4], header="{'descr': '<i4', 'fortran_order': False, 'shape': (2L, 2L), }"))
    put('npy', 'double_quotes.npy',
        npy('<f4', (1, 2), [1, 2], header='{"descr": "<f4", "fortran_order": False, "shape": (1, 2)}'))
    put('npy', 'nan_value.npy', npy('<f4', (2,), [float('nan'), 1.0]))
    put('npy', 'zero_samples.npy', npy('<f4', (0, 3), []))
    put('npy', 'empty_sample.npy', npy('<f4', (3, 0), []))
    put('npy', 'fortran_order.npy',
        npy('<f4', (2, 2), [1, 2, 3, 4], header="{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }"))
    put('npy', 'big_endian_f4.npy', npy('>f4', (2,), [1, 2]))
    put('npy', 'truncated_data.npy', npy('<f4', (4, 3), [0.0] * 12)[:-5])
    put('npy', 'structured.npy',
        npy('<f4', (1,), [1], header="{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"))


def npz(members, method=zipfile.ZIP_STORED):
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w', method) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)
    return out.getvalue()


def make_npz():
    x = npy('<f4', (3, 2), [0.25 * i for i in range(6)])
    label = npy('<i8', (3,), [0, 1, 2])
    put('npz', 'stored.npz', npz({'x.npy': x, 'label.npy': label}))
    put('npz', 'deflated.npz', npz({'x.npy': x, 'label.npy': label}, zipfile.ZIP_DEFLATED))
    put('npz', 'x_only_u1.npz', npz({'x.npy': npy('|u1', (2, 2, 2), list(range(8)))}, zipfile.ZIP_DEFLATED))
    put('npz', 'extra_member.npz',
        npz({'x.npy': x, 'label.npy': npy('<i4', (3,), [1, 1, 0]), 'notes.txt': b'hello'}))
    put('npz', 'label_count_differs.npz', npz({'x.npy': x, 'label.npy': npy('<i8', (2,), [0, 1])}))
    damaged = bytearray(npz({'x.npy': x, 'label.npy': label}))
    damaged[60] ^= 0xFF  # inside x.npy's data: the CRC-32 no longer matches
    put('npz', 'crc_mismatch.npz', bytes(damaged))


# ---- csv

def make_csv():
    put('csv', 'numbers.csv', 'a,b,label\n1,2,0\n3.5,-4e2,1\n0,0,2\n')
    put('csv', 'class_names.csv', 'f1,f2,label\n1,2,cat\n3,4,dog\n5,6,bird\n')
    put('csv', 'quoted_crlf_bom.csv', '\ufeff"a","b,c",label\r\n"1","2",1\r\n"3","4",0\r\n')
    put('csv', 'quoted_newline.csv', 'a,note,label\n1,"two\nlines",0\n2,"say ""hi""",1\n')
    put('csv', 'id_column.csv', 'id,x1,x2,label\nr1,0.5,1.5,0.25\nr2,1,2,3\n')
    put('csv', 'blank_lines_spaces.csv', 'a, b ,label\n 1 , 2 ,0\n\n3,4,1\n')
    put('csv', 'nan_cell.csv', 'a,b,label\nnan,2,0\n1,inf,1\n')
    put('csv', 'ragged.csv', 'a,b,label\n1,2\n3,4,5,6\n')
    put('csv', 'empty_cell.csv', 'a,b,label\n1,,0\n')
    put('csv', 'unclosed_quote.csv', 'a,b,label\n"1,2,0\n')
    put('csv', 'header_only.csv', 'a,b,label\n')
    put('csv', 'no_label.csv', 'a,b\n1,2\n')
    put('csv', 'label_out_of_range.csv', 'a,label\n1,7\n2,-1\n')
    put('csv', 'duplicate_header.csv', 'a,a,label\n1,2,0\n')


# ---- IDX

def idx(code, fmt, dims, values):
    return bytes([0, 0, code, len(dims)]) + struct.pack('>%dI' % len(dims), *dims) + \
        struct.pack('>%d%s' % (len(values), fmt), *values)


def make_idx():
    images = idx(0x08, 'B', (3, 4, 4), [(i * 17) % 256 for i in range(48)])
    put('idx', 'u1_3x4x4', images)
    put('idx', 'u1_3x4x4.gz', gzip.compress(images, mtime=0))
    put('idx', 'f4_2x2x2', idx(0x0D, 'f', (2, 2, 2), [0.5, -1, 2, 3, 4, 5, 6, 7]))
    put('idx', 'f8_2x3', idx(0x0E, 'd', (2, 3), [1, 2, 3, 4, 5, 6]))
    put('idx', 'i2_2x1x2', idx(0x0B, 'h', (2, 1, 2), [-1, 2, 300, -400]))
    put('idx', 'i4_1x2x2x1', idx(0x0C, 'i', (1, 2, 2, 1), [1, 2, 3, 4]))
    put('idx', 'i1_2x2', idx(0x09, 'b', (2, 2), [-1, 1, -128, 127]))
    put('idx', 'labels_u1_5', idx(0x08, 'B', (5,), [0, 1, 2, 9, 4]))
    put('idx', 'labels_i4_3', idx(0x0C, 'i', (3,), [0, 1, 11]))
    put('idx', 'labels_f4_2', idx(0x0D, 'f', (2,), [1.0, 2.5]))
    put('idx', 'truncated_u1', images[:-7])
    put('idx', 'trailing_bytes', images + b'\0\0')
    put('idx', 'zero_samples', idx(0x08, 'B', (0, 4, 4), []))
    put('idx', 'gzip_truncated.gz', gzip.compress(images, mtime=0)[:-9])
    put('idx', 'gzip_concatenated.gz', gzip.compress(images[:20], mtime=0) + gzip.compress(images[20:], mtime=0))


# ---- PNG

def png_chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF)


def adam7_passes(width, height):
    for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                           (0, 1, 1, 2)]:
        xs, ys = list(range(x0, width, dx)), list(range(y0, height, dy))
        if xs and ys:
            yield xs, ys


def pack_row(samples, bit_depth):
    if bit_depth == 16:
        return b''.join(struct.pack('>H', s) for s in samples)
    if bit_depth == 8:
        return bytes(samples)
    per = 8 // bit_depth
    out = bytearray()
    for i in range(0, len(samples), per):
        byte = 0
        for j, s in enumerate(samples[i:i + per]):
            byte |= s << (8 - bit_depth * (j + 1))
        out.append(byte)
    return bytes(out)


def png(width, height, color_type, bit_depth, pixel, interlace=0, extra=b'', filter_byte=0):
    """pixel(x, y) -> the pixel's samples; rows filtered with filter type 0 (or `filter_byte`: 1 Sub on 8-bit)."""
    raw = bytearray()
    rows = [(list(range(width)), list(range(height)))] if not interlace else list(adam7_passes(width, height))
    for xs, ys in rows:
        for y in ys:
            samples = [s for x in xs for s in pixel(x, y)]
            raw.append(0)
            raw += pack_row(samples, bit_depth)
    ihdr = struct.pack('>IIBBBBB', width, height, bit_depth, color_type, 0, 0, interlace)
    return (b'\x89PNG\r\n\x1a\n' + png_chunk(b'IHDR', ihdr) + extra + png_chunk(b'IDAT', zlib.compress(bytes(raw), 9)) +
            png_chunk(b'IEND', b''))


def make_png():
    put('png', 'gray8_4x4.png', png(4, 4, 0, 8, lambda x, y: [x * 60 + y]))
    put('png', 'rgb8_5x3.png', png(5, 3, 2, 8, lambda x, y: [x * 50, y * 80, 255 - x]))
    put('png', 'rgba8_3x3.png', png(3, 3, 6, 8, lambda x, y: [x * 80, y * 80, 9, 128 + x]))
    put('png', 'gray_alpha8_2x2.png', png(2, 2, 4, 8, lambda x, y: [x * 200, 255]))
    palette = png_chunk(b'PLTE', bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])) + png_chunk(b'tRNS', b'\x80')
    put('png', 'palette4_6x2.png', png(6, 2, 3, 4, lambda x, y: [(x + y) % 4], extra=palette))
    put('png', 'gray1_9x3.png', png(9, 3, 0, 1, lambda x, y: [(x ^ y) & 1]))
    put('png', 'gray2_5x2.png', png(5, 2, 0, 2, lambda x, y: [x % 4]))
    put('png', 'rgb16_2x2.png', png(2, 2, 2, 16, lambda x, y: [x * 40000, y * 30000, 65535]))
    put('png', 'interlaced_rgb8_9x9.png', png(9, 9, 2, 8, lambda x, y: [x * 28, y * 28, 0], interlace=1))
    put('png', 'gamma_text_chunks_1x1.png',
        png(1, 1, 0, 8, lambda x, y: [77], extra=png_chunk(b'gAMA', struct.pack('>I', 45455)) +
            png_chunk(b'tEXt', b'Comment\0seed')))
    put('png', 'large_gray_64x40.png', png(64, 40, 0, 8, lambda x, y: [(x * y) % 256]))
    good = png(4, 4, 2, 8, lambda x, y: [x, y, 0])
    put('png', 'truncated.png', good[:-20])
    bad_crc = bytearray(good)
    bad_crc[29] ^= 1  # IHDR's CRC
    put('png', 'bad_ihdr_crc.png', bytes(bad_crc))
    put('png', 'huge_dims_tiny_idat.png', png(1, 1, 0, 8, lambda x, y: [0]).replace(
        png_chunk(b'IHDR', struct.pack('>IIBBBBB', 1, 1, 8, 0, 0, 0, 0)),
        png_chunk(b'IHDR', struct.pack('>IIBBBBB', 13000, 13000, 8, 0, 0, 0, 0))))


# ---- JPEG
JPEGS = {
    'gray_8x8': (
        'ffd8ffe000104a46494600010100000100010000ffdb004300100b0c0e0c0a100e0d0e1211101318281a181616183123'
        '251d283a333d3c3933383740485c4e404457453738506d51575f626768673e4d71797064785c656763ffc0000b080008'
        '000801011100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b51000020103'
        '03020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f024336272'
        '82090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475'
        '767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9'
        'cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00483c1dff004cff00'
        '4affd9'
    ),
    'rgb_420_16x8': (
        'ffd8ffe000104a46494600010100000100010000ffdb004300140e0f120f0d14121012171514181e32211e1c1c1e3d2c'
        '2e243249404c4b47404645505a736250556d5645466488656d777b8182814e608d978c7d96737e817cffdb0043011517'
        '171e1a1e3b21213b7c5346537c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c'
        '7c7c7c7c7c7c7c7c7c7c7c7c7c7cffc00011080008001003012200021101031101ffc4001f0000010501010101010100'
        '000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d010203000411051221'
        '31410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a'
        '434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a9293949596979899'
        '9aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1'
        'f2f3f4f5f6f7f8f9faffc4001f0100030101010101010101010000000000000102030405060708090a0bffc400b51100'
        '020102040403040705040400010277000102031104052131061241510761711322328108144291a1b1c109233352f015'
        '6272d10a162434e125f11718191a262728292a35363738393a434445464748494a535455565758595a63646566676869'
        '6a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4'
        'c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9faffda000c03010002110311003f001b'
        '4f842ee8a3b650012773ef27e98c511c117f760ffbf2f4515bac45492d59d74f074a4b53ffd9'
    ),
    'rgb_444_progressive': (
        'ffd8ffe000104a46494600010100000100010000ffdb0043001b12141714111b1716171e1c1b2028422b28252528513a'
        '3d3042605565645f555d5b6a7899816a7190735b5d85b586909ea3abadab6780bcc9baa6c799a8aba4ffdb0043011c1e'
        '1e2823284e2b2b4ea46e5d6ea4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4'
        'a4a4a4a4a4a4a4a4a4a4a4a4a4a4ffc20011080007000903011100021101031101ffc400150001010000000000000000'
        '0000000000000002ffc400160101010100000000000000000000000000010003ffda000c0301000210031000000168d1'
        '7fffc40017100100030000000000000000000000000000011112ffda0008010100010502cc29ffc40017110100030000'
        '000000000000000000000000010313ffda0008010301013f018a98bfffc4001611010101000000000000000000000000'
        '00001301ffda0008010201013f01a6a8ffc4001610010101000000000000000000000000000041e1ffda000801010006'
        '3f028c7fffc4001910000300030000000000000000000000000001112151a1ffda0008010100013f2183c704690fffda'
        '000c0301000200030000001047ffc400191100030003000000000000000000000000000121b1e1f0ffda000801030101'
        '3f106b57272e8fffc40017110003010000000000000000000000000000011131ffda0008010201013f106ed28fffc400'
        '1a10000202030000000000000000000000000111004191d1f1ffda0008010100013f1048410d07595398dcffd9'
    ),
    'cmyk_8x8': (
        'ffd8ffee000e41646f626500640000000000ffdb004300140e0f120f0d14121012171514181e32211e1c1c1e3d2c2e24'
        '3249404c4b47404645505a736250556d5645466488656d777b8182814e608d978c7d96737e817cffc000140800080008'
        '044311004d11005911004b1100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc4'
        '00b5100002010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c115'
        '52d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a63646566'
        '6768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2'
        'c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda000e0443004d005900'
        '4b00003f00ebeb0aba7ae8ebffd9'
    ),
    'rgb_restart_optimize': (
        'ffd8ffe000104a46494600010100000100010000ffdb004300281c1e231e19282321232d2b28303c64413c37373c7b58'
        '5d4964918099968f808c8aa0b4e6c3a0aadaad8a8cc8ffcbdaeef5ffffff9bc1fffffffaffe6fdfff8ffdb0043012b2d'
        '2d3c353c76414176f8a58ca5f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8f8'
        'f8f8f8f8f8f8f8f8f8f8f8f8f8f8ffc00011080008001003012200021101031101ffc400140001000000000000000000'
        '00000000000000ffc4001c1000020202030000000000000000000000021100010304315192ffc4001501010100000000'
        '000000000000000000000203ffc400191100030003000000000000000000000000000102031341ffda000c0301000211'
        '0311003f005eb826238a972c9c0e31e83c14447b29f4ace1968fffd9'
    ),
}


def make_jpeg():
    for name, hexdigits in JPEGS.items():
        put('jpeg', name + '.jpg', bytes.fromhex(hexdigits))
    gray = bytes.fromhex(JPEGS['gray_8x8'])
    put('jpeg', 'truncated.jpg', gray[:len(gray) * 2 // 3])
    put('jpeg', 'no_eoi.jpg', gray[:-2])
    sof = gray.index(b'\xff\xc0')
    huge = bytearray(gray)
    huge[sof + 5:sof + 9] = struct.pack('>HH', 20000, 20000)  # height, width
    put('jpeg', 'huge_dims.jpg', bytes(huge))


# ---- ONNX test data sets: TensorProto encoded by hand (protobuf wire format)

def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, wire, payload):
    key = varint(number << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


FLOAT, INT64, INT32, UINT8, DOUBLE = 1, 7, 6, 2, 11


def tensor(dims, data_type, name='', raw=None, floats=None, int64s=None, int32s=None):
    out = b''.join(field(1, 0, d) for d in dims) + field(2, 0, data_type)
    if floats is not None:
        out += field(4, 2, struct.pack('<%df' % len(floats), *floats))
    if int32s is not None:
        out += field(5, 2, b''.join(varint(v) for v in int32s))
    if int64s is not None:
        out += field(7, 2, b''.join(varint(v) for v in int64s))
    if name:
        out += field(8, 2, name.encode())
    if raw is not None:
        out += field(9, 2, raw)
    return out


def data_set(input_0, input_1, output_0):
    return struct.pack('<I', len(input_0)) + input_0 + struct.pack('<I', len(input_1)) + input_1 + output_0


def make_test_data_set():
    x = tensor([2, 3], FLOAT, raw=struct.pack('<6f', 1, 2, 3, 4, 5, 6))
    y = tensor([2], FLOAT, floats=[0.5, -0.5])
    label = tensor([2], INT64, name='label', raw=struct.pack('<2q', 1, 9))
    put('test_data_set', 'raw_and_typed.bin', data_set(x, y, label))
    put('test_data_set', 'named_inputs.bin',
        data_set(tensor([1, 2, 2], DOUBLE, name='x', raw=struct.pack('<4d', 1, 2, 3, 4)),
                 tensor([1], UINT8, name='y', int32s=[200]), tensor([1], INT64, name='label', int64s=[3])))
    put('test_data_set', 'int32_label.bin',
        data_set(tensor([3, 1], INT32, int32s=[1, 2, 3]), tensor([3], FLOAT, floats=[1, 2, 3]),
                 tensor([3], INT32, name='label', int32s=[0, 1, 2])))
    put('test_data_set', 'label_out_of_range.bin', data_set(x, y, tensor([2], INT64, name='label', int64s=[10, 0])))
    put('test_data_set', 'sample_counts_differ.bin', data_set(x, tensor([3], FLOAT, floats=[1, 2, 3]), label))
    put('test_data_set', 'scalar_input.bin', data_set(tensor([], FLOAT, floats=[1]), y, label))
    put('test_data_set', 'raw_too_short.bin', data_set(tensor([2, 3], FLOAT, raw=b'\0' * 10), y, label))
    put('test_data_set', 'external_data.bin',
        data_set(tensor([2, 3], FLOAT) + field(13, 2, field(1, 2, b'location') + field(2, 2, b'x.bin')) +
                 field(14, 0, 1), y, label))
    put('test_data_set', 'not_protobuf.bin', data_set(b'\xff\xff\xff', y, label))


def main():
    for target in TARGETS:
        shutil.rmtree(os.path.join(SEEDS, target), ignore_errors=True)
        os.makedirs(os.path.join(SEEDS, target))
    make_npy()
    make_npz()
    make_csv()
    make_idx()
    make_png()
    make_jpeg()
    make_test_data_set()
    total = sum(os.path.getsize(os.path.join(d, f)) for t in TARGETS for d, _, fs in os.walk(os.path.join(SEEDS, t))
                for f in fs)
    print(f'{sum(len(os.listdir(os.path.join(SEEDS, t))) for t in TARGETS)} seeds, {total} bytes')


if __name__ == '__main__':
    main()
