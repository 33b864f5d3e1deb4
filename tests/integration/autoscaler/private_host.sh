#!/usr/bin/env bash
# A private "host" for the autoscaler test, run as the first process of
#   unshare --pid --fork --mount-proc --net --mount bash private_host.sh
# It hides the root user's HOME, /tmp, /run and /dev/shm behind folders of the test's own, brings
# up loopback (no other interface exists in the new network namespace, so GCS's fixed port 6379
# is the test's alone), writes /tmp/ready, and then waits. The test runs `ray start` and
# raytune-hp inside with nsenter; killing this process ends everything they started.
# (The namespace part of tests/integration/launcher/loopback_host.sh, without its sshd.)
#
# Environment (set by the test):
#   HOST_HOME     the folder that becomes the root user's HOME (holds ray_bootstrap_config.yaml)
#   HOST_TMP      the folder that becomes /tmp
#   HOST_KEEP     paths under HOME or /tmp that must stay visible (the interpreter, the venv,
#                 the repository), one a line
set -euo pipefail

home_dir=$(getent passwd "$(id -u)" | cut -d: -f6)
stash="$HOST_TMP/.keep"
mkdir -p "$stash"

# Keep what lives under the folders about to be hidden: bind it aside now, back in place later.
kept=()
while IFS= read -r path; do
    [ -n "$path" ] || continue
    slot="$stash/${#kept[@]}"
    mkdir -p "$slot"
    mount --rbind "$path" "$slot"
    kept+=("$path")
done <<<"${HOST_KEEP:-}"

mount --bind "$HOST_HOME" "$home_dir"
# --rbind: the paths kept aside above come along, mounted under .keep/.
mount --rbind "$HOST_TMP" /tmp
# Ray's object stores in /dev/shm, and nothing of the machine's /run.
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /dev/shm

for i in "${!kept[@]}"; do
    mkdir -p "${kept[$i]}"
    mount --rbind "/tmp/.keep/$i" "${kept[$i]}"
done

ip link set lo up
echo "$home_dir" >/tmp/ready

# As PID 1 of the namespace, reap what Ray leaves behind until the test kills us.
while :; do
    sleep 3600 &
    wait $! || true
done
