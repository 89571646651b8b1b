#!/usr/bin/env python
"""The main job, on this machine, the way a team runs it: the collection's playbooks by FQCN against an inventory.

1. `regops.registry.server` stands up a TLS + htpasswd registry on localhost (a generated CA, one user).
2. Two services are built for amd64 and arm64 with `docker build --platform` (FROM scratch): ingestion-service
   stays in the Docker engine, api is exported as OCI layouts with skopeo.
3. `regops.registry.release` releases v3.0.0, then v3.0.1, then v3.0.1 again, which must change nothing.
4. `regops.registry.prune` applies a retention policy in check mode (nothing is deleted).
5. The resulting tags and digests are read from the registry's HTTP API with plain requests.

Run it through `make demo`, which installs and starts what it needs first. The registry is removed at the end
(`server_state: absent`) unless --keep is given. tests/integration/test_main_job.py runs the same steps.
"""

import argparse
import glob
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

import requests
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORGANIZATION = 'battlescope'
# Each service and the kind of source its release reads: an image of the Docker engine, an OCI layout on disk.
SERVICES = {'ingestion-service': 'docker_image', 'api': 'oci_layout'}
ARCHES = ('amd64', 'arm64')
MANIFEST_TYPES = ('application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json',
                  'application/vnd.docker.distribution.manifest.list.v2+json',
                  'application/vnd.docker.distribution.manifest.v2+json')
RETENTION_POLICY = {
    'repository_pattern': ORGANIZATION + '/.*',
    'rules': [{'name': 'releases', 'semver': {'minors': 10, 'patches': 1}}],  # the newest patch of each minor
}


def sh(*args, env=None):
    return subprocess.run(list(args), capture_output=True, text=True, env=env, check=True)


def recap_changed(stdout, host='localhost'):
    """The changed= count of ``host`` in the PLAY RECAP of the default callback."""
    found = re.findall(r'^%s\s*:.*?changed=(\d+)' % re.escape(host), stdout, re.M)
    if not found:
        raise AssertionError('no PLAY RECAP for %s in:\n%s' % (host, stdout[-2000:]))
    return int(found[-1])


