"""A whole-process profiler for Nova's eventlet services (nova-conductor, nova-compute), switched by a flag file.

The all-in-one lab starts these services through the wrappers beside this file, which load Nova's own
entry point (nova.cmd.<service>.main) unchanged; Nova's files are not touched. A green thread polls the
file named by DOCTOR_PROFILE_FLAG every POLL_S: while it names a folder and an expiry not yet passed (two
lines; doctor run --profile-cloud writes it for the fault window), every green thread of the process is
profiled with eventlet's profiler (the services run monkey-patched, so cProfile would lose track of green
threads; Nova's own "Profiling With Eventlet" guide). When the flag goes away or expires, the profile is
written to that folder as <name>.<pid>.prof, in the format of Python's profile module (pstats reads it).
While a profile is being taken, <name>.<pid>.running is in the folder: whoever merges waits for it to go.
Otherwise the poll costs one failed open() per POLL_S. A profiled service is slower (a pure-Python
profiler): timings of a profiled run are not comparable.
"""
import os
import sys
import time

FLAG = os.environ.get('DOCTOR_PROFILE_FLAG', '')
POLL_S = 0.1


def _folder():
    """The folder the flag names, while its expiry (epoch seconds, its second line) is ahead."""
    try:
        with open(FLAG) as f:
            lines = f.read().split('\n')
        folder, until = lines[0].strip(), float(lines[1])
    except (OSError, IndexError, ValueError):
        return None
    # A run that died without taking the flag away does not leave the profiler on: it expires.
    if not folder or time.time() > until or not os.path.isdir(folder):
        return None
    return folder


def _watch(name):
    import eventlet
    from eventlet.green import profile
    prof, where, marker = None, None, None
    while True:
        try:
            folder = _folder()
            if prof is None and folder is not None:
                where = folder
                marker = os.path.join(where, '%s.%d.running' % (name, os.getpid()))
                open(marker, 'w').close()
                prof = profile.Profile()
                prof.start()
            elif prof is not None and folder != where:
                prof.stop()
                try:
                    prof.dump_stats(os.path.join(where, '%s.%d.prof' % (name, os.getpid())))
                finally:
                    prof = None
                    os.unlink(marker)
                    marker = None
        except Exception:  # nothing here may stop the service: the merge reports a missing profile
            sys.setprofile(None)
            prof = None
            if marker:
                try:
                    os.unlink(marker)
                except OSError:
                    pass
                marker = None
        eventlet.sleep(POLL_S)


def watch(name):
    """Starts the poller (a green thread); nothing without DOCTOR_PROFILE_FLAG."""
    if FLAG:
        import eventlet
        eventlet.spawn_n(_watch, name)
