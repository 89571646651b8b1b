#!/usr/bin/env python
"""Write docs/roles/<role>.md for every role from its meta/argument_specs.yml (what `ansible-doc -t role` shows)
and its hand-written example playbook, docs/roles/examples/<role>.yml.

    python scripts/role_docs.py            # write every page (make docs)
    python scripts/role_docs.py --check    # exit 1 naming the pages that differ from what would be written

tests/quality/test_role_docs.py checks that the committed pages are what this writes, so a variable added to
argument_specs.yml without running it fails the tests.
"""

import argparse
import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, 'docs', 'roles')
EXAMPLES = os.path.join(DOCS, 'examples')
COLLECTION = 'regops.registry'


def roles():
    return sorted(name for name in os.listdir(os.path.join(ROOT, 'roles'))
                  if os.path.isfile(os.path.join(ROOT, 'roles', name, 'meta', 'argument_specs.yml')))


# Ansible's documentation markup, as markdown: C() code, O() option, V() value, E() environment variable,
# M() module, P() plugin, I() italic, B() bold, U() URL, L() link, R() reference, HORIZONTALLINE.
_MARKUP = re.compile(r'\b(?:([CIBUMOVEP])\(([^)]*)\)|([LR])\(([^,)]*),\s*([^)]*)\)|(HORIZONTALLINE))')


def markup(text):
    def convert(match):
        kind, value, link, label, target, line = match.groups()
        if line:
            return '<hr>'
        if link == 'L':
            return '[%s](%s)' % (label, target.strip())
        if link == 'R':
            return label
        if kind in 'CMOVEP':
            return '`%s`' % value.replace('\\', '')
        if kind == 'I':
            return '*%s*' % value
        if kind == 'B':
            return '**%s**' % value
        return '<%s>' % value  # U
    return _MARKUP.sub(convert, text)


def paragraphs(description):
    if description is None:
        return []
    items = description if isinstance(description, list) else [description]
    return [markup(' '.join(str(item).split())) for item in items]


def cell(text):
    return text.replace('|', '\\|').replace('\n', ' ')


def default_of(spec):
    if spec.get('required') or 'default' not in spec:
        return ''
    value = spec['default']
    if isinstance(value, str) and value:
        return '`%s`' % value
    return '`%s`' % json.dumps(value)


def type_of(spec):
    kind = spec.get('type', 'str')
    if kind == 'list':
        elements = spec.get('elements', 'str')
        text = 'list of %s' % ('dicts' if elements == 'dict' else elements)
    else:
        text = kind
    if spec.get('choices'):
        text += ': ' + ', '.join('`%s`' % c for c in spec['choices'])
    return text


def rows(options, prefix=''):
    """One row per option, its sub-options right after it (``parent[].child`` in a list, ``parent.child`` in a dict)."""
    out = []
    for name, spec in options.items():
        full = prefix + name
        notes = paragraphs(spec.get('description'))
        for key, label in (('required_together', 'Required together'), ('mutually_exclusive', 'Mutually exclusive'),
                           ('required_one_of', 'One of these is required')):
            for group in spec.get(key) or []:
                notes.append('%s: %s.' % (label, ', '.join('`%s`' % g for g in group)))
        if spec.get('no_log'):
            notes.append('Not logged (`no_log`).')
        required = 'yes' if spec.get('required') else 'no'
        columns = (full, cell(type_of(spec)), required, cell(default_of(spec)), cell(' '.join(notes)))
        out.append('| `%s` | %s | %s | %s | %s |' % columns)
        if spec.get('options'):
            out.extend(rows(spec['options'], full + ('[].' if spec.get('type') == 'list' else '.')))
    return out


def render(role):
    """The page of ``role``, as markdown."""
    with open(os.path.join(ROOT, 'roles', role, 'meta', 'argument_specs.yml')) as f:
        specs = yaml.safe_load(f)['argument_specs']
    with open(os.path.join(EXAMPLES, role + '.yml')) as f:
        example = f.read()
    fqcn = '%s.%s' % (COLLECTION, role)
    lines = ['# Role %s' % fqcn, '',
             '<!-- Written by scripts/role_docs.py (make docs) from roles/%s/meta/argument_specs.yml and '
             'docs/roles/examples/%s.yml: edit those and run it again. -->' % (role, role), '']
    for entry, spec in specs.items():
        if entry != 'main':
            lines += ['## Entry point `%s`' % entry, '', 'Run with `tasks_from: %s`.' % entry, '']
        lines += ['**%s**' % markup(spec['short_description']), '']
        for paragraph in paragraphs(spec.get('description')):
            lines += ['- ' + paragraph]
        lines += ['']
        if entry == 'main':
            lines += ['## Example', '',
                      'From [examples/%s.yml](examples/%s.yml):' % (role, role), '',
                      '```yaml', example.rstrip('\n'), '```', '']
        lines += ['## Variables' if entry == 'main' else '### Variables of `%s`' % entry, '',
                  'Validated when the role starts; `ansible-doc -t role %s` shows the same.' % fqcn, '',
                  '| variable | type | required | default | description |', '|---|---|---|---|---|']
        lines += rows(spec.get('options') or {}) + ['']
    return '\n'.join(lines)


def page(role):
    return os.path.join(DOCS, role + '.md')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--check', action='store_true', help='write nothing; exit 1 if a page differs')
    args = parser.parse_args(argv)
    stale = []
    for role in roles():
        text = render(role)
        current = None
        if os.path.exists(page(role)):
            with open(page(role)) as f:
                current = f.read()
        if current == text:
            continue
        stale.append(os.path.relpath(page(role), ROOT))
        if not args.check:
            with open(page(role), 'w') as f:
                f.write(text)
    if args.check and stale:
        print('out of date (run python scripts/role_docs.py): ' + ', '.join(stale), file=sys.stderr)
        return 1
    for path in stale:
        print('wrote ' + path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
