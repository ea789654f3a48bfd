"""Build script: the optional Cython kernels under engineio/_speedups/.

Everything declarative lives in pyproject.toml; this file only decides which
extension modules to build.

ENGINEIO_BUILD_EXTENSION
    ``yes``  the extensions are required: a missing Cython or compiler fails the build.
    ``no``   build none (a pure install, as on PyPy).
    unset    build them if possible, and fall back to a pure install otherwise.

Each kernel ``engineio/_speedups/<name>.py`` is compiled, unchanged, into the
sibling module ``<name>_c`` (typed by ``<name>_c.pxd``); ``*_c.pyx`` files are
kernels whose compiled algorithm differs from the pure one.  Generated C goes to
build/cython, so neither the source tree nor a wheel carries ``.c`` files.
"""
import os
import platform
import sys

from setuptools import Extension, setup

SPEEDUPS = os.path.join('engineio', '_speedups')
COMPILED_FROM_PY = ['_codec', '_compression', '_query', '_websocket']
COMPILED_FROM_PYX = ['_mask_c']


def build_mode():
    value = os.environ.get('ENGINEIO_BUILD_EXTENSION', '').strip().lower()
    if value in ('yes', 'y', 'true', '1'):
        return 'required'
    if value in ('no', 'n', 'false', '0'):
        return 'off'
    if value:
        sys.exit('ENGINEIO_BUILD_EXTENSION must be yes or no, not %r' % value)
    return 'optional'


def forget_stale_c(name, build_dir):
    """Delete the generated C of kernel ``name`` if its ``.pxd`` is newer.

    Cython only tracks a ``.pxd`` named like the source (``_codec.pxd``); ours
    are named after the compiled module (``_codec_c.pxd``), so an edit to one
    would otherwise leave a stale C file in place.
    """
    pxd = os.path.join(SPEEDUPS, name + '_c.pxd')
    c_file = os.path.join(build_dir, SPEEDUPS, name + '.c')
    if os.path.exists(c_file) and os.path.exists(pxd) and \
            os.path.getmtime(pxd) > os.path.getmtime(c_file):
        os.remove(c_file)


def extensions():
    mode = build_mode()
    if mode == 'off':
        return []
    if platform.python_implementation() != 'CPython':
        if mode == 'required':
            sys.exit('the Cython extensions can only be built on CPython')
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        if mode == 'required':
            raise
        print('warning: Cython is not installed, building engineio without '
              'its compiled kernels', file=sys.stderr)
        return []
    optional = mode == 'optional'
    build_dir = os.path.join('build', 'cython')
    for name in COMPILED_FROM_PY:
        forget_stale_c(name, build_dir)
    modules = [
        Extension('engineio._speedups.%s_c' % name,
                  [os.path.join(SPEEDUPS, name + '.py')], optional=optional)
        for name in COMPILED_FROM_PY
    ] + [
        Extension('engineio._speedups.%s' % name,
                  [os.path.join(SPEEDUPS, name + '.pyx')], optional=optional)
        for name in COMPILED_FROM_PYX
    ]
    compiled = cythonize(
        modules,
        build_dir=build_dir,
        compiler_directives={'language_level': 3},
        quiet=True,
    )
    # cythonize() hands back new Extension objects without `optional`: put it
    # back, or a machine without a C compiler fails the build instead of
    # getting a pure install.
    for extension in compiled:
        extension.optional = optional
    return compiled


setup(ext_modules=extensions())
