"""Run the collection through ansible-playbook, the way users do, and read the results."""

import glob
import json
import os
import subprocess
import sys

import yaml


def install_collection(source, workdir):
    """Build the collection tarball from ``source`` and install it, as users do; returns the collections path."""
    out = os.path.join(workdir, 'build')
    path = os.path.join(workdir, 'collections')
    subprocess.run(['ansible-galaxy', 'collection', 'build', '--force', '--output-path', out, source],
                   check=True, capture_output=True, text=True)
    tarball = glob.glob(os.path.join(out, 'regops-registry-*.tar.gz'))[0]
    # --no-deps: galaxy.yml's dependencies (community.docker, .crypto, .general) come with the `ansible` package of
    # the test environment (requirements-dev.txt), and Galaxy is not reachable from CI. Resolving them is tested
    # once, offline, in tests/integration/test_fresh_install.py.
    subprocess.run(['ansible-galaxy', 'collection', 'install', '--force', '--no-deps', '-p', path, tarball],
                   check=True, capture_output=True, text=True)
    return path


class PlaybookRun(object):
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        try:
            self.data = json.loads(proc.stdout)
        except ValueError:
            self.data = None

    def task_results(self):
        """Module results of every task on localhost, in order."""
        if self.data is None:
            raise AssertionError('no JSON from ansible-playbook (rc %d):\n%s\n%s' % (self.rc, self.stdout[-3000:], self.stderr[-3000:]))
        results = []
        for play in self.data['plays']:
            for task in play['tasks']:
                results.append(task['hosts']['localhost'])
        return results

    @property
    def result(self):
        """The result of the last task."""
        return self.task_results()[-1]

    @property
    def stats(self):
        return self.data['stats']['localhost']


class AnsibleRunner(object):
    """ansible-playbook against localhost with the collection installed from its built tarball."""

    def __init__(self, collections_path, workdir):
        self.collections_path = collections_path
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.inventory = os.path.join(workdir, 'inventory.ini')
        with open(self.inventory, 'w') as f:
            f.write('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
        self.counter = 0

    def env(self, extra=None, callback='ansible.posix.json'):
        env = dict(os.environ)
        env.update({
            'ANSIBLE_COLLECTIONS_PATH': self.collections_path,
            'ANSIBLE_STDOUT_CALLBACK': callback,
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_RETRY_FILES_ENABLED': '0',
            'ANSIBLE_LOCAL_TEMP': os.path.join(self.workdir, 'tmp'),
            'ANSIBLE_HOME': os.path.join(self.workdir, 'home'),
        })
        env.update(extra or {})
        return env

    def playbook(self, plays, check=False, diff=False, extra_args=(), env=None, callback='ansible.posix.json'):
        """Run ``plays`` (a list of plays, or a path of a playbook / an FQCN) and return a PlaybookRun."""
        if isinstance(plays, str):
            target = plays
        else:
            self.counter += 1
            target = os.path.join(self.workdir, 'playbook-%03d.yml' % self.counter)
            with open(target, 'w') as f:
                yaml.safe_dump(plays, f, sort_keys=False)
        cmd = ['ansible-playbook', '-i', self.inventory, target] + list(extra_args)
        if check:
            cmd.append('--check')
        if diff:
            cmd.append('--diff')
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env(env, callback), cwd=self.workdir, check=False)
        return PlaybookRun(proc)

    def role(self, name, variables, tasks_from=None, check=False, diff=False, extra_args=()):
        """Run a role (by FQCN) on localhost with ``variables``, through include_role; the default callback's text
        is in ``.stdout``."""
        include = {'name': name}
        if tasks_from:
            include['tasks_from'] = tasks_from
        play = [{'hosts': 'localhost', 'gather_facts': False,
                 'tasks': [{'name': 'Run %s' % name, 'ansible.builtin.include_role': include, 'vars': variables}]}]
        return self.playbook(play, check=check, diff=diff, extra_args=extra_args, callback='ansible.builtin.default')

    def module(self, name, args, check=False, diff=False, env=None):
        """Run one module task (by FQCN) and return the PlaybookRun; ``.result`` is the module's result."""
        play = [{'hosts': 'localhost', 'gather_facts': False,
                 'tasks': [{'name': 'run %s' % name, name: args, 'ignore_errors': True}]}]
        return self.playbook(play, check=check, diff=diff, env=env)
