"""Merges the profiles a run collected and prints one JSON document. nova-api's are per request
(scripts/lab/nova-api-profiled/nova-api-wsgi writes <kind>.<pid>.<n>.prof, the kind being METHOD_path
without ids); nova-conductor's and nova-compute's are per process (scripts/lab/nova-profiled writes
<name>.<pid>.prof, and <name>.<pid>.running while it profiles: this waits up to 15 s for those to go).
The document: how many profiles, for all of them and for each kind the total time, the top functions by
cumulative time below the outermost frames and the top functions by own time, and the merged profile
(base64 of pstats' marshal format, for `python3 -m pstats FILE`). Usage: python3 prof-top.py FOLDER [TOP]
"""
import base64
import glob
import json
import os
import pstats
import re
import sys
import tempfile
import time

WRAPPERS = ('nova-api-profiled/nova-api-wsgi', 'nova-profiled/')


def where(filename):
    """The file below its package root (dist-packages/…, lib/python3.x/…), and the package it is in."""
    m = re.search(r'(?:dist|site)-packages/(.*)$', filename)
    if m:
        rel = m.group(1)
        return rel, rel.split('/')[0].split('.')[0]
    m = re.search(r'/lib/(python3[.0-9]*/.*)$', filename)
    if m:
        return m.group(1), 'python'
    return filename, 'python' if filename.startswith('<') or filename == '~' else os.path.basename(filename)


def top(stats, n):
    """Below the outermost frames, by cumulative time; by own time; and the whole profile's time.

    The frames that hold (nearly) all of it (a request's WSGI pipeline: urlmap, webob, the middlewares,
    the dispatcher; a service's event loop) say nothing about where it went: frames at 90 % or more are left out.
    """
    rows = []
    for (filename, line, name), (cc, nc, tt, ct, _callers) in stats.stats.items():
        if filename == 'profile' or any(w in filename for w in WRAPPERS) or filename.endswith('eventlet/green/profile.py'):
            continue  # the profiler's own frames and the wrapper around Nova's app
        rel, package = where(filename)
        function = name if filename == '~' else '%s:%d(%s)' % (rel, line, name)
        rows.append({'function': function, 'package': package, 'calls': nc, 'primitive_calls': cc,
                     'own_ms': round(tt * 1000, 2), 'cumulative_ms': round(ct * 1000, 2)})
    rows.sort(key=lambda r: -r['cumulative_ms'])
    total = rows[0]['cumulative_ms'] if rows else 0
    below = [r for r in rows if r['cumulative_ms'] < 0.9 * total]
    hot = sorted(rows, key=lambda r: -r['own_ms'])
    return {'total_ms': total, 'top': below[:n], 'hot': hot[:n]}


def main():
    folder = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    deadline = time.time() + 15
    while glob.glob(os.path.join(folder, '*.running')) and time.time() < deadline:
        time.sleep(0.05)
    files = sorted(glob.glob(os.path.join(folder, '*.prof')))
    out = {'requests': len(files), 'kinds': [], 'total_ms': 0, 'top': [], 'hot': []}
    if files:
        by_kind = {}
        for f in files:
            # <kind>.<pid>.<n>.prof or <name>.<pid>.prof (a kind may hold dots: POST_v2.1_servers_{id}_action)
            by_kind.setdefault(re.sub(r'(\.\d+)+\.prof$', '', os.path.basename(f)), []).append(f)
        for kind, fs in sorted(by_kind.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            out['kinds'].append(dict({'kind': kind, 'requests': len(fs)}, **top(pstats.Stats(*fs), n)))
        merged = pstats.Stats(*files)
        out.update(top(merged, n))
        with tempfile.NamedTemporaryFile(suffix='.prof') as tmp:
            merged.dump_stats(tmp.name)
            with open(tmp.name, 'rb') as f:
                out['prof'] = base64.b64encode(f.read()).decode('ascii')
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()
