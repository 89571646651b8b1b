# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This doc fragment is PRIVATE to the collection: it may change at any time.

from __future__ import annotations


class ModuleDocFragment(object):

    # The immutable option of every module that sets tags (IMMUTABLE_OPTION in module_utils/_tags.py).
    DOCUMENTATION = r'''
options:
  immutable:
    description:
      - Python regular expressions (searched in the tag; anchor them with C(^) and C($)) of tags that must never
        move to another digest. Creating such a tag, or pointing it at the digest it already has, is allowed.
      - If any requested change would move such a tag, the module fails before it writes anything, naming the tag,
        its current digest and the requested one.
      - The default matches every full version tag with any suffix (C(v3.0.0), C(3.0.0-amd64), C(v3.1.0-rc.1)).
      - Set to C([]) to allow moving any tag.
    type: list
    elements: str
    default: ['^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z._-]+)?$']
'''
