"""Turn the one image of an OCI layout into a one-platform image index tagged "multi", so that a push of
"multi" with skopeo --all leaves the image itself untagged in the registry (the child of a tagged index, which
distribution 2.x's garbage-collect --delete-untagged would delete). Prints the child's digest."""
import hashlib
import json
import sys

layout = sys.argv[1]
with open(layout + '/index.json') as f:
    top = json.load(f)
image = top['manifests'][0]
child = {'mediaType': image['mediaType'], 'digest': image['digest'], 'size': image['size'],
         'platform': {'os': 'linux', 'architecture': 'amd64'}}
body = json.dumps({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.index.v1+json',
                   'manifests': [child]}).encode()
digest = hashlib.sha256(body).hexdigest()
with open('%s/blobs/sha256/%s' % (layout, digest), 'wb') as f:
    f.write(body)
top['manifests'] = [{'mediaType': 'application/vnd.oci.image.index.v1+json', 'digest': 'sha256:' + digest,
                     'size': len(body), 'annotations': {'org.opencontainers.image.ref.name': 'multi'}}]
with open(layout + '/index.json', 'w') as f:
    json.dump(top, f)
print(image['digest'])
