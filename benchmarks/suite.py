"""The collection against the tools users would otherwise use, side by side in one run, on one real registry
(registry:2, TLS + htpasswd), directly and through a proxy that adds network latency.

    make bench                          # or: python benchmarks/suite.py [--latency 0 20] [--cases retag index ...]

Cases (each tool gets a repository of its own, with the same images):
  retag      12 tags of a release (4 aliases x (2 architectures + index)) on images already pushed
  index      one multi-arch index of two pushed images
  disk       an OCI layout of about 200 MB (5 layers): first push, rerun, push to a sibling repository
  retention  planning a 5,000-tag repository
  release    a whole release, 7 services x 2 architectures, from images in the Docker engine

Times are wall times of the commands a user runs; for ansible-playbook, the time of its tasks (the json callback's),
with the whole command's wall time beside it (Ansible's start-up is about 1.2 s here). Requests come from
the registry's access log, bytes sent from the proxy. Results go to benchmarks/results/results.json, and a table of
ratios (peer time / this collection's time, in the same run) is printed.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from tests.conftest import ROOT  # noqa: E402  (makes the collection importable)
from tests.support.ansible import AnsibleRunner, install_collection  # noqa: E402
from tests.support.images import make_layout  # noqa: E402
from tests.support.registry import TestRegistry  # noqa: E402
from latency_proxy import LatencyProxy  # noqa: E402
from retention_plan import RULES, seed  # noqa: E402

ARCHES = ('amd64', 'arm64')
ALIASES = ('v3.0.0', 'v3.0', 'v3', 'latest')
WRITES = ('PUT', 'POST', 'PATCH', 'DELETE')


def sh(*args, env=None, stdin=None):
    proc = subprocess.run(list(args), capture_output=True, text=True, env=env, input=stdin, check=False)
    if proc.returncode != 0:
        raise RuntimeError('%s failed (rc %d): %s' % (' '.join(args[:3]), proc.returncode, (proc.stderr or proc.stdout)[-2000:]))
    return proc.stdout


def task_seconds(run):
    """The time the tasks of an ansible-playbook run took (json callback), without Ansible's start-up."""
    total = 0.0
    for play in run.data['plays']:
        for task in play['tasks']:
            duration = task['task']['duration']
            start, end = (datetime.datetime.fromisoformat(duration[k].replace('Z', '+00:00')) for k in ('start', 'end'))
            total += (end - start).total_seconds()
    return total