class MainJob(object):
    """The main job's steps, on a work directory of their own; each returns what a check needs."""

    def __init__(self, workdir, name='regops-demo', port=5443, echo=True, services=None):
        self.workdir = workdir
        self.name = name
        self.port = port
        self.echo = echo
        self.sources = services or SERVICES
        self.registry = 'localhost:%d' % port
        self.username = 'demo'
        self.password = secrets.token_urlsafe(18)
        self.ca_path = os.path.join(workdir, 'registry-ca.crt')
        self.inventory = os.path.join(workdir, 'inventory')
        self.build = os.path.join(workdir, 'build')
        self.collections = os.path.join(workdir, 'collections')
        self.policy = os.path.join(workdir, 'retention-policy.yml')
        self.timings = {}

    def say(self, text):
        if self.echo:
            print(text, flush=True)

    # ----------------------------------------------------------- setting up

    def install_collection(self):
        """Build the collection tarball and install it, as users do (community.* come with the ansible package)."""
        out = os.path.join(self.workdir, 'dist')
        sh('ansible-galaxy', 'collection', 'build', '--force', '--output-path', out, ROOT)
        tarball = glob.glob(os.path.join(out, 'regops-registry-*.tar.gz'))[0]
        sh('ansible-galaxy', 'collection', 'install', '--force', '-p', self.collections, tarball)

    def write_inventory(self):
        """An inventory like examples/inventory, with localhost in every group the main job uses."""
        group_vars = os.path.join(self.inventory, 'group_vars')
        os.makedirs(group_vars, exist_ok=True)
        localhost = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
        files = {
            'hosts.yml': {'all': {'children': {'registry_hosts': {'hosts': {'localhost': localhost}},
                                               'api': {'hosts': {'localhost': localhost}}}}},
            'group_vars/all.yml': {'registry': self.registry, 'registry_ca_path': self.ca_path,
                                   'registry_username': self.username, 'registry_password': self.password},
            'group_vars/registry_hosts.yml': {
                'server_name': self.name,
                'server_bind_address': '127.0.0.1',
                'server_port': self.port,
                'server_config_dir': os.path.join(self.workdir, 'registry', 'config'),
                'server_data_dir': os.path.join(self.workdir, 'registry', 'data'),
                'server_users': [{'name': self.username, 'password': '{{ registry_password }}'}],
                'server_tls_dns_names': ['localhost'],
                'server_tls_ca_fetch_path': '{{ registry_ca_path }}',
                'server_gc_enabled': False,           # no systemd on this machine
                'server_install_dependencies': False,  # this Python has the Docker SDK, cryptography and passlib
            },
            'group_vars/api.yml': {
                'release_registry': '{{ registry }}',
                'release_ca_path': '{{ registry_ca_path }}',
                'release_username': '{{ registry_username }}',
                'release_password': '{{ registry_password }}',
                'release_organization': ORGANIZATION,
                'release_architectures': list(ARCHES),
                'release_services': self.services(),
            },
        }
        for path, data in files.items():
            with open(os.path.join(self.inventory, path), 'w') as f:
                f.write('---\n')
                yaml.safe_dump(data, f, sort_keys=False)
        with open(self.policy, 'w') as f:
            yaml.safe_dump(RETENTION_POLICY, f, sort_keys=False)

    def image(self, service, arch):
        """The local build of ``service`` for ``arch``, as `docker build` tagged it."""
        return '%s/%s:build-%s' % (self.name, service, arch)

    def staging(self, service):
        """The staging repository an ``image`` source is promoted from."""
        return '%s-staging/%s' % (ORGANIZATION, service)

    def source(self, service, arch):
        """The release role's source of ``service`` for ``arch``, by its kind."""
        kind = self.sources[service]
        if kind == 'docker_image':
            return {'docker_image': self.image(service, arch)}
        if kind == 'oci_layout':
            return {'oci_layout': os.path.join(self.build, '%s-%s' % (service, arch))}
        if kind == 'docker_archive':
            return {'docker_archive': os.path.join(self.build, '%s-%s.tar' % (service, arch))}
        # Promotion: the build of the release version, tested in the staging repository.
        return {'image': "%s:{{ release_version | regex_replace('^v', '') }}-%s" % (self.staging(service), arch)}

    def services(self):
        return [{'name': service, 'sources': dict((arch, self.source(service, arch)) for arch in ARCHES)}
                for service in self.sources]

    def build_images(self, version):
        """Build every service for both architectures (FROM scratch: no image to pull), as a CI job would, and put
        each where its kind of source is read from."""
        for service, kind in self.sources.items():
            context = os.path.join(self.build, 'context-%s' % service)
            os.makedirs(os.path.join(context, 'app'), exist_ok=True)
            with open(os.path.join(context, 'Dockerfile'), 'w') as f:
                f.write('FROM scratch\nCOPY VERSION SERVICE /\nCOPY app /app/\nLABEL org.opencontainers.image.version=%s\n'
                        % version)
            for name, content in (('VERSION', version), ('SERVICE', service)):
                with open(os.path.join(context, name), 'w') as f:
                    f.write(content + '\n')
            with open(os.path.join(context, 'app', 'payload.bin'), 'wb') as f:
                f.write(os.urandom(256 * 1024))
            for arch in ARCHES:
                image = self.image(service, arch)
                # --no-cache: the classic builder would reuse the amd64 build for arm64 (its cache ignores the platform).
                sh('docker', 'build', '--quiet', '--no-cache', '--platform', 'linux/' + arch, '--tag', image, context,
                   env=dict(os.environ, DOCKER_BUILDKIT='0'))
                source = self.source(service, arch)
                if kind == 'oci_layout':
                    shutil.rmtree(source['oci_layout'], ignore_errors=True)
                    sh('skopeo', 'copy', '--quiet', 'docker-daemon:' + image, 'oci:' + source['oci_layout'])
                elif kind == 'docker_archive':
                    sh('docker', 'save', '--output', source['docker_archive'], image)
                elif kind == 'image':
                    self.skopeo('copy', '--quiet', 'docker-daemon:' + image,
                                'docker://%s/%s:%s-%s' % (self.registry, self.staging(service), version, arch), creds='--dest')
        self.say('built %s %s for %s' % (', '.join('%s (%s)' % item for item in self.sources.items()), version, ', '.join(ARCHES)))

    # ------------------------------------------------------------- running

    def playbook(self, name, *args, check=True):
        """ansible-playbook <FQCN> against the inventory, printed as a user would type it; returns the process."""
        command = ['ansible-playbook', '-i', self.inventory, 'regops.registry.' + name] + list(args)
        self.say('\n$ ' + ' '.join(c if c == self.inventory or ' ' not in c else repr(c) for c in command))
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=self.collections, ANSIBLE_NOCOLOR='1',
                   ANSIBLE_RETRY_FILES_ENABLED='0', ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default',
                   ANSIBLE_HOME=os.path.join(self.workdir, 'ansible-home'))
        started = time.monotonic()
        proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=self.workdir, check=False)
        self.timings.setdefault(name, []).append(round(time.monotonic() - started, 1))
        self.say(proc.stdout.rstrip())
        if check and proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit('regops.registry.%s failed (rc %d)' % (name, proc.returncode))
        return proc

    def server(self, state='present'):
        extra = [] if state == 'present' else ['-e', 'server_state=absent', '-e', 'server_remove_data=true']
        return self.playbook('server', *extra)

    def release(self, version, *args, check=True):
        return self.playbook('release', '-e', 'release_version=' + version, *args, check=check)

    def prune_plan(self):
        return self.playbook('prune', '-e', 'retention_policy_file=' + self.policy, '--check')

    # ---------------------------------------------------------------- reading

    def skopeo(self, command, *args, creds=''):
        """skopeo with the registry's CA and credentials (``creds='--dest'`` for the destination of a copy)."""
        certs = os.path.join(self.workdir, 'skopeo-certs')
        os.makedirs(certs, exist_ok=True)
        shutil.copy(self.ca_path, os.path.join(certs, 'ca.crt'))
        prefix = creds + '-' if creds else '--'
        return sh('skopeo', command, prefix + 'cert-dir', certs, prefix + 'creds', '%s:%s' % (self.username, self.password), *args)

    def tags(self, repository):
        """Every tag of ``repository`` and its digest, from the registry's HTTP API (plain requests, not the
        collection's client)."""
        session = requests.Session()
        session.auth = (self.username, self.password)
        session.headers['Accept'] = ', '.join(MANIFEST_TYPES)
        base = 'https://%s/v2/%s' % (self.registry, repository)
        # verify on each request: a session's verify loses to REQUESTS_CA_BUNDLE in the environment.
        listing = session.get(base + '/tags/list', timeout=30, verify=self.ca_path)
        listing.raise_for_status()
        found = {}
        for tag in sorted(listing.json().get('tags') or []):
            head = session.head('%s/manifests/%s' % (base, tag), timeout=30, verify=self.ca_path)
            head.raise_for_status()
            found[tag] = head.headers['Docker-Content-Digest']
        return found

    def show_tags(self):
        for service in self.sources:
            repository = '%s/%s' % (ORGANIZATION, service)
            self.say('\n%s/%s, as the registry lists it:' % (self.registry, repository))
            for tag, digest in self.tags(repository).items():
                self.say('  %-20s %s' % (tag, digest))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--keep', action='store_true', help='leave the registry running afterwards')
    parser.add_argument('--port', type=int, default=5443, help='port of the registry on 127.0.0.1 (default 5443)')
    args = parser.parse_args()

    started = time.monotonic()
    job = MainJob(tempfile.mkdtemp(prefix='regops-demo-'), port=args.port)
    job.say('work directory %s' % job.workdir)
    job.install_collection()
    job.write_inventory()
    try:
        job.server()
        job.build_images('3.0.0')
        job.release('v3.0.0')
        job.build_images('3.0.1')
        job.release('v3.0.1')
        rerun = job.release('v3.0.1')
        changed = recap_changed(rerun.stdout)
        if changed:
            raise SystemExit('the rerun of v3.0.1 reported changed=%d; it must change nothing' % changed)
        job.prune_plan()
        job.show_tags()
        job.say('\nwall time: release v3.0.1 %.1f s, its rerun %.1f s (changed=0); main job %.0f s in all'
                % (job.timings['release'][1], job.timings['release'][2], time.monotonic() - started))
    finally:
        if args.keep:
            job.say('\nregistry left running: https://%s (CA %s), user %s, password %s\ninventory: %s\n'
                    'remove it with: ANSIBLE_COLLECTIONS_PATH=%s ansible-playbook -i %s regops.registry.server -e server_state=absent'
                    % (job.registry, job.ca_path, job.username, job.password, job.inventory, job.collections, job.inventory))
        else:
            job.server('absent')


if __name__ == '__main__':
    main()
