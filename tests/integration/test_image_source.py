"""Images from disk pushed with the client's blob and manifest operations, pulled back by the real Docker engine.

This is the ground manifest_push stands on: a real `docker save` archive and a two-platform OCI layout are
read and verified, pushed, and must come back through `docker pull` as the same images.
"""

import json
import os
import secrets
import subprocess

from ansible_collections.regops.registry.plugins.module_utils._auth import Credentials
from ansible_collections.regops.registry.plugins.module_utils._client import RegistryClient
from ansible_collections.regops.registry.plugins.module_utils._image_source import load_source
from ansible_collections.regops.registry.plugins.module_utils._reference import parse_registry
from tests.support.images import make_layout


def docker(*args, **kwargs):
    return subprocess.run(['docker'] + list(args), capture_output=True, text=True, check=True, **kwargs).stdout.strip()


def push(client, repository, tag, source):
    for blob in source.blobs.values():
        if client.blob_size(repository, blob.digest) is None:
            client.upload_blob(repository, blob.digest, blob.size, blob.open)
    for manifest in source.manifests[:-1]:
        client.put_manifest(repository, manifest.digest, manifest)
    client.put_manifest(repository, tag, source.top)


def test_docker_save_archive_round_trips_through_the_registry(registry, repo, docker_login, tmp_path):
    context = tmp_path / 'context'
    context.mkdir()
    payload = secrets.token_hex(64)
    (context / 'payload.txt').write_text(payload)
    (context / 'Dockerfile').write_text('FROM scratch\nCOPY payload.txt /payload.txt\nLABEL io.regops.test=1\n')
    local = 'regops-test/scratch:%s' % secrets.token_hex(4)
    docker('build', '-q', '-t', local, str(context), env=dict(os.environ, DOCKER_BUILDKIT='0'))
    image_id = docker('image', 'inspect', '-f', '{{.Id}}', local)
    docker('save', '-o', str(tmp_path / 'image.tar'), local)
    docker('rmi', local)

    source = load_source(str(tmp_path / 'image.tar'), str(tmp_path / 'work'))
    client = RegistryClient(parse_registry(registry.host), Credentials(registry.username, registry.password, 'test'),
                            ca_path=registry.ca_path)
    push(client, repo, 'saved', source)

    ref = '%s/%s:saved' % (registry.host, repo)
    try:
        docker('--config', docker_login, 'pull', ref)
        assert docker('image', 'inspect', '-f', '{{.Id}}', ref) == image_id  # the same config, byte for byte
        container = docker('create', '--entrypoint', '/payload.txt', ref)
        try:
            copied = subprocess.run(['docker', 'cp', container + ':/payload.txt', '-'], capture_output=True, check=True).stdout
        finally:
            docker('rm', container)
        assert payload.encode() in copied
    finally:
        subprocess.run(['docker', 'rmi', '-f', ref], capture_output=True, check=False)


def test_two_platform_layout_pulls_the_right_image_per_platform(registry, repo, docker_login, tmp_path):
    make_layout(str(tmp_path / 'layout'), platforms=['amd64', 'arm64'])
    source = load_source(str(tmp_path / 'layout'), str(tmp_path / 'work'))
    client = RegistryClient(parse_registry(registry.host), Credentials(registry.username, registry.password, 'test'),
                            ca_path=registry.ca_path)
    push(client, repo, 'multi', source)
    ref = '%s/%s:multi' % (registry.host, repo)
    children = dict((m.digest, json.loads(m.content)) for m in source.manifests[:-1])
    configs = dict((d['platform']['architecture'], children[d['digest']]['config']['digest'])
                   for d in json.loads(source.top.content)['manifests'])
    try:
        for arch in ('amd64', 'arm64'):
            docker('--config', docker_login, 'pull', '--platform', 'linux/' + arch, ref)
            assert docker('image', 'inspect', '-f', '{{.Id}} {{.Architecture}}', ref) == '%s %s' % (configs[arch], arch)
            docker('rmi', ref)
    finally:
        subprocess.run(['docker', 'rmi', '-f', ref], capture_output=True, check=False)