class Bench(object):
    """The registry, a latency proxy in front of it, logged-in clients, and the measurements."""

    def __init__(self, workdir, latency_ms):
        self.workdir = workdir
        self.latency_ms = latency_ms
        self.registry = None
        self.proxy = None
        self.results = []

    def start(self, ansible):
        # Docker treats 127.0.0.0/8 as insecure (and its CLI then speaks plain HTTP to push a manifest list): the
        # clients reach the proxy on this host's first non-loopback address, which the registry's certificate names.
        address = sh('hostname', '-I').split()[0]
        self.registry = TestRegistry(os.path.join(self.workdir, 'registry'), ips=[address]).start()
        self.proxy = LatencyProxy(('127.0.0.1', self.registry.port), self.latency_ms / 2000.0, listen=address).start()
        self.endpoint = '%s:%d' % (address, self.proxy.port)
        self.ansible = ansible
        # Docker (CLI and engine): logged in through the proxy, trusting the registry's CA.
        self.certs_d = '/etc/docker/certs.d/%s' % self.endpoint
        os.makedirs(self.certs_d, exist_ok=True)
        shutil.copy(self.registry.ca_path, os.path.join(self.certs_d, 'ca.crt'))
        self.docker_config = os.path.join(self.workdir, 'docker-config')
        os.makedirs(self.docker_config, exist_ok=True)
        sh('docker', '--config', self.docker_config, 'login', '-u', self.registry.username, '--password-stdin', self.endpoint,
           stdin=self.registry.password)
        self.certs = os.path.join(self.workdir, 'skopeo-certs')
        os.makedirs(self.certs, exist_ok=True)
        shutil.copy(self.registry.ca_path, os.path.join(self.certs, 'ca.crt'))
        self.conn = {'registry': self.endpoint, 'username': self.registry.username, 'password': self.registry.password,
                     'ca_path': self.registry.ca_path}
        return self

    def stop(self):
        shutil.rmtree(getattr(self, 'certs_d', ''), ignore_errors=True)
        if self.proxy:
            self.proxy.stop()
        if self.registry:
            self.registry.stop()

    def docker(self, *args):
        return sh('docker', '--config', self.docker_config, *args)

    def skopeo(self, *args):
        creds = '%s:%s' % (self.registry.username, self.registry.password)
        cmd = list(args)
        if cmd[0] == 'copy':
            cmd[1:1] = ['--src-cert-dir', self.certs, '--src-creds', creds, '--dest-cert-dir', self.certs,
                        '--dest-creds', creds]
        else:
            cmd[1:1] = ['--cert-dir', self.certs, '--creds', creds]
        return sh('skopeo', *cmd)

    def ref(self, repository, tag):
        return '%s/%s:%s' % (self.endpoint, repository, tag)

    def measure(self, case, tool, variant, action, **facts):
        """Run ``action`` and keep its wall time, the requests the registry served and the bytes the client sent.

        For an ansible-playbook run (``action`` returns it), ``seconds`` is the time of its tasks, as the json
        callback timed them, and ``wall_s`` the whole command with Ansible's start-up."""
        mark = len(self.registry.access_log())
        self.proxy.reset()
        started = time.monotonic()
        run = action()
        wall = time.monotonic() - started
        seconds = task_seconds(run) if run is not None and hasattr(run, 'data') else wall
        log = self.registry.access_log()[mark:]
        entry = dict(case=case, tool=tool, variant=variant, latency_ms=self.latency_ms, seconds=round(seconds, 2),
                     wall_s=round(wall, 2), requests=len(log), writes=sum(1 for m, _p, s in log if m in WRITES and s != 401),
                     bytes_sent=self.proxy.sent, **facts)
        self.results.append(entry)
        print('  %-9s %-24s %-8s %7.2f s (wall %6.2f s)  %5d requests  %3d writes  %11d bytes sent' % (
            case, tool, variant, seconds, wall, entry['requests'], entry['writes'], entry['bytes_sent']), flush=True)
        return entry

    # ----------------------------------------------------------- ansible

    def playbook(self, tasks, env=None):
        play = [{'hosts': 'localhost', 'gather_facts': False,
                 'module_defaults': {'group/regops.registry.registry': self.conn}, 'tasks': tasks}]
        run = self.ansible.playbook(play, env=dict(env or {}, DOCKER_CONFIG=self.docker_config))
        for result in run.task_results():
            if result.get('failed') or any(r.get('failed') for r in result.get('results', [])):
                raise RuntimeError('ansible-playbook failed: %s' % json.dumps(result)[-2000:])
        return run

    # ----------------------------------------------------------- images

    def build(self, name, size=1024 * 1024):
        """``name``:<arch> for each architecture in the local engine (FROM scratch, random payload)."""
        context = os.path.join(self.workdir, 'context-' + name.replace('/', '-'))
        os.makedirs(context, exist_ok=True)
        with open(os.path.join(context, 'Dockerfile'), 'w') as f:
            f.write('FROM scratch\nCOPY payload.bin /\n')
        for arch in ARCHES:
            with open(os.path.join(context, 'payload.bin'), 'wb') as f:
                f.write(os.urandom(size))
            sh('docker', 'build', '-q', '--no-cache', '--platform', 'linux/' + arch, '-t', '%s:%s' % (name, arch), context,
               env=dict(os.environ, DOCKER_BUILDKIT='0'))

    def seed_release_images(self, repository, image):
        """The per-architecture builds of ``image`` pushed as <repository>:3.0.0-<arch> (not measured)."""
        for arch in ARCHES:
            self.docker('tag', '%s:%s' % (image, arch), self.ref(repository, '3.0.0-' + arch))
            self.docker('push', '-q', self.ref(repository, '3.0.0-' + arch))
            self.docker('rmi', self.ref(repository, '3.0.0-' + arch))


# ------------------------------------------------------------------ cases

