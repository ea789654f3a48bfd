"""What we ship: the sdist, the wheels, the build switch, cibuildwheel, CI.

The fast tests read the source tree: MANIFEST.in (run through setuptools' own
FileList) ships the kernels' sources, the tests and the benchmarks and nothing
built; setup.py compiles every kernel the selector imports; a bad
``ENGINEIO_BUILD_EXTENSION`` stops the build; ``[tool.cibuildwheel]`` selects
CPython 3.9+ on the platforms we promise, builds strictly and tests compiled;
the workflows run the matrix and publish what they should.  They skip where
the tree is absent (cibuildwheel runs copies of the tests against an installed
wheel) or where a reader (tomllib/tomli, PyYAML, setuptools) is not installed.

Two slower tests (~10 s together) build an sdist from a copy of the tree,
then from that sdist a compiled wheel and the pure wheel, offline (no build
isolation), and check them with ``scripts/check_wheel.py``, the script
release.yml uses; and build from it with ``CC=false`` standing in for a
missing compiler: the default build falls back to a pure wheel, a build with
``ENGINEIO_BUILD_EXTENSION=yes`` fails.  They run on CPython when the
compiled kernels are in play; with ``ENGINEIO_EXPECT_EXTENSIONS=1`` missing
build tools fail them instead of skipping them.
"""
from __future__ import annotations

import fnmatch
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from engineio import _speedups

from .conftest import CPYTHON, EXPECT_EXTENSIONS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEEDUPS = os.path.join(ROOT, 'engineio', '_speedups')
CHECK_WHEEL = os.path.join(ROOT, 'scripts', 'check_wheel.py')
WORKFLOWS = os.path.join(ROOT, '.github', 'workflows')

pytestmark = pytest.mark.skipif(
    not (os.path.isfile(os.path.join(ROOT, 'setup.py')) and
         os.path.isfile(CHECK_WHEEL) and os.path.isdir(SPEEDUPS)),
    reason='needs the source tree (setup.py, scripts/, engineio/_speedups/)')


def load_check_wheel():
    spec = importlib.util.spec_from_file_location('check_wheel', CHECK_WHEEL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding='utf-8') as f:
        return f.read()


def pyproject():
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        tomllib = pytest.importorskip('tomli', reason='reading pyproject.toml '
                                      'needs tomllib (3.11+) or tomli')
    with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
        return tomllib.load(f)


def workflow(name):
    yaml = pytest.importorskip('yaml', reason='reading the workflows needs PyYAML')
    document = yaml.safe_load(read('.github', 'workflows', name))
    # YAML 1.1 reads the key `on` as True
    if True in document:
        document['on'] = document.pop(True)
    return document


def as_list(value):
    if value is None:
        return []
    return value.split() if isinstance(value, str) else list(value)


