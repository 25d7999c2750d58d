#!/usr/bin/env python3
"""Zero the GPU code a CUDA host will never load, so the library compresses far better (same size, same layout).

usage: strip-fatbin.py IN OUT KEEP_SM [KEEP_SM...]     e.g. strip-fatbin.py libonnxruntime_providers_cuda.so out.so 90

The .nv_fatbin section of a CUDA library holds, per kernel module, one cubin (ELF) per architecture (sm_75 ... sm_120
in ONNX Runtime 1.32's provider; no PTX). The CUDA runtime loads the cubin matching the device and reads only the
entry headers of the others, so the payloads of the other architectures are overwritten with zeros here; every offset,
size and header stays as it was. A device whose architecture was not kept would fail with "no kernel image is available"
(or load garbage), so keep the architecture of the GPU you run on (nvidia-smi --query-gpu=compute_cap). Prints what it
zeroed. Refuses a file whose fatbin it cannot walk completely.
"""
import struct, sys

FATBIN_MAGIC = 0xBA55ED50


def section(data, name):
    """(offset, size) of an ELF64 little-endian section."""
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3A)
    str_off, = struct.unpack_from('<Q', data, shoff + shstrndx * shentsize + 0x18)
    for i in range(shnum):
        h = shoff + i * shentsize
        name_off, = struct.unpack_from('<I', data, h)
        end = data.index(b'\0', str_off + name_off)
        if data[str_off + name_off:end].decode() == name:
            off, size = struct.unpack_from('<QQ', data, h + 0x18)
            return off, size
    raise SystemExit(f'strip-fatbin: no {name} section')


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    src, dst, keep = sys.argv[1], sys.argv[2], {int(a) for a in sys.argv[3:]}
    data = bytearray(open(src, 'rb').read())
    if data[:4] != b'\x7fELF' or data[4] != 2:
        raise SystemExit(f'strip-fatbin: {src}: not a 64-bit ELF file')
    off, size = section(data, '.nv_fatbin')
    pos, end = off, off + size
    kept = zeroed = blocks = 0
    while pos < end:
        magic, _, header, fat = struct.unpack_from('<IHHQ', data, pos)
        if magic != FATBIN_MAGIC:
            pos += 8  # blocks are 8-byte aligned; padding between them
            continue
        blocks += 1
        entry, block_end = pos + header, pos + header + fat
        while entry < block_end:
            kind, _, entry_header, payload = struct.unpack_from('<HHIQ', data, entry)
            arch, = struct.unpack_from('<I', data, entry + 28)
            if kind not in (1, 2) or entry + entry_header + payload > block_end:
                raise SystemExit(f'strip-fatbin: {src}: unexpected fatbin entry at {entry:#x}')
            if arch in keep:
                kept += payload
            else:
                data[entry + entry_header:entry + entry_header + payload] = bytes(payload)
                zeroed += payload
            entry += entry_header + payload
        pos = block_end
    if kept == 0:
        raise SystemExit(f'strip-fatbin: {src}: no GPU code for sm_{sorted(keep)}; nothing written')
    with open(dst, 'wb') as f:
        f.write(data)
    print(f'strip-fatbin: {blocks} fatbin blocks; kept {kept / 2**20:.1f} MiB of GPU code for sm_{",".join(map(str, sorted(keep)))}, '
          f'zeroed {zeroed / 2**20:.1f} MiB of other architectures')


if __name__ == '__main__':
    main()
