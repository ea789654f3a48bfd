"""A short tour of engineio's codec, and a quick compiled-vs-pure comparison.

``make demo`` runs this (``python -m bench.codec_demo``) until the project has a
server to show.  It prints which implementation is active
(``engineio._speedups.IMPLEMENTATION``), encodes and decodes a few packets and
payloads through the public API, then times the round trips of python-engineio's
performance scripts in separate processes: this project compiled, pure
(``ENGINEIO_NO_EXTENSIONS=1``) and, when ``make bench`` has created
``.venv-ref``, python-engineio 4.15.1.  It takes about ten seconds; ``make bench``
is the careful measurement.

``--measure`` is the mode the child processes run in: it prints one JSON line
of timings.  It imports nothing but ``engineio`` so that it also runs, as a bare
script, under the reference's virtualenv.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from itertools import repeat
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REF_PYTHON = ROOT / '.venv-ref' / 'bin' / 'python'

# name, description, and the packet each round trip starts from (built in
# the child, where engineio is imported)
OPERATIONS = [
    ('text', "Packet(MESSAGE, 'hello world')"),
    ('json', "Packet(MESSAGE, {'hello': 'world'})"),
    ('binary', "Packet(MESSAGE, b'hello world')"),
    ('binary_b64', "Packet(MESSAGE, b'hello world'), b64=True"),
    ('payload', 'Payload of 10 binary packets'),
]
# Each operation is timed in many short batches for MEASURE_SECONDS and the
# fastest batch counts.  A batch is kept well under a scheduler time slice, so
# that on a busy machine some batches still run without another process
# taking turns on the core: the minimum then ignores the load.
BATCH_SECONDS = 0.002
MEASURE_SECONDS = 0.3


def show(label: str, value: object) -> None:
    print('  %-34s %r' % (label, value))


def tour() -> None:
    """Print what the codec does with a few packets and payloads."""
    import engineio
    from engineio import _speedups, packet, payload

    print('engineio %s from %s' % (engineio.__version__,
                                   os.path.dirname(engineio.__file__)))
    print('implementation: %s%s' % (
        _speedups.IMPLEMENTATION,
        '  (ENGINEIO_NO_EXTENSIONS is set)' if _speedups.NO_EXTENSIONS else ''))
    print()
    print('packets: encode() gives what goes on the wire, decoding gives it back')
    examples = [
        packet.Packet(packet.MESSAGE, 'hello world'),
        packet.Packet(packet.MESSAGE, {'hello': 'world'}),
        packet.Packet(packet.MESSAGE, b'\x00\x01binary'),
        packet.Packet(packet.PING, 'probe'),
        packet.Packet(packet.CLOSE),
    ]
    for pkt in examples:
        encoded = pkt.encode()
        back = packet.Packet(encoded_packet=encoded)
        print('  %-34s %-24r -> %s %r' % (
            '%s %r' % (packet.packet_names[pkt.packet_type], pkt.data), encoded,
            packet.packet_names[back.packet_type], back.data))
    binary = packet.Packet(packet.MESSAGE, b'\x00\x01binary')
    show('MESSAGE binary, encode(b64=True)', binary.encode(b64=True))
    number = packet.Packet(encoded_packet='442')
    show("decode '442' (a bare number)", number.data)
    print()
    print('payloads: the polling transport joins packets with \\x1e')
    pay = payload.Payload(packets=[
        packet.Packet(packet.MESSAGE, 'hi'),
        packet.Packet(packet.MESSAGE, b'\xff\x00'),
        packet.Packet(packet.PING),
    ])
    encoded = pay.encode()
    show('Payload(hi, b"\\xff\\x00", PING)', encoded)
    show('... as JSONP, encode(jsonp_index=3)', pay.encode(jsonp_index=3))
    decoded = payload.Payload(encoded_payload=encoded)
    show('decoded back', [(packet.packet_names[p.packet_type], p.data)
                          for p in decoded.packets])
    try:
        payload.Payload(encoded_payload='\x1e'.join(['4x'] * 17))
    except ValueError as exc:
        show('17 packets in one payload', 'ValueError: %s' % exc)


def measure() -> dict:
    """Time each round trip: ns per operation, in the fastest batch."""
    import engineio
    from engineio import packet, payload

    def text_like(p, loops):
        for _ in repeat(None, loops):
            p = packet.Packet(encoded_packet=p.encode())

    def b64(p, loops):
        for _ in repeat(None, loops):
            p = packet.Packet(encoded_packet=p.encode(b64=True))

    def payloads(p, loops):
        for _ in repeat(None, loops):
            p = payload.Payload(encoded_payload=p.encode())

    starts = {
        'text': (text_like, packet.Packet(packet.MESSAGE, 'hello world')),
        'json': (text_like, packet.Packet(packet.MESSAGE, {'hello': 'world'})),
        'binary': (text_like, packet.Packet(packet.MESSAGE, b'hello world')),
        'binary_b64': (b64, packet.Packet(packet.MESSAGE, b'hello world')),
        'payload': (payloads, payload.Payload(
            packets=[packet.Packet(packet.MESSAGE, b'hello world')] * 10)),
    }
    timings = {}
    for name, (loop, start) in starts.items():
        loops = 1
        while True:  # grow the batch to about BATCH_SECONDS
            began = time.perf_counter()
            loop(start, loops)
            elapsed = time.perf_counter() - began
            if elapsed >= BATCH_SECONDS / 2:
                break
            loops *= 2
        best = elapsed / loops
        deadline = time.perf_counter() + MEASURE_SECONDS
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            loop(start, loops)
            best = min(best, (time.perf_counter() - began) / loops)
        timings[name] = best * 1e9
    try:
        from engineio import _speedups
        implementation = _speedups.IMPLEMENTATION
    except ImportError:
        implementation = 'reference'
    return {'implementation': implementation, 'file': engineio.__file__,
            'ns': timings}


def pinned(command: list) -> list:
    # one core for every variant, as `make bench` does: the scheduler moving
    # a child between cores (and their caches) is noise we can avoid cheaply
    if shutil.which('taskset') and 1 in getattr(os, 'sched_getaffinity',
                                                lambda pid: set())(0):
        return ['taskset', '-c', '1'] + command
    return command


def run_child(command: list, env: dict, cwd: Path) -> dict:
    completed = subprocess.run(pinned(command), env=env, cwd=str(cwd),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    if completed.returncode:
        raise RuntimeError(completed.stderr.strip().splitlines()[-1]
                           if completed.stderr.strip() else 'exit %d'
                           % completed.returncode)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def compare() -> None:
    env = dict(os.environ)
    env.pop('ENGINEIO_NO_EXTENSIONS', None)
    env.pop('PYTHONPATH', None)
    columns = []  # (title, timings)
    ours = [sys.executable, '-m', 'bench.codec_demo', '--measure']
    compiled = run_child(ours, env, ROOT)
    if compiled['implementation'] == 'cython':
        columns.append(('compiled', compiled['ns']))
    else:
        print('(the compiled kernels are not built here: `make build` builds them)')
    columns.append(('pure', run_child(ours, dict(env, ENGINEIO_NO_EXTENSIONS='1'),
                                      ROOT)['ns']))
    if REF_PYTHON.exists():
        # -I and the script's own path: sys.path holds neither this work tree
        # nor the script's folder, so `import engineio` is the reference's.
        reference = run_child([str(REF_PYTHON), '-I', __file__, '--measure'],
                              env, Path('/'))
        if reference['implementation'] != 'reference':
            raise RuntimeError('the reference run imported %s' % reference['file'])
        columns.append(('reference', reference['ns']))
    else:
        print('(`make bench` creates .venv-ref; python-engineio 4.15.1 then '
              'shows here too)')

    print()
    print('round trips, ns per operation, each variant in its own process '
          '(fastest of many short batches):')
    titles = [title for title, _ in columns]
    # "A vs B": how many times faster A is than B (B's ns / A's ns)
    ratios = []  # (title, A, B)
    if 'reference' in titles:
        ratios += [('%s vs ref' % t, t, 'reference') for t in titles[:-1]]
    if 'compiled' in titles and 'pure' in titles:
        ratios.append(('compiled vs pure', 'compiled', 'pure'))
    heads = titles + [title for title, _, _ in ratios]
    widths = [max(9, len(head)) for head in heads]
    labels = ['%-11s %s' % (name, description) for name, description in OPERATIONS]
    label_width = max(len(label) for label in labels)
    print('  '.join(['operation'.ljust(label_width)]
                    + [head.rjust(w) for head, w in zip(heads, widths)]))
    timings = dict(columns)
    for label, (name, _) in zip(labels, OPERATIONS):
        cells = ['%.0f' % timings[t][name] for t in titles]
        cells += ['%.1fx' % (timings[b][name] / timings[a][name])
                  for _, a, b in ratios]
        print('  '.join([label.ljust(label_width)]
                        + [c.rjust(w) for c, w in zip(cells, widths)]))
    print()
    if 'reference' in titles:
        print('reference = python-engineio 4.15.1 (.venv-ref).  ', end='')
    print('"A vs B" = how many times faster A is than B.')
    print('`make bench` measures every operation and kernel carefully, pinned '
          'to one core.')


def main(argv: list) -> int:
    if '--measure' in argv:
        print(json.dumps(measure()))
        return 0
    started = time.monotonic()
    tour()
    print()
    print('timing (about ten seconds) ...')
    compare()
    print('(demo took %.0f s)' % (time.monotonic() - started))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
