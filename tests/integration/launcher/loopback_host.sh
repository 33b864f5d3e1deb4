#!/usr/bin/env bash
# A private "host" for the cluster launcher test, run as the first process of
#   unshare --pid --fork --mount-proc --net --mount bash loopback_host.sh
# It hides the root user's HOME, /tmp, /run and /dev/shm behind folders of the test's own, brings
# up loopback (no other interface exists in the new network namespace), starts an sshd of its own
# on 127.0.0.1 and 127.0.0.2 (key-only root login), writes /tmp/ready, and then waits. The test
# runs the `ray` commands inside with nsenter; killing this process ends everything it started.
#
# Environment (set by the test):
#   HOST_HOME     the folder that becomes the root user's HOME (holds .bashrc and .ssh/)
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

# sshd reads ~/.ssh/authorized_keys from the passwd HOME; the launcher writes ~/.bashrc edits,
# ~/ray_bootstrap_config.yaml and its key there, and keeps its state and ssh sockets in /tmp.
mount --bind "$HOST_HOME" "$home_dir"
# --rbind: the paths kept aside above come along, mounted under .keep/.
mount --rbind "$HOST_TMP" /tmp
# sshd's privilege separation folder /run/sshd; Ray's object store in /dev/shm.
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mkdir -m 755 /run/sshd

for i in "${!kept[@]}"; do
    mkdir -p "${kept[$i]}"
    mount --rbind "/tmp/.keep/$i" "${kept[$i]}"
done

# The whole of 127.0.0.0/8 is local once lo is up: 127.0.0.2 needs no address of its own.
ip link set lo up

mkdir -m 700 /tmp/sshd
ssh-keygen -q -t ed25519 -N '' -f /tmp/sshd/host_ed25519_key
cat >/tmp/sshd/sshd_config <<EOF
ListenAddress 127.0.0.1
ListenAddress 127.0.0.2
HostKey /tmp/sshd/host_ed25519_key
PidFile /tmp/sshd/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# The launcher and the autoscaler open several sessions at once.
MaxStartups 64
MaxSessions 64
EOF
/usr/sbin/sshd -f /tmp/sshd/sshd_config -E /tmp/sshd/sshd.log

for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.2/22) 2>/dev/null; then
        echo "$home_dir" >/tmp/ready
        break
    fi
    sleep 0.1
done
[ -e /tmp/ready ] || { echo "sshd did not listen on 127.0.0.2:22" >&2; cat /tmp/sshd/sshd.log >&2; exit 1; }

# As PID 1 of the namespace, reap what the launcher leaves behind until the test kills us.
while :; do
    sleep 3600 &
    wait $! || true
done