def strings(node):
    """Every string in a parsed YAML/TOML tree."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def run_commands(job):
    return '\n'.join(step.get('run', '') for step in job.get('steps', []))


# -- setup.py and MANIFEST.in -------------------------------------------------

def test_setup_compiles_every_kernel_the_selector_imports():
    modules = load_check_wheel().compiled_modules(read('setup.py'))
    files = set(os.listdir(SPEEDUPS))
    selector = read('engineio', '_speedups', '__init__.py')
    imported = set(re.findall(r'from \. import (\w+_c) as', selector))
    assert imported, 'the selector imports no compiled module'
    assert set(modules) == imported
    for module in modules:
        stem = module[:-len('_c')]
        # the same .py compiled with an augmenting .pxd, or a .pyx
        assert module + '.pyx' in files or \
            (stem + '.py' in files and module + '.pxd' in files), module
        assert stem + '.py' in files, 'no pure twin for %s' % module
    for name in files:
        if name.endswith(('_c.pxd', '_c.pyx')):
            assert name.rsplit('.', 1)[0] in modules, \
                '%s is not built by setup.py' % name


def copy_tree(destination, tops=('engineio', 'tests', 'bench', '.github',
                                 '.ci', 'scripts')):
    """The source tree without local clutter (what a fresh clone holds)."""
    clutter = shutil.ignore_patterns(
        '__pycache__', 'node_modules', '.hypothesis', '.mypy_cache',
        '.pytest_cache', '.benchmarks', 'results', '*.so', '*.pyd', '*.c',
        '*.o', '*.egg-info')
    os.makedirs(destination)
    for name in os.listdir(ROOT):
        path = os.path.join(ROOT, name)
        if name in tops and os.path.isdir(path):
            shutil.copytree(path, os.path.join(destination, name), ignore=clutter)
        elif os.path.isfile(path) and not name.startswith('.'):
            shutil.copy2(path, destination)
    return destination


#: what a build or a developer leaves in the tree, which no sdist may carry
CLUTTER = [
    'engineio/_speedups/_codec.c',
    'engineio/_speedups/_codec_c.cpython-311-x86_64-linux-gnu.so',
    'engineio/_speedups/_mask_c.cp311-win_amd64.pyd',
    'engineio/__pycache__/packet.cpython-311.pyc',
    'tests/__pycache__/conftest.cpython-311.pyc',
    'tests/js/node_modules/engine.io-parser/package.json',
    'tests/js/node_modules/engine.io-parser/build/cjs/index.js',
    'bench/__pycache__/harness.cpython-311.pyc',
]


def test_manifest_ships_the_build_sources_and_nothing_built(tmp_path,
                                                            monkeypatch):
    egg_info = pytest.importorskip('setuptools.command.egg_info')
    check_wheel = load_check_wheel()
    tree = copy_tree(str(tmp_path / 'tree'))
    for path in CLUTTER:
        full = os.path.join(tree, *path.split('/'))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, 'w') as f:
            f.write('clutter\n')
    monkeypatch.chdir(tree)
    file_list = egg_info.FileList()
    for line in read('MANIFEST.in').splitlines():
        line = line.strip()
        if line and not line.startswith('#'):
            file_list.process_template_line(line)
    shipped = {name.replace(os.sep, '/') for name in file_list.files}

    kernels = [p for p in check_wheel.source_files(
        tree, 'engineio/_speedups', ('.pxd', '.pyx'))]
    assert kernels, 'no .pxd/.pyx found'
    wanted = kernels + check_wheel.source_files(
        tree, 'engineio', ('.py', '.pyi', 'py.typed'))
    wanted += check_wheel.source_files(tree, 'tests', ('.py', '.js'))
    wanted += check_wheel.source_files(tree, 'bench', ('.py', '.md', '.json'))
    wanted += check_wheel.source_files(tree, 'scripts', ('.py',))
    wanted += check_wheel.source_files(tree, '.github', ('.yml',))
    wanted += ['setup.py', 'pyproject.toml', 'README.md', 'LICENSE',
               'Makefile', 'tests/js/package.json', 'tests/js/package-lock.json']
    assert sorted(set(wanted) - shipped) == []
    assert sorted(set(CLUTTER) & shipped) == []


# -- the build switch ---------------------------------------------------------

def run_setup(value, *args):
    if importlib.util.find_spec('setuptools') is None:
        pytest.skip('setuptools is not installed')
    env = dict(os.environ, ENGINEIO_BUILD_EXTENSION=value)
    return subprocess.run([sys.executable, 'setup.py'] + list(args), cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize('value', ['bogus', 'on'])
def test_a_bad_build_switch_stops_the_build(value):
    result = run_setup(value, '--name')
    assert result.returncode != 0
    assert 'ENGINEIO_BUILD_EXTENSION must be yes or no, not %r' % value \
        in result.stderr


@pytest.mark.parametrize('value', ['no', ' FALSE ', '0'])
def test_the_build_switch_off_builds_nothing(value):
    # "off" returns before Cython is even imported: nothing is written
    result = run_setup(value, '--name')
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['engineio-accel']


@pytest.mark.skipif(CPYTHON, reason='on CPython this would compile')
def test_required_extensions_fail_off_cpython():
    result = run_setup('yes', '--name')
    assert result.returncode != 0
    assert 'can only be built on CPython' in result.stderr


# -- [tool.cibuildwheel] ------------------------------------------------------

PYTHONS = ['39', '310', '311', '312', '313', '314']
PLATFORMS = {
    'linux': ['manylinux_x86_64', 'manylinux_aarch64', 'musllinux_x86_64'],
    'macos': ['macosx_x86_64', 'macosx_arm64'],
    'windows': ['win_amd64'],
}
ARCHS = {'linux': {'x86_64', 'aarch64'}, 'macos': {'x86_64', 'arm64'},
         'windows': {'AMD64'}}
NOT_BUILT = [
    'pp39-manylinux_x86_64', 'pp310-macosx_arm64', 'pp311-win_amd64',
    'gp311_242-manylinux_x86_64', 'cp313t-manylinux_x86_64',
    'cp314t-macosx_arm64', 'cp315t-win_amd64', 'cp38-manylinux_x86_64',
    'cp312-musllinux_aarch64',
]


def selected(config, identifier):
    build = as_list(config.get('build', '*'))
    skip = as_list(config.get('skip', ''))
    return any(fnmatch.fnmatchcase(identifier, p) for p in build) and \
        not any(fnmatch.fnmatchcase(identifier, p) for p in skip)


def test_cibuildwheel_selects_cpython_39_and_later_on_our_platforms():
    config = pyproject()['tool']['cibuildwheel']
    for python in PYTHONS:
        for platform_tags in PLATFORMS.values():
            for tag in platform_tags:
                identifier = 'cp%s-%s' % (python, tag)
                assert selected(config, identifier), identifier
    for identifier in NOT_BUILT:
        assert not selected(config, identifier), identifier
    assert not {'pypy', 'pypy-eol', 'graalpy'} & set(as_list(config.get('enable')))
    for platform_name, archs in ARCHS.items():
        assert set(as_list(config[platform_name]['archs'])) == archs


def test_cibuildwheel_builds_strictly_and_tests_compiled():
    config = pyproject()['tool']['cibuildwheel']
    # a wheel that lost its extensions must fail to build, on every platform
    # (a platform table's environment replaces the global one)
    assert config['environment']['ENGINEIO_BUILD_EXTENSION'] == 'yes'
    for platform_name in PLATFORMS:
        environment = config.get(platform_name, {}).get('environment')
        if environment is not None:
            assert environment.get('ENGINEIO_BUILD_EXTENSION') == 'yes'
    assert config['test-environment']['ENGINEIO_EXPECT_EXTENSIONS'] == '1'
    command = config['test-command']
    if isinstance(command, list):
        command = ' && '.join(command)
    assert 'scripts/check_wheel.py installed --expect cython' in command
    assert 'pytest' in command
    # the files it names are among the test sources, and exist
    sources = as_list(config['test-sources'])
    for source in sources:
        assert os.path.exists(os.path.join(ROOT, source)), source
    named = re.findall(r'(?:tests|scripts)/[\w/]+\.py', command)
    assert 'tests/test_speedups_selection.py' in named
    for path in named:
        assert os.path.isfile(os.path.join(ROOT, path)), path
        assert any(path == s or path.startswith(s.rstrip('/') + '/')
                   for s in sources), '%s is not copied by test-sources' % path
    # the subset needs no Node (cibuildwheel's containers have none)
    assert 'test_js_parser_interop' not in command
    requires = {re.split(r'[<>=!~; \[]', r, 1)[0].lower()
                for r in as_list(config['test-requires'])}
    assert {'pytest', 'hypothesis'} <= requires
    # no wheel goes untested
    assert not any(fnmatch.fnmatchcase('cp312-manylinux_x86_64', p)
                   for p in as_list(config.get('test-skip')))


# -- the workflows ------------------------------------------------------------

def test_the_test_workflow_runs_the_whole_matrix():
    document = workflow('tests.yml')
    jobs = document['jobs']
    assert {'push', 'pull_request'} <= set(document['on'])
    values = set(strings({name: job.get('strategy', {})
                          for name, job in jobs.items()}))
    assert {'3.9', '3.10', '3.11', '3.12', '3.13', 'pypy3.9', 'pypy3.10'} <= values
    compiled = jobs['compiled']['strategy']['matrix']
    assert {'ubuntu-latest', 'macos-latest', 'windows-latest'} <= set(compiled['os'])
    assert {'3.9', '3.10', '3.11', '3.12', '3.13'} <= set(compiled['python'])
    text = read('.github', 'workflows', 'tests.yml')
    for variable in ('ENGINEIO_EXPECT_EXTENSIONS', 'ENGINEIO_NO_EXTENSIONS',
                     'ENGINEIO_BUILD_EXTENSION'):
        assert variable in text
    compiled_env = {}
    for step in jobs['compiled']['steps']:
        compiled_env.update(step.get('env', {}))
    assert compiled_env.get('ENGINEIO_EXPECT_EXTENSIONS') == '1'
    assert compiled_env.get('ENGINEIO_BUILD_EXTENSION') == 'yes'
    for name, job in jobs.items():
        if 'pytest' not in run_commands(job):
            continue
        # the JavaScript interop tests fail under CI without their peers
        steps = job['steps']
        assert any(s.get('uses', '').startswith('actions/setup-node')
                   for s in steps), name
        assert any('npm ci' in s.get('run', '') and
                   s.get('working-directory') == 'tests/js' for s in steps), name


def test_the_release_workflow_builds_everything_and_publishes_on_tags():
    document = workflow('release.yml')
    jobs = document['jobs']
    assert document['on']['push']['tags'] == ['v*']
    assert document['permissions'] == {'contents': 'read'}
    wheels = jobs['wheels']
    uses = [s.get('uses', '') for s in wheels['steps']]
    assert any(u.startswith('pypa/cibuildwheel@') for u in uses)
    assert any(u.startswith('docker/setup-qemu-action@') for u in uses)
    archs = {entry['archs'] for entry in wheels['strategy']['matrix']['include']}
    assert archs == {'x86_64', 'aarch64', 'arm64', 'AMD64'}
    assert 'build --sdist' in run_commands(jobs['sdist'])
    pure = jobs['pure-wheel']
    assert 'build --wheel' in run_commands(pure)
    assert any(s.get('env', {}).get('ENGINEIO_BUILD_EXTENSION') == 'no'
               for s in pure['steps'])
    assert '--expect python' in run_commands(pure)
    publish = jobs['publish']
    assert set(publish['needs']) == {'wheels', 'sdist', 'pure-wheel'}
    assert "startsWith(github.ref, 'refs/tags/v')" in publish['if']
    assert publish['permissions'] == {'id-token': 'write'}
    assert any(s.get('uses', '').startswith('pypa/gh-action-pypi-publish@')
               for s in publish['steps'])
    assert 'check_wheel.py tag' in run_commands(publish)


def test_workflows_use_only_what_exists():
    extras = set(pyproject()['project']['optional-dependencies'])
    subcommands = set(re.findall(r"add_parser\('(\w+)'",
                                 read('scripts', 'check_wheel.py')))
    assert {'wheel', 'sdist', 'installed', 'tag'} <= subcommands
    for name in sorted(os.listdir(WORKFLOWS)):
        text = read('.github', 'workflows', name)
        for used in re.findall(r'\.\[([\w,-]+)\]', text):
            assert set(used.split(',')) <= extras, (name, used)
        for used in re.findall(r'check_wheel\.py"? (\w+)', text):
            assert used in subcommands, (name, used)


# -- scripts/check_wheel.py ---------------------------------------------------

def test_check_wheel_rejects_what_must_not_ship():
    check_wheel = load_check_wheel()
    good = [n for n in check_wheel.source_files(
        ROOT, 'engineio', ('.py', '.pyi', 'py.typed'))]
    modules = check_wheel.compiled_modules(read('setup.py'))
    binaries = ['engineio/_speedups/%s.cpython-311-x86_64-linux-gnu.so' % m
                for m in modules]
    meta = ['engineio_accel-1.0.dist-info/METADATA']
    binary_tags = 'Root-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n'
    pure_tags = 'Root-Is-Purelib: true\nTag: py3-none-any\n'

    def problems(names, expect, tags):
        return check_wheel.wheel_problems(names, expect, ROOT, tags)

    assert problems(good + binaries + meta, 'cython', binary_tags) == []
    assert problems(good + meta, 'python', pure_tags) == []
    assert problems(good + binaries[1:] + meta, 'cython', binary_tags)
    assert problems(good + binaries + meta, 'python', pure_tags)
    assert problems(good + meta, 'python', binary_tags)
    assert problems(good + binaries + meta, 'cython', pure_tags)
    assert problems(good[1:] + binaries + meta, 'cython', binary_tags)
    for junk in ('engineio/_speedups/_codec.c', 'engineio/_speedups/_mask_c.pyx',
                 'engineio/_speedups/_codec_c.pxd', 'tests/test_packet.py',
                 'engineio/__pycache__/json.cpython-311.pyc'):
        assert problems(good + binaries + meta + [junk], 'cython', binary_tags)
    # what a repair tool vendors is not ours to refuse
    assert problems(good + binaries + meta +
                    ['engineio_accel.libs/msvcp140-1234.dll'],
                    'cython', binary_tags) == []


def test_check_wheel_checks_release_tags():
    check_wheel = load_check_wheel()
    version = check_wheel.source_version(ROOT)
    import engineio
    assert version == engineio.__version__
    assert check_wheel.tag_problems('v' + version, ROOT) == []
    assert check_wheel.tag_problems(version, ROOT)
    assert check_wheel.tag_problems('v' + version + '.1', ROOT)


# -- an sdist, and the wheels built from it -----------------------------------

def build_tools_problem():
    if importlib.util.find_spec('Cython') is None:
        return 'Cython is not installed'
    try:
        from importlib.metadata import version
        setuptools_version = version('setuptools')
    except Exception:  # noqa: BLE001 - not installed, or no metadata
        return 'setuptools is not installed'
    major_minor = tuple(int(p) for p in re.findall(r'\d+', setuptools_version)[:2])
    if major_minor < (70, 1) and importlib.util.find_spec('wheel') is None:
        return ('setuptools %s needs the `wheel` package to build wheels '
                '(70.1+ does not)' % setuptools_version)
    return None


def build(hook, source, outdir, **env):
    """Run a PEP 517 hook of setuptools in ``source``, offline; the file name."""
    environment = dict(os.environ)
    for name in ('ENGINEIO_BUILD_EXTENSION', 'ENGINEIO_NO_EXTENSIONS'):
        environment.pop(name, None)
    environment.update(env)
    code = ('import sys\nfrom setuptools import build_meta\n'
            'print(build_meta.%s(sys.argv[1]))' % hook)
    result = subprocess.run([sys.executable, '-c', code, str(outdir)],
                            cwd=str(source), env=environment,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return os.path.join(str(outdir), result.stdout.split()[-1])


def unpack_sdist(sdist, destination):
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, 'data_filter'):
            archive.extractall(str(destination), filter='data')
        else:
            archive.extractall(str(destination))
    (top,) = os.listdir(str(destination))
    return os.path.join(str(destination), top)


#: CPython only (PyPy builds no extension), and not under
#: ENGINEIO_NO_EXTENSIONS=1 (the compiled run covers it once)
compiled_run_only = pytest.mark.skipif(
    not CPYTHON or _speedups.NO_EXTENSIONS,
    reason='builds run in the compiled run on CPython only')


@pytest.fixture(scope='module')
def sdist(tmp_path_factory):
    """``(sdist, tree)``: an sdist built from a clean copy of the tree."""
    problem = build_tools_problem()
    if problem:
        message = 'cannot build wheels offline here: %s (the [dev] extra ' \
            'installs what is needed)' % problem
        if EXPECT_EXTENSIONS:
            pytest.fail(message)
        pytest.skip(message)
    tmp_path = tmp_path_factory.mktemp('sdist')
    tree = copy_tree(str(tmp_path / 'tree'))
    return build('build_sdist', tree, tmp_path / 'dist'), tree


@compiled_run_only
def test_sdist_builds_a_compiled_wheel_and_the_pure_one(sdist, tmp_path):
    check_wheel = load_check_wheel()
    sdist, tree = sdist
    assert check_wheel.sdist_problems(check_wheel.sdist_names(sdist), tree) == []

    # compiled, from the sdist, strictly (-O0: this checks files, not speed)
    source = unpack_sdist(sdist, tmp_path / 'compiled-src')
    wheel = build('build_wheel', source, tmp_path / 'compiled',
                  ENGINEIO_BUILD_EXTENSION='yes', CFLAGS='-O0 -g0')
    assert check_wheel.check_wheel(wheel, 'cython', tree) == []

    # and the wheel's kernels load: import it from an unpacked copy, with any
    # editable install of this tree out of the way
    site = tmp_path / 'site'
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(str(site))
    code = (
        'import sys\n'
        'sys.meta_path[:] = [f for f in sys.meta_path if not '
        'type(f).__module__.startswith("__editable__")]\n'
        'sys.path.insert(0, sys.argv[1])\n'
        'import engineio, engineio._speedups as s\n'
        'print(s.IMPLEMENTATION, engineio.__file__)\n')
    env = dict(os.environ)
    env.pop('ENGINEIO_NO_EXTENSIONS', None)
    output = subprocess.run([sys.executable, '-c', code, str(site)],
                            cwd=str(tmp_path), env=env, check=True,
                            capture_output=True, text=True).stdout.split()
    assert output[0] == 'cython'
    assert os.path.normcase(os.path.realpath(output[1])).startswith(
        os.path.normcase(os.path.realpath(str(site))))

    # the pure wheel, from the same sdist
    source = unpack_sdist(sdist, tmp_path / 'pure-src')
    wheel = build('build_wheel', source, tmp_path / 'pure',
                  ENGINEIO_BUILD_EXTENSION='no')
    assert wheel.endswith('-py3-none-any.whl')
    assert check_wheel.check_wheel(wheel, 'python', tree) == []


@compiled_run_only
@pytest.mark.skipif(os.name == 'nt', reason='MSVC does not read CC')
def test_without_a_compiler_the_build_falls_back_unless_required(sdist,
                                                                  tmp_path):
    false = shutil.which('false')
    if false is None:
        pytest.skip('no `false` command to stand in for a compiler')
    check_wheel = load_check_wheel()
    sdist, tree = sdist
    source = unpack_sdist(sdist, tmp_path / 'src')
    # optional (the default): every kernel fails to compile, the build goes on
    wheel = build('build_wheel', source, tmp_path / 'optional', CC=false)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    # no compiled module, every pure one (tagged for this platform all the
    # same: setuptools tags by what was attempted)
    assert check_wheel.wheel_problems(names, 'python', tree) == []
    # required: the same build fails
    environment = dict(os.environ, CC=false, ENGINEIO_BUILD_EXTENSION='yes')
    environment.pop('ENGINEIO_NO_EXTENSIONS', None)
    result = subprocess.run(
        [sys.executable, '-c', 'import sys\nfrom setuptools import build_meta\n'
         'build_meta.build_wheel(sys.argv[1])', str(tmp_path / 'required')],
        cwd=source, env=environment, capture_output=True, text=True,
        timeout=600)
    assert result.returncode != 0
    assert not os.path.exists(str(tmp_path / 'required')) or \
        not os.listdir(str(tmp_path / 'required'))