def case_retag(bench):
    bench.build('bench/retag')
    repos = dict((tool, 'retag/%s-%d' % (tool, bench.latency_ms)) for tool in ('ours', 'docker', 'skopeo', 'cdocker'))
    for repository in repos.values():
        bench.seed_release_images(repository, 'bench/retag')

    ours = [{'name': 'release tags', 'regops.registry.manifest_push': {
        'repository': repos['ours'], 'version': 'v3.0.0',
        'manifests': [{'ref': '3.0.0-' + arch, 'suffix': '-' + arch} for arch in ARCHES]}}]
    bench.measure('retag', 'regops manifest_push', 'first', lambda: bench.playbook(ours), tags=12)
    bench.measure('retag', 'regops manifest_push', 'rerun', lambda: bench.playbook(ours), tags=12)

    def docker_loop():
        repo = repos['docker']
        for arch in ARCHES:
            source = bench.ref(repo, '3.0.0-' + arch)
            bench.docker('pull', '-q', '--platform', 'linux/' + arch, source)
            for alias in ALIASES:
                bench.docker('tag', source, bench.ref(repo, '%s-%s' % (alias, arch)))
                bench.docker('push', '-q', bench.ref(repo, '%s-%s' % (alias, arch)))
        for alias in ALIASES:
            bench.docker('manifest', 'create', '--amend', bench.ref(repo, alias),
                         *[bench.ref(repo, 'v3.0.0-' + arch) for arch in ARCHES])
            bench.docker('manifest', 'push', '--purge', bench.ref(repo, alias))
    bench.measure('retag', 'docker pull/tag/push', 'first', docker_loop, tags=12)

    def skopeo_loop():
        repo = repos['skopeo']
        for arch in ARCHES:
            for alias in ALIASES:
                bench.skopeo('copy', '-q', 'docker://' + bench.ref(repo, '3.0.0-' + arch),
                             'docker://' + bench.ref(repo, '%s-%s' % (alias, arch)))
        for alias in ALIASES[1:]:
            bench.skopeo('copy', '-q', '--all', 'docker://' + bench.ref(repo, 'v3.0.0'), 'docker://' + bench.ref(repo, alias))
    # skopeo cannot make an index: the first one comes from docker manifest, outside the measurement.
    bench.docker('manifest', 'create', bench.ref(repos['skopeo'], 'v3.0.0'),
                 *[bench.ref(repos['skopeo'], '3.0.0-' + arch) for arch in ARCHES])
    bench.docker('manifest', 'push', '--purge', bench.ref(repos['skopeo'], 'v3.0.0'))
    bench.measure('retag', 'skopeo copy', 'first', skopeo_loop, tags=11, note='index v3.0.0 made beforehand (skopeo cannot)')

    cdocker = [
        {'name': 'pull', 'loop': list(ARCHES), 'community.docker.docker_image_pull': {
            'name': bench.ref(repos['cdocker'], '3.0.0-{{ item }}'), 'platform': 'linux/{{ item }}'}},
        {'name': 'tag', 'community.docker.docker_image_tag': {
            'name': bench.ref(repos['cdocker'], '3.0.0-{{ item }}'),
            'repository': ['%s-{{ item }}' % bench.ref(repos['cdocker'], alias) for alias in ALIASES]}, 'loop': list(ARCHES)},
        {'name': 'push', 'community.docker.docker_image_push': {'name': '{{ item }}'},
         'loop': [bench.ref(repos['cdocker'], '%s-%s' % (alias, arch)) for arch in ARCHES for alias in ALIASES]},
    ]
    bench.measure('retag', 'community.docker loop', 'first', lambda: bench.playbook(cdocker), tags=8,
                  note='per-architecture tags only: community.docker has no multi-arch index')


def case_index(bench):
    bench.build('bench/index')
    repos = dict((tool, 'index/%s-%d' % (tool, bench.latency_ms)) for tool in ('ours', 'docker'))
    for repository in repos.values():
        bench.seed_release_images(repository, 'bench/index')
    ours = [{'name': 'index', 'regops.registry.manifest_push': {
        'repository': repos['ours'], 'tags': ['v3.0.0'], 'manifests': [{'ref': '3.0.0-' + arch} for arch in ARCHES]}}]
    bench.measure('index', 'regops manifest_push', 'first', lambda: bench.playbook(ours))
    bench.measure('index', 'regops manifest_push', 'rerun', lambda: bench.playbook(ours))

    def docker_manifest():
        bench.docker('manifest', 'create', '--amend', bench.ref(repos['docker'], 'v3.0.0'),
                     *[bench.ref(repos['docker'], '3.0.0-' + arch) for arch in ARCHES])
        bench.docker('manifest', 'push', '--purge', bench.ref(repos['docker'], 'v3.0.0'))
    bench.measure('index', 'docker manifest', 'first', docker_manifest)


