"""Doctor's sample inspector, as the peer in `npm run bench:inspector`.

Rebuilt from what ../shared/reference/doctor.md records of doctor_tests/inspector/sample.py
(OPNFV Doctor master), so that ours can be measured beside it on the same cloud:

- a Flask server; PUT /events handles compute.host.down and answers "OK" only once every
  action is done (the caller's request blocks);
- at start, a servers-by-host cache from one detailed all-tenants server list (novaclient
  follows Nova's pages), grouped by OS-EXT-SRV-ATTR:host, never refreshed;
- on an event, threads that are all joined: force_down(host, 'nova-compute', True) at compute
  microversion 2.11, and one thread per cached VM calling reset_state(server, 'error'), each
  with its own novaclient from a pool as large as the VM count, over one keystoneauth session.

With a nova.conf path as the second argument, also Doctor's shortcut (its inspector since 2018):
an oslo.messaging Notifier on the transport URL of that file's [DEFAULT] transport_url, topic
"notifications", publisher "sample", and on an event one more thread that starts a thread per
cached VM, each publishing compute.instance.update {tenant_id, instance_id, state: error}. The path,
not the URL, is the argument: the URL holds the broker's password. Without it (the simulated cloud
has no message bus) no shortcut. No Neutron port status (off by default in Doctor). Credentials
come from OS_* variables (never argv). Runs with Debian's
python3 (python3-flask, python3-novaclient, python3-keystoneauth1). After each event it
prints one JSON line: when the request arrived, when the host was marked down and the last
VM reset finished (time.time(), as Doctor logs them), and how many VMs it reset.
"""
import json
import logging
import os
import sys
import threading
import time

from flask import Flask, request
from keystoneauth1 import loading, session as ks_session
from novaclient import client as nova_client

logging.getLogger('werkzeug').setLevel(logging.ERROR)


def keystone_session():
    loader = loading.get_plugin_loader('password')
    auth = loader.load_from_options(
        auth_url=os.environ['OS_AUTH_URL'], username=os.environ['OS_USERNAME'], password=os.environ['OS_PASSWORD'],
        project_name=os.environ['OS_PROJECT_NAME'], user_domain_name=os.environ.get('OS_USER_DOMAIN_NAME', 'Default'),
        project_domain_name=os.environ.get('OS_PROJECT_DOMAIN_NAME', 'Default'))
    return ks_session.Session(auth=auth)


def notifier_from(nova_conf):
    """Doctor's shortcut publisher on the broker nova.conf names, or None without a nova.conf."""
    if not nova_conf:
        return None
    import configparser
    import oslo_messaging
    from oslo_config import cfg
    parser = configparser.RawConfigParser(strict=False)
    parser.read(nova_conf)
    url = parser.get('DEFAULT', 'transport_url')
    cfg.CONF([], project='doctor-bench')
    transport = oslo_messaging.get_notification_transport(cfg.CONF, url=url)
    notifier = oslo_messaging.Notifier(transport, 'compute.instance.update', driver='messaging', topics=['notifications'])
    return notifier.prepare(publisher_id='sample')


class SampleInspector:
    def __init__(self, nova_conf=None):
        self.notifier = notifier_from(nova_conf)
        self.session = keystone_session()
        self.nova = nova_client.Client('2.11', session=self.session)
        self.servers = {}
        for server in self.nova.servers.list(detailed=True, search_opts={'all_tenants': True}):
            host = getattr(server, 'OS-EXT-SRV-ATTR:host')
            self.servers.setdefault(host, []).append(server)
        count = sum(len(v) for v in self.servers.values())
        self.clients = [nova_client.Client('2.11', session=self.session) for _ in range(max(1, count))]
        self.hosts_down = set()

    def handle(self, hostname, received):
        marks = {}

        def force_down():
            self.nova.services.force_down(hostname, 'nova-compute', True)
            marks['host_down_at'] = time.time()

        def reset(server, nova):
            nova.servers.reset_state(server, 'error')
            marks['vm_down_at'] = max(marks.get('vm_down_at', 0), time.time())

        def publish(server):
            self.notifier.info({'some': 'context'}, 'compute.instance.update',
                               {'tenant_id': server.tenant_id, 'instance_id': server.id, 'state': 'error'})

        def shortcut():
            sends = [threading.Thread(target=publish, args=(s,)) for s in vms]
            for t in sends:
                t.start()
            for t in sends:
                t.join()
            marks['shortcut_at'] = time.time()

        vms = self.servers.get(hostname, [])
        threads = [threading.Thread(target=shortcut)] if self.notifier else []
        threads += [threading.Thread(target=force_down)]
        threads += [threading.Thread(target=reset, args=(s, c)) for s, c in zip(vms, self.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.hosts_down.add(hostname)
        print(json.dumps({'host': hostname, 'received': received, 'vms': len(vms), **marks}), flush=True)

    def stop(self):
        for host in self.hosts_down:
            self.nova.services.force_down(host, 'nova-compute', False)


def main():
    port = int(sys.argv[1])
    inspector = SampleInspector(sys.argv[2] if len(sys.argv) > 2 else None)
    app = Flask(__name__)

    @app.route('/events', methods=['PUT'])
    def events():
        received = time.time()
        for event in request.get_json(force=True):
            if event.get('type') == 'compute.host.down':
                inspector.handle(event['details']['hostname'], received)
        return 'OK'

    @app.route('/health', methods=['GET'])
    def health():
        return 'OK'

    import signal

    def stop(*_):
        inspector.stop()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(json.dumps({'listening': port, 'cached': sum(len(v) for v in inspector.servers.values()), 'shortcut': inspector.notifier is not None}), flush=True)
    app.run(host='127.0.0.1', port=port)


if __name__ == '__main__':
    main()
