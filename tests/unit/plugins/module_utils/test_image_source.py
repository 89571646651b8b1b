"""Reading OCI layouts and docker archives from disk (files only, no registry)."""

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from ansible_collections.regops.registry.plugins.module_utils._client import DOCKER_MANIFEST_V2, OCI_INDEX, OCI_MANIFEST
from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError
from ansible_collections.regops.registry.plugins.module_utils._image_source import load_source
from tests.support.images import make_layout


def sha256(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def blob_files(layout):
    root = os.path.join(layout, 'blobs', 'sha256')
    return [os.path.join(root, name) for name in sorted(os.listdir(root))]


def test_single_image_layout(tmp_path):
    digest = make_layout(str(tmp_path / 'l'), layers=3)
    source = load_source(str(tmp_path / 'l'), str(tmp_path / 'work'))
    assert [m.digest for m in source.manifests] == [digest]
    assert source.top.media_type == OCI_MANIFEST
    doc = json.loads(source.top.content)
    assert list(source.blobs) == [doc['config']['digest']] + [layer['digest'] for layer in doc['layers']]
    for blob in source.blobs.values():
        with blob.open() as f:
            assert sha256(f.read()) == blob.digest


def test_multi_platform_layout_pushes_children_then_index(tmp_path):
    digest = make_layout(str(tmp_path / 'l'), platforms=['amd64', 'arm64'])
    source = load_source(str(tmp_path / 'l'), str(tmp_path / 'work'))
    assert [m.media_type for m in source.manifests] == [OCI_MANIFEST, OCI_MANIFEST, OCI_INDEX]
    assert source.top.digest == digest
    children = [d['digest'] for d in json.loads(source.top.content)['manifests']]
    assert [m.digest for m in source.manifests[:2]] == children
    assert len(source.blobs) == 2 * 3  # a config and two layers per platform


def overwrite_first_byte(path):
    with open(path, 'r+b') as f:
        f.write(b'X')


def append_bytes(path):
    with open(path, 'ab') as f:
        f.write(b'extra')


@pytest.mark.parametrize('damage,message', [
    (overwrite_first_byte, 'does not match its digest'),
    (append_bytes, 'on disk, the descriptor says'),
    (os.remove, 'is missing from the layout'),
])
def test_damaged_layouts_are_refused(tmp_path, damage, message):
    make_layout(str(tmp_path / 'l'))
    layer = max(blob_files(str(tmp_path / 'l')), key=os.path.getsize)  # the largest blob is a layer
    damage(layer)
    with pytest.raises(InvalidInputError, match=message):
        load_source(str(tmp_path / 'l'), str(tmp_path / 'work'))


def test_not_a_layout(tmp_path):
    (tmp_path / 'dir').mkdir()
    with pytest.raises(InvalidInputError, match='no oci-layout file'):
        load_source(str(tmp_path / 'dir'), str(tmp_path / 'work'))
    with pytest.raises(InvalidInputError, match='does not exist'):
        load_source(str(tmp_path / 'nope'), str(tmp_path / 'work'))


def two_image_layout(tmp_path, named=True):
    """Layout a holding two images (one and two); returns the digest of one."""
    first = make_layout(str(tmp_path / 'a'), tag='one')
    make_layout(str(tmp_path / 'b'), tag='two')
    for path in blob_files(str(tmp_path / 'b')):
        os.replace(path, os.path.join(str(tmp_path / 'a'), 'blobs', 'sha256', os.path.basename(path)))
    index_a = json.loads((tmp_path / 'a' / 'index.json').read_text())
    index_a['manifests'] += json.loads((tmp_path / 'b' / 'index.json').read_text())['manifests']
    for entry in index_a['manifests']:
        if not named:
            del entry['annotations']
    (tmp_path / 'a' / 'index.json').write_text(json.dumps(index_a))
    return first


def test_layout_with_several_images_needs_a_name(tmp_path):
    first = two_image_layout(tmp_path)
    with pytest.raises(InvalidInputError, match='holds 2 images'):
        load_source(str(tmp_path / 'a'), str(tmp_path / 'work'))
    assert load_source(str(tmp_path / 'a'), str(tmp_path / 'work'), ref='one').top.digest == first
    with pytest.raises(InvalidInputError, match="no image named 'three'"):
        load_source(str(tmp_path / 'a'), str(tmp_path / 'work'), ref='three')


def tar_bytes(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode='w') as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def docker_archive(path, layers=2, corrupt=False, images=1, gzipped=False):
    files, entries = {}, []
    for image in range(images):
        layer_tars = [tar_bytes({'file%d' % i: os.urandom(2048)}) for i in range(layers)]
        config = json.dumps({'architecture': 'amd64', 'os': 'linux',
                             'rootfs': {'type': 'layers', 'diff_ids': [sha256(t) for t in layer_tars]}}).encode()
        config_name = sha256(config).split(':')[1] + '.json'
        files[config_name] = config
        names = []
        for i, data in enumerate(layer_tars):
            name = '%d-%d/layer.tar' % (image, i)
            data = data[:-1] + b'\x01' if corrupt and i == 1 else data
            files[name] = gzip.compress(data, mtime=0) if gzipped else data
            names.append(name)
        entries.append({'Config': config_name, 'RepoTags': ['img:%d' % image], 'Layers': names})
    files['manifest.json'] = json.dumps(entries).encode()
    with open(path, 'wb') as f:
        f.write(tar_bytes(files))
    return entries


def test_docker_archive_becomes_a_schema2_image_with_gzip_layers(tmp_path):
    entries = docker_archive(str(tmp_path / 'a.tar'))
    source = load_source(str(tmp_path / 'a.tar'), str(tmp_path / 'work'))
    manifest = json.loads(source.top.content)
    assert source.top.media_type == DOCKER_MANIFEST_V2 == manifest['mediaType']
    assert manifest['config']['digest'] == 'sha256:' + entries[0]['Config'][:-5]
    with tarfile.open(str(tmp_path / 'a.tar')) as tar:
        originals = [tar.extractfile(name).read() for name in entries[0]['Layers']]
    for layer, original in zip(manifest['layers'], originals):
        blob = source.blobs[layer['digest']]
        with blob.open() as f:
            data = f.read()
        assert sha256(data) == layer['digest'] and len(data) == layer['size']
        assert gzip.decompress(data) == original


def test_docker_archive_compression_is_reproducible(tmp_path):
    docker_archive(str(tmp_path / 'a.tar'))
    first = load_source(str(tmp_path / 'a.tar'), str(tmp_path / 'w1')).top.digest
    assert load_source(str(tmp_path / 'a.tar'), str(tmp_path / 'w2')).top.digest == first


def test_docker_archive_with_a_corrupt_layer_is_refused(tmp_path):
    docker_archive(str(tmp_path / 'a.tar'), corrupt=True)
    with pytest.raises(InvalidInputError, match='the image config says'):
        load_source(str(tmp_path / 'a.tar'), str(tmp_path / 'work'))


def test_truncated_docker_archive_is_refused(tmp_path):
    docker_archive(str(tmp_path / 'a.tar'))
    data = (tmp_path / 'a.tar').read_bytes()
    (tmp_path / 'cut.tar').write_bytes(data[:len(data) // 2])
    with pytest.raises(InvalidInputError):
        load_source(str(tmp_path / 'cut.tar'), str(tmp_path / 'work'))


def test_docker_archive_with_several_images_needs_a_tag(tmp_path):
    docker_archive(str(tmp_path / 'a.tar'), images=2)
    with pytest.raises(InvalidInputError, match='holds 2 images'):
        load_source(str(tmp_path / 'a.tar'), str(tmp_path / 'work'))
    assert load_source(str(tmp_path / 'a.tar'), str(tmp_path / 'work'), ref='img:1').top.media_type == DOCKER_MANIFEST_V2


def test_not_an_archive(tmp_path):
    (tmp_path / 'x.tar').write_bytes(b'not a tar at all' * 100)
    with pytest.raises(InvalidInputError):
        load_source(str(tmp_path / 'x.tar'), str(tmp_path / 'work'))


def test_layout_with_only_some_platforms_of_its_index(tmp_path):
    layout = str(tmp_path / 'l')
    make_layout(layout, platforms=['amd64', 'arm64'])
    index = json.loads(load_source(layout, str(tmp_path / 'w')).top.content)
    arm64 = [d for d in index['manifests'] if d['platform']['architecture'] == 'arm64'][0]['digest']
    amd64 = [d for d in index['manifests'] if d['platform']['architecture'] == 'amd64'][0]['digest']
    os.remove(os.path.join(layout, 'blobs', 'sha256', arm64.split(':')[1]))
    with pytest.raises(InvalidInputError, match=r'platforms whose images are not in the layout \(linux/arm64\)'):
        load_source(layout, str(tmp_path / 'w'))
    one = load_source(layout, str(tmp_path / 'w'), ref=amd64)
    assert [m.digest for m in one.manifests] == [amd64] and one.top.media_type == OCI_MANIFEST


def test_unnamed_images_are_listed_and_chosen_by_digest(tmp_path):
    first = two_image_layout(tmp_path, named=False)
    with pytest.raises(InvalidInputError, match=first):
        load_source(str(tmp_path / 'a'), str(tmp_path / 'work'))
    assert load_source(str(tmp_path / 'a'), str(tmp_path / 'work'), ref=first).top.digest == first


def test_a_layout_of_something_else_than_an_image_is_refused(tmp_path):
    from ansible_collections.regops.registry.plugins.module_utils._errors import UnsupportedError
    layout = tmp_path / 'l'
    make_layout(str(layout))
    index = json.loads((layout / 'index.json').read_text())
    index['manifests'][0]['mediaType'] = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip'
    (layout / 'index.json').write_text(json.dumps(index))
    with pytest.raises(UnsupportedError, match='not an image manifest or index'):
        load_source(str(layout), str(tmp_path / 'work'))


def test_docker_archive_layers_already_compressed_keep_their_bytes(tmp_path):
    entries = docker_archive(str(tmp_path / 'a.tar'), gzipped=True)
    source = load_source(str(tmp_path / 'a.tar'), str(tmp_path / 'work'))
    with tarfile.open(str(tmp_path / 'a.tar')) as tar:
        members = [tar.extractfile(name).read() for name in entries[0]['Layers']]
    layers = json.loads(source.top.content)['layers']
    assert [(layer['digest'], layer['size']) for layer in layers] == [(sha256(m), len(m)) for m in members]