def case_disk(bench, size_mb=200, layers=5):
    layout = os.path.join(bench.workdir, 'layout-200')
    if not os.path.isdir(layout):
        make_layout(layout, tag='app', layers=layers, layer_size=size_mb * 1024 * 1024 // layers)
    archive = os.path.join(bench.workdir, 'image-200.tar')
    if not os.path.exists(archive):
        sh('skopeo', 'copy', '-q', 'oci:%s:app' % layout, 'docker-archive:%s:bench/disk:app' % archive)
    suffix = bench.latency_ms

    def ours(repo, mount=()):
        return [{'name': 'push', 'regops.registry.manifest_push': {
            'repository': repo, 'src': layout, 'src_ref': 'app', 'tags': ['v1'], 'mount_from': list(mount)}}]
    bench.measure('disk', 'regops manifest_push', 'first', lambda: bench.playbook(ours('disk/ours-%d' % suffix)))
    bench.measure('disk', 'regops manifest_push', 'rerun', lambda: bench.playbook(ours('disk/ours-%d' % suffix)))
    bench.measure('disk', 'regops manifest_push', 'sibling', lambda: bench.playbook(
        ours('disk/ours-sibling-%d' % suffix, ['disk/ours-%d' % suffix])))

    def skopeo(repo):
        return lambda: bench.skopeo('copy', '-q', 'oci:%s:app' % layout, 'docker://' + bench.ref(repo, 'v1'))
    bench.measure('disk', 'skopeo copy', 'first', skopeo('disk/skopeo-%d' % suffix))
    bench.measure('disk', 'skopeo copy', 'rerun', skopeo('disk/skopeo-%d' % suffix))
    bench.measure('disk', 'skopeo copy', 'sibling', skopeo('disk/skopeo-sibling-%d' % suffix))

    def docker(repo, load=True):
        def run():
            if load:
                sh('docker', 'load', '-q', '-i', archive)
            bench.docker('tag', 'bench/disk:app', bench.ref(repo, 'v1'))
            bench.docker('push', '-q', bench.ref(repo, 'v1'))
        return run
    sh('docker', 'rmi', '-f', 'bench/disk:app')
    bench.measure('disk', 'docker load+push', 'first', docker('disk/docker-%d' % suffix))
    bench.measure('disk', 'docker load+push', 'rerun', docker('disk/docker-%d' % suffix))
    bench.measure('disk', 'docker load+push', 'sibling', docker('disk/docker-sibling-%d' % suffix))


def case_retention(bench, tags=5000, sample=200):
    repository = 'retention/service-%d' % bench.latency_ms
    written = seed(bench.registry, repository, tags)
    task = [{'name': 'plan', 'regops.registry.retention_prune': {'repository': repository, 'rules': RULES},
             'check_mode': True}]
    bench.measure('retention', 'regops retention_prune', 'check', lambda: bench.playbook(task), tags=written)

    def skopeo_loop():
        listed = json.loads(bench.skopeo('list-tags', 'docker://%s/%s' % (bench.endpoint, repository)))['Tags']
        for tag in listed[:sample]:
            bench.skopeo('inspect', '--raw', 'docker://' + bench.ref(repository, tag))
    entry = bench.measure('retention', 'skopeo list-tags+inspect', 'sample', skopeo_loop, tags=sample)
    projected = dict(entry, variant='projected', seconds=round(entry['seconds'] * written / sample, 1), tags=written,
                     requests=entry['requests'] * written // sample, note='projected from %d tags' % sample)
    bench.results.append(projected)
    print('  %-9s %-22s %-10s %7.1f s  (projected from %d of %d tags)' % (
        'retention', projected['tool'], 'projected', projected['seconds'], sample, written))


def case_release(bench, services=7):
    names = ['svc%d' % i for i in range(services)]
    for name in names:
        bench.build('bench/%s' % name, size=256 * 1024)
    org = 'release%d' % bench.latency_ms
    ours = [{'name': 'release', 'ansible.builtin.include_role': {'name': 'regops.registry.release'}, 'vars': {
        'release_registry': bench.endpoint, 'release_ca_path': bench.registry.ca_path,
        'release_username': bench.registry.username, 'release_password': bench.registry.password,
        'release_organization': org, 'release_version': 'v3.0.0',
        'release_services': [{'name': name, 'sources': dict((arch, {'docker_image': 'bench/%s:%s' % (name, arch)})
                                                            for arch in ARCHES)} for name in names]}}]
    bench.measure('release', 'regops release role', 'first', lambda: bench.playbook(ours), services=services)
    bench.measure('release', 'regops release role', 'rerun', lambda: bench.playbook(ours), services=services)

    docker = 'docker --config %s' % bench.docker_config
    shell = []
    for name in names:
        repo = '%s/%s-shell' % (bench.endpoint, org)
        lines = ['set -e']
        for arch in ARCHES:
            for alias in ALIASES:
                lines.append('%s tag bench/%s:%s %s/%s:%s-%s' % (docker, name, arch, repo, name, alias, arch))
                lines.append('%s push -q %s/%s:%s-%s' % (docker, repo, name, alias, arch))
        for alias in ALIASES:
            lines.append('%s manifest create --amend %s/%s:%s %s' % (
                docker, repo, name, alias, ' '.join('%s/%s:v3.0.0-%s' % (repo, name, arch) for arch in ARCHES)))
            lines.append('%s manifest push --purge %s/%s:%s' % (docker, repo, name, alias))
        shell.append({'name': 'release %s' % name, 'ansible.builtin.shell': {'cmd': '\n'.join(lines), 'executable': '/bin/bash'}})
    bench.measure('release', 'shell docker tasks', 'first', lambda: bench.playbook(shell), services=services)


CASES = {'retag': case_retag, 'index': case_index, 'disk': case_disk, 'retention': case_retention, 'release': case_release}
PEERS = {  # case: (our variant, [(peer, peer variant)])
    'retag': [('first', 'docker pull/tag/push', 'first'), ('first', 'skopeo copy', 'first'),
              ('first', 'community.docker loop', 'first')],
    'index': [('first', 'docker manifest', 'first')],
    'disk': [('first', 'skopeo copy', 'first'), ('first', 'docker load+push', 'first'),
             ('rerun', 'skopeo copy', 'rerun'), ('rerun', 'docker load+push', 'rerun'),
             ('sibling', 'skopeo copy', 'sibling'), ('sibling', 'docker load+push', 'sibling')],
    'retention': [('check', 'skopeo list-tags+inspect', 'projected')],
    'release': [('first', 'shell docker tasks', 'first')],
}


def ratios(results):
    rows = []
    for case, pairs in PEERS.items():
        for our_variant, peer, peer_variant in pairs:
            for latency in sorted(set(r['latency_ms'] for r in results)):
                def find(tool_prefix, variant):
                    for r in results:
                        if r['case'] == case and r['tool'].startswith(tool_prefix) and r['variant'] == variant \
                                and r['latency_ms'] == latency:
                            return r
                    return None
                ours, theirs = find('regops', our_variant), find(peer, peer_variant)
                if ours and theirs:
                    rows.append(dict(case=case, variant=our_variant, peer=peer, latency_ms=latency, ours_s=ours['seconds'],
                                     peer_s=theirs['seconds'], ratio=round(theirs['seconds'] / ours['seconds'], 1),
                                     ours_requests=ours['requests'], peer_requests=theirs['requests'],
                                     ours_bytes=ours['bytes_sent'], peer_bytes=theirs['bytes_sent']))
    return rows


def table(rows):
    lines = ['| case | run | peer | RTT | regops | peer | peer/regops | requests regops / peer | bytes sent regops / peer |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append('| %s | %s | %s | %d ms | %.1f s | %.1f s | **%.1fx** | %d / %d | %s / %s |' % (
            r['case'], r['variant'], r['peer'], r['latency_ms'], r['ours_s'], r['peer_s'], r['ratio'],
            r['ours_requests'], r['peer_requests'], _size(r['ours_bytes']), _size(r['peer_bytes'])))
    return '\n'.join(lines)


def _size(n):
    return '%.1f MB' % (n / 1e6) if n >= 1e5 else '%.0f kB' % (n / 1e3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--latency', type=int, nargs='+', default=[0, 20], help='round-trip latencies to add, in ms')
    parser.add_argument('--cases', nargs='+', choices=sorted(CASES), default=list(CASES))
    parser.add_argument('--output', default=os.path.join(HERE, 'results', 'results.json'))
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix='regops-bench-')
    ansible = AnsibleRunner(install_collection(ROOT, workdir), os.path.join(workdir, 'ansible'))
    results = []
    started = time.monotonic()
    for latency in args.latency:
        print('\n== %d ms round trip added (latency proxy, %.0f ms each way) ==' % (latency, latency / 2.0), flush=True)
        bench = Bench(os.path.join(workdir, 'latency-%d' % latency), latency).start(ansible)
        try:
            for case in args.cases:
                CASES[case](bench)
        finally:
            bench.stop()
            results.extend(bench.results)
    rows = ratios(results)
    machine = {'date': datetime.date.today().isoformat(), 'cpus': os.cpu_count(), 'platform': platform.platform(),
               'docker': sh('docker', 'version', '-f', '{{.Server.Version}}').strip(),
               'skopeo': sh('skopeo', '--version').strip(), 'registry': 'distribution 2.8.2 (Debian docker-registry)',
               'latency': 'userspace TCP proxy adding half the round trip in each direction (no netem in this kernel)',
               'wall_s': round(time.monotonic() - started)}
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, 'w') as f:
        json.dump({'machine': machine, 'results': results, 'ratios': rows}, f, indent=1)
    print('\n' + table(rows))
    print('\n%s; raw numbers in %s' % (', '.join('%s: %s' % kv for kv in machine.items()), args.output))


if __name__ == '__main__':
    main()
