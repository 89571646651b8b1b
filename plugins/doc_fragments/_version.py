# -*- coding: utf-8 -*-
# Copyright (c) regops.registry contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This doc fragment is PRIVATE to the collection: it may change at any time.

from __future__ import annotations


class ModuleDocFragment(object):

    # Semver mode of the modules that set release tags (VERSION_OPTIONS in module_utils/_tags.py).
    DOCUMENTATION = r'''
options:
  version:
    description:
      - Semver mode. A release version such as C(v3.0.0), C(3.0.0) or C(v3.1.0-rc.1); the C(v) prefix style is kept in every tag.
      - Gives the release tag C(<version><suffix>) and, for a stable release, the aliases chosen in O(aliases),
        that is C(vX.Y<suffix>) (minor), C(vX<suffix>) (major) and C(latest<suffix>). The suffix (for example
        C(-amd64)) is the C(suffix) option of M(regops.registry.tag_set) and M(regops.registry.image_copy), or
        C(manifests[].suffix) of an image in M(regops.registry.manifest_push), whose index gets the tags without one.
      - An alias points at the highest stable release of its series among the repository's tags with the same
        suffix. The minor and major aliases carry the prefix style (C(v3) and C(3) are different tags), so their
        series are releases written in the same style; C(latest) counts releases of either style.
        Releasing hotfix C(v2.9.5) after C(v3.0.0) moves C(v2.9) and C(v2) but not C(v3) nor C(latest);
        an alias held back is reported with action C(skipped) and the newer release it stays on.
      - A prerelease (C(v3.1.0-rc.1)) gets only its own tag.
      - Build metadata (C(+...)) is refused, because a tag cannot hold C(+).
    type: str
  aliases:
    description:
      - In semver mode, which aliases a stable release gets.
    type: list
    elements: str
    choices: [minor, major, latest]
    default: [minor, major, latest]
'''
