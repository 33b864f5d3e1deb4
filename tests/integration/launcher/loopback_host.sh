#!/usr/bin/env bash
# A private "host" for the cluster launcher test, run as the first process of
#   unshare --pid --fork --mount-proc --net --mount bash loopback_host.sh
# It hides the root user's HOME, /tmp, /run and /dev/shm behind folders of the test's own, brings
# up loopback (no other interface exists in the new network namespace) and, if asked, a LAN to a
# second network namespace, starts an sshd of its own on 127.0.0.1 and 127.0.0.2 (key-only root
# login), writes /tmp/ready, and then waits. The test runs the `ray` commands inside with nsenter;
# killing this process ends everything it started.
#
# Environment (set by the test):
#   HOST_HOME     the folder that becomes the root user's HOME (holds .bashrc and .ssh/)
#   HOST_TMP      the folder that becomes /tmp
#   HOST_KEEP     paths under HOME or /tmp that must stay visible (the interpreter, the venv,
#                 the repository), one a line
#   HOST_LAN_IP   optional: an address of this host on a /24 "LAN" (a private range), where sshd
#                 listens too; another machine on it, LAN_PEER_IP, is the network namespace
#                 /run/netns/lan-peer (`nsenter --net=/run/netns/lan-peer` from inside)
#   LAN_PEER_IP   that other machine's address, required with HOST_LAN_IP
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

# A LAN: a veth pair whose other end is a second network namespace, "another machine". /run is
# this namespace's own tmpfs, so the namespace's name goes when the test ends.
listen_lan=""
if [ -n "${HOST_LAN_IP:-}" ]; then
    ip netns add lan-peer
    ip link add veth-host type veth peer name veth-peer netns lan-peer
    ip addr add "$HOST_LAN_IP/24" dev veth-host
    ip link set veth-host up
    ip -n lan-peer link set lo up
    ip -n lan-peer addr add "$LAN_PEER_IP/24" dev veth-peer
    ip -n lan-peer link set veth-peer up
    # The peer is also the LAN's router, to nowhere: a connection beyond the LAN fails at once
    # (network unreachable, as without a LAN), and Ray, which takes as its node address the source
    # address of a route toward 8.8.8.8, binds to the LAN address as on a real head.
    ip netns exec lan-peer sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
    ip route add default via "$LAN_PEER_IP"
    listen_lan="ListenAddress $HOST_LAN_IP"
fi

mkdir -m 700 /tmp/sshd
ssh-keygen -q -t ed25519 -N '' -f /tmp/sshd/host_ed25519_key
cat >/tmp/sshd/sshd_config <<EOF
ListenAddress 127.0.0.1
ListenAddress 127.0.0.2
$listen_lan
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

last_ip=${HOST_LAN_IP:-127.0.0.2}
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/$last_ip/22") 2>/dev/null; then
        echo "$home_dir" >/tmp/ready
        break
    fi
    sleep 0.1
done
[ -e /tmp/ready ] || { echo "sshd did not listen on $last_ip:22" >&2; cat /tmp/sshd/sshd.log >&2; exit 1; }

# As PID 1 of the namespace, reap what the launcher leaves behind until the test kills us.
while :; do
    sleep 3600 &
    wait $! || true
done
