#!/bin/bash
# A power driver for tests: $1 a file the calls are appended to, $2 off|on, $3 the host, $4 its address.
# It powers a lab host "off" by taking down the link of the namespace interface holding the address,
# and "on" by bringing it up again.
set -eu
calls=$1; what=$2; host=$3; ip=$4
echo "$what $host $ip" >> "$calls"
for ns in $(ip netns list | awk '{print $1}'); do
  dev=$(ip -n "$ns" -o -4 addr show | awk -v a="$ip" '{split($4, p, "/"); if (p[1] == a) {print $2; exit}}')
  if [ -n "$dev" ]; then
    if [ "$what" = off ]; then ip -n "$ns" link set dev "$dev" down; else ip -n "$ns" link set dev "$dev" up; fi
    exit 0
  fi
done
echo "no lab host holds $ip" >&2
exit 3
