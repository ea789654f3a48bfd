#!/usr/bin/env python3
"""Check what we ship: a wheel's files, an sdist's files, or an installed engineio.

    python scripts/check_wheel.py wheel DIST.whl --expect cython|python
    python scripts/check_wheel.py sdist DIST.tar.gz
    python scripts/check_wheel.py installed --expect cython|python
    python scripts/check_wheel.py tag v1.2.3

``wheel``      a binary wheel (``--expect cython``) carries every compiled kernel
               setup.py builds, is tagged for a platform, and carries no ``.c``,
               ``.pyx`` or ``.pxd``; the pure wheel (``--expect python``) is
               ``py3-none-any`` with no compiled module at all.  Both carry every
               ``engineio/**/*.py`` and ``*.pyi`` of the source tree and nothing
               outside ``engineio/`` and the dist-info.
``sdist``      carries what a wheel is built from (setup.py, pyproject.toml, the
               kernels' ``.py``/``.pxd``/``.pyx``), the tests and the benchmarks, and
               no generated C, compiled module or ``node_modules``.
``installed``  the engineio this interpreter imports comes from site-packages (not
               a source tree), has the distribution's version, and runs the expected
               implementation, every kernel of it.  cibuildwheel's test-command runs
               this against each wheel it builds.
``tag``        a release tag is ``v`` + ``engineio.__version__`` (release.yml
               refuses to publish otherwise).

Exit status 0 when every check passes, 1 with the problems listed otherwise.
Runs on Python 3.9+ and PyPy; tests/test_packaging.py imports it.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
import tarfile
import zipfile
from typing import Dict, Iterable, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DISTRIBUTION = 'engineio-accel'
PACKAGE = 'engineio'
SPEEDUPS = 'engineio/_speedups'
COMPILED_SUFFIXES = ('.so', '.pyd', '.dylib', '.dll')
#: never in a wheel: Cython sources and generated C
SOURCE_ONLY = ('.c', '.h', '.pyx', '.pxd', '.pxi')
#: never in an sdist: build products and local clutter
NOT_IN_SDIST = ('.c', '.so', '.pyd', '.pyc', '.pyo', '.o', '.whl')


def compiled_modules(setup_source: str) -> List[str]:
    """The extension modules setup.py builds, e.g. ``['_codec_c', '_mask_c']``.

    Read from its ``COMPILED_FROM_PY`` (``<name>.py`` compiled as ``<name>_c``)
    and ``COMPILED_FROM_PYX`` (``<name>.pyx`` compiled as ``<name>``) lists.
    """
    lists: Dict[str, List[str]] = {}
    for node in ast.parse(setup_source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name) and \
                node.targets[0].id in ('COMPILED_FROM_PY', 'COMPILED_FROM_PYX'):
            lists[node.targets[0].id] = list(ast.literal_eval(node.value))
    if set(lists) != {'COMPILED_FROM_PY', 'COMPILED_FROM_PYX'}:
        raise ValueError('setup.py no longer defines COMPILED_FROM_PY and '
                         'COMPILED_FROM_PYX as literal lists')
    return sorted([name + '_c' for name in lists['COMPILED_FROM_PY']] +
                  lists['COMPILED_FROM_PYX'])


def source_files(root: str, top: str, suffixes: Iterable[str]) -> List[str]:
    """Files under ``root/top`` with one of ``suffixes``, as ``/``-separated
    paths relative to ``root`` (caches and node_modules left out)."""
    suffixes = tuple(suffixes)
    found = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
        dirnames[:] = [d for d in dirnames if d not in (
            '__pycache__', 'node_modules', '.hypothesis', '.benchmarks')]
        for filename in filenames:
            if filename.endswith(suffixes):
                path = os.path.relpath(os.path.join(dirpath, filename), root)
                found.append(path.replace(os.sep, '/'))
    return sorted(found)


def _compiled_module_name(path: str) -> Optional[str]:
    """``'_codec_c'`` for ``engineio/_speedups/_codec_c.cpython-311-x86_64-linux-gnu.so``."""
    directory, _, filename = path.rpartition('/')
    if directory != SPEEDUPS or not filename.endswith(COMPILED_SUFFIXES):
        return None
    return filename.split('.', 1)[0]


def wheel_problems(names: List[str], expect: str, root: str = ROOT,
                   wheel_metadata: Optional[str] = None) -> List[str]:
    """What is wrong with a wheel holding the files ``names``.

    ``expect`` is ``'cython'`` (a binary wheel) or ``'python'`` (the pure one);
    ``wheel_metadata`` is the text of its ``*.dist-info/WHEEL``.
    """
    problems = []
    names_set = set(names)
    dist_info = [n for n in names if n.split('/', 1)[0].endswith('.dist-info')]
    # libraries a repair tool vendored (auditwheel and delvewheel:
    # engineio_accel.libs/, delocate: engineio/.dylibs/); the kernels link
    # nothing but the C runtime, so normally there are none
    names = [n for n in names if not n.split('/', 1)[0].endswith('.libs')
             and not n.startswith(PACKAGE + '/.dylibs/')]
    for name in names:
        top = name.split('/', 1)[0]
        if top != PACKAGE and not top.endswith('.dist-info'):
            problems.append('outside the package: %s' % name)
        if name.endswith(SOURCE_ONLY):
            problems.append('a build source in the wheel: %s' % name)
        if '__pycache__' in name or name.endswith(('.pyc', '.pyo')):
            problems.append('bytecode in the wheel: %s' % name)
    with open(os.path.join(root, 'setup.py')) as f:
        kernels = compiled_modules(f.read())
    built = sorted(filter(None, (_compiled_module_name(n) for n in names)))
    stray = [n for n in names if n.endswith(COMPILED_SUFFIXES) and
             _compiled_module_name(n) is None]
    problems.extend('a compiled file outside %s: %s' % (SPEEDUPS, n)
                    for n in stray)
    if expect == 'cython':
        for kernel in kernels:
            if kernel not in built:
                problems.append('compiled kernel missing: %s/%s' % (SPEEDUPS, kernel))
        for module in built:
            if module not in kernels:
                problems.append('unexpected compiled module: %s' % module)
    elif built:
        problems.append('compiled modules in the pure wheel: %s' % ', '.join(built))
    for path in source_files(root, PACKAGE, ('.py', '.pyi', 'py.typed')):
        if path not in names_set:
            problems.append('missing from the wheel: %s' % path)
    if not any(n.endswith('.dist-info/METADATA') for n in dist_info):
        problems.append('no .dist-info/METADATA')
    if wheel_metadata is not None:
        fields = [line.split(':', 1) for line in wheel_metadata.splitlines()
                  if ':' in line]
        purelib = [v.strip() for k, v in fields if k == 'Root-Is-Purelib']
        tags = [v.strip() for k, v in fields if k == 'Tag']
        if expect == 'cython':
            if purelib != ['false']:
                problems.append('binary wheel with Root-Is-Purelib %s' % purelib)
            if not tags or any(t.endswith('-any') for t in tags):
                problems.append('binary wheel tagged %s' % tags)
        else:
            if purelib != ['true']:
                problems.append('pure wheel with Root-Is-Purelib %s' % purelib)
            if tags != ['py3-none-any']:
                problems.append('pure wheel tagged %s, not py3-none-any' % tags)
    return problems


def check_wheel(path: str, expect: str, root: str = ROOT) -> List[str]:
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        metadata = [n for n in names if n.endswith('.dist-info/WHEEL')]
        wheel_metadata = wheel.read(metadata[0]).decode() if metadata else None
    problems = wheel_problems(names, expect, root, wheel_metadata)
    if wheel_metadata is None:
        problems.append('no .dist-info/WHEEL')
    filename = os.path.basename(path)
    if not filename.startswith('engineio_accel-'):
        problems.append('not named after the distribution: %s' % filename)
    if expect == 'python' and not filename.endswith('-py3-none-any.whl'):
        problems.append('the pure wheel is not py3-none-any: %s' % filename)
    if expect == 'cython' and filename.endswith('-none-any.whl'):
        problems.append('a binary wheel named as pure: %s' % filename)
    return problems


def sdist_problems(names: List[str], root: str = ROOT) -> List[str]:
    """What is wrong with an sdist holding the files ``names`` (paths with
    the ``<name>-<version>/`` prefix already removed)."""
    problems = []
    names_set = set(names)
    required = ['setup.py', 'pyproject.toml', 'MANIFEST.in', 'README.md',
                'LICENSE', 'PKG-INFO', 'Makefile',
                'tests/js/package.json', 'tests/js/package-lock.json']
    required += source_files(root, PACKAGE, ('.py', '.pxd', '.pyx', '.pyi', 'py.typed'))
    required += source_files(root, 'tests', ('.py', '.js'))
    required += source_files(root, 'bench', ('.py', '.md', '.json'))
    required += source_files(root, 'scripts', ('.py',))
    required += source_files(root, '.github', ('.yml',))
    if os.path.isfile(os.path.join(root, '.ci', 'run')):
        required.append('.ci/run')
    for path in required:
        if path not in names_set:
            problems.append('missing from the sdist: %s' % path)
    for name in names:
        if name.endswith(NOT_IN_SDIST) or '/node_modules/' in '/' + name or \
                '__pycache__' in name or name.startswith(('.venv', 'build/')):
            problems.append('does not belong in the sdist: %s' % name)
    if not any(n.endswith('.pyx') for n in names):
        problems.append('no .pyx in the sdist')
    if not any(n.endswith('.pxd') for n in names):
        problems.append('no .pxd in the sdist')
    return problems


def sdist_names(path: str) -> List[str]:
    with tarfile.open(path) as sdist:
        members = [m.name for m in sdist.getmembers() if m.isfile()]
    return sorted(m.split('/', 1)[1] for m in members if '/' in m)


def installed_problems(expect: str) -> List[str]:
    """What is wrong with the engineio this interpreter imports."""
    import sysconfig
    from importlib import metadata

    import engineio
    from engineio import _speedups

    problems = []
    location = os.path.realpath(os.path.dirname(engineio.__file__))
    site = {os.path.realpath(sysconfig.get_paths()[k])
            for k in ('purelib', 'platlib')}
    if not any(location.startswith(s + os.sep) for s in site):
        problems.append('engineio imported from %s, not from site-packages %s'
                        % (location, sorted(site)))
    version = metadata.version(DISTRIBUTION)
    if engineio.__version__ != version:
        problems.append('engineio.__version__ %s, distribution %s %s'
                        % (engineio.__version__, DISTRIBUTION, version))
    if _speedups.IMPLEMENTATION != expect:
        problems.append('engineio._speedups.IMPLEMENTATION is %r, expected %r'
                        % (_speedups.IMPLEMENTATION, expect))
    kernels = [getattr(_speedups, n) for n in _speedups.__all__
               if hasattr(getattr(_speedups, n), '__file__')]
    if not kernels:
        problems.append('engineio._speedups exports no kernel module')
    for module in kernels:
        compiled = module.__file__.endswith(COMPILED_SUFFIXES)
        if compiled != (expect == 'cython'):
            problems.append('kernel %s is %s' % (module.__name__, module.__file__))
    print('engineio %s from %s: %s (%s)' % (
        engineio.__version__, location, _speedups.IMPLEMENTATION,
        ', '.join(os.path.basename(m.__file__) for m in kernels)))
    return problems


def source_version(root: str = ROOT) -> str:
    """``__version__`` as engineio/_version.py assigns it."""
    with open(os.path.join(root, PACKAGE, '_version.py')) as f:
        for node in ast.parse(f.read()).body:
            if isinstance(node, ast.Assign) and \
                    [getattr(t, 'id', None) for t in node.targets] == ['__version__']:
                return str(ast.literal_eval(node.value))
    raise ValueError('engineio/_version.py assigns no __version__')


def tag_problems(tag: str, root: str = ROOT) -> List[str]:
    """A release tag must be ``v`` + the version the package says it is."""
    expected = 'v' + source_version(root)
    if tag != expected:
        return ['tag %r does not name version %s (expected %r)'
                % (tag, expected[1:], expected)]
    return []


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    wheel = sub.add_parser('wheel', help="check a wheel's files")
    wheel.add_argument('path')
    wheel.add_argument('--expect', choices=('cython', 'python'), required=True)
    wheel.add_argument('--source', default=ROOT,
                       help='the source tree it was built from (default: %(default)s)')
    sdist = sub.add_parser('sdist', help="check an sdist's files")
    sdist.add_argument('path')
    sdist.add_argument('--source', default=ROOT)
    installed = sub.add_parser('installed', help='check the installed engineio')
    installed.add_argument('--expect', choices=('cython', 'python'), required=True)
    tag = sub.add_parser('tag', help='check a release tag against __version__')
    tag.add_argument('tag')
    tag.add_argument('--source', default=ROOT)
    args = parser.parse_args(argv)

    if args.command == 'wheel':
        problems = check_wheel(args.path, args.expect, args.source)
        with zipfile.ZipFile(args.path) as whl:
            infos = [i for i in whl.infolist() if not i.is_dir()]
        print('%s: %d files, %d bytes' % (
            os.path.basename(args.path), len(infos), os.path.getsize(args.path)))
        for info in infos:
            print('  %9d  %s' % (info.file_size, info.filename))
    elif args.command == 'sdist':
        names = sdist_names(args.path)
        problems = sdist_problems(names, args.source)
        print('%s: %d files, %d bytes' % (
            os.path.basename(args.path), len(names), os.path.getsize(args.path)))
    elif args.command == 'tag':
        problems = tag_problems(args.tag, args.source)
    else:
        problems = installed_problems(args.expect)
    for problem in problems:
        print('PROBLEM: ' + problem)
    print('%s: %s' % (args.command, 'FAILED' if problems else 'OK'))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
