import { execFileSync } from 'node:child_process';

// Debian's python3-tooz lives under the system python, not a pyenv one that may come first on PATH.
const PYTHON = '/usr/bin/python3';

export interface RingCase { members: string[]; keys: string[]; replicas: number; ignore: string[] }

/** tooz's own answer (python3-tooz HashRing.get_nodes) for each case: owners of every key, sorted. */
export function toozOwners(cases: RingCase[]): string[][][] {
  const script = `
import json, sys
from tooz import hashring
out = []
for c in json.load(sys.stdin):
    r = hashring.HashRing(c["members"])
    out.append([sorted(r.get_nodes(k.encode("utf-8"), ignore_nodes=c["ignore"], replicas=c["replicas"])) for k in c["keys"]])
print(json.dumps(out))
`;
  const out = JSON.parse(execFileSync(PYTHON, ['-c', script], { input: JSON.stringify(cases), encoding: 'utf8' })) as string[][][];
  // Python sorts by code point, JavaScript by UTF-16 unit: sort both sides the same way.
  return out.map((c) => c.map((owners) => owners.sort()));
}
