#!/bin/sh
# Regenerates the v2 and hybrid fixture trees. File formats are those of
# real hosts: the v2 files as a 6.1 kernel prints them (kubelet with the
# systemd driver and containerd, one Burstable pod), the hybrid tree as this
# project's machines print them (kernel 6.18, v1 memory controller, cgroup2
# at /sys/fs/cgroup/unified without controllers). Values are edited to make
# the arithmetic in the tests easy to check by hand.
set -eu
cd "$(dirname "$0")"
rm -rf v2 hybrid

v2stat() { # anon file inactive_file active_file
cat <<STAT
anon $1
file $2
kernel 1835008
kernel_stack 163840
pagetables 425984
sec_pagetables 0
percpu 0
sock 0
vmalloc 0
shmem 0
zswap 0
zswapped 0
file_mapped 8192000
file_dirty 0
file_writeback 0
swapcached 0
anon_thp 0
file_thp 0
shmem_thp 0
inactive_anon $1
active_anon 0
inactive_file $3
active_file $4
unevictable 0
slab_reclaimable 651264
slab_unreclaimable 507904
slab 1159168
workingset_refault_anon 0
workingset_refault_file 0
workingset_activate_anon 0
workingset_activate_file 0
workingset_restore_anon 0
workingset_restore_file 0
workingset_nodereclaim 0
pgscan 0
pgsteal 0
pgscan_kswapd 0
pgscan_direct 0
pgsteal_kswapd 0
pgsteal_direct 0
pgfault 254853
pgmajfault 0
pgrefill 0
pgactivate 0
pgdeactivate 0
pglazyfree 0
pglazyfreed 0
thp_fault_alloc 0
thp_collapse_alloc 0
STAT
}
v2events() { printf 'low 0\nhigh %s\nmax %s\noom %s\noom_kill %s\noom_group_kill %s\n' "$@"; }

R=v2/sys/fs/cgroup
mkdir -p v2/proc/self v2/proc/4711 "$R"
cat > v2/proc/self/mountinfo <<MI
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/root rw
30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
MI
echo "cpuset cpu io memory hugetlb pids rdma misc" > $R/cgroup.controllers
v2stat 1610612736 4294967296 2147483648 1073741824 > $R/memory.stat
printf 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n' > $R/memory.pressure
K=$R/kubepods.slice
P=$K/kubepods-burstable.slice/kubepods-burstable-pod0057cc81_ea16_463a_96c2_fc74acfb9c47.slice
C=$P/cri-containerd-3d5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2.scope
S=$P/cri-containerd-aa5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2.scope
for d in $K $K/kubepods-burstable.slice $P $C $S; do
	mkdir -p $d
	echo "memory" > $d/cgroup.controllers
	echo max > $d/memory.high
	echo max > $d/memory.swap.max
	echo 0 > $d/memory.swap.current
	echo 0 > $d/memory.oom.group
	: > $d/cgroup.procs
done
echo 24000000000 > $K/memory.max;  echo 3221225472 > $K/memory.current; v2stat 2147483648 1073741824 536870912 268435456 > $K/memory.stat; v2events 0 3 1 1 0 > $K/memory.events
echo max > $K/kubepods-burstable.slice/memory.max; echo 3000000000 > $K/kubepods-burstable.slice/memory.current; v2stat 2147483648 852516352 536870912 268435456 > $K/kubepods-burstable.slice/memory.stat; v2events 0 3 1 1 0 > $K/kubepods-burstable.slice/memory.events
echo 2147483648 > $P/memory.max;   echo 1900000000 > $P/memory.current; v2stat 1500000000 400000000 300000000 100000000 > $P/memory.stat; v2events 0 3 1 1 0 > $P/memory.events
echo 1610612736 > $C/memory.max;   echo 1400000000 > $C/memory.current; v2stat 1200000000 200000000 150000000 50000000 > $C/memory.stat; v2events 0 3 1 1 0 > $C/memory.events; echo 1 > $C/memory.oom.group
echo 4711 > $C/cgroup.procs
echo 536870912 > $S/memory.max;    echo 500000000 > $S/memory.current; v2stat 300000000 200000000 150000000 50000000 > $S/memory.stat; v2events 0 0 0 0 0 > $S/memory.events
echo "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0057cc81_ea16_463a_96c2_fc74acfb9c47.slice/cri-containerd-3d5a2b8f0c4e9a7b6d1f2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2.scope" > v2/proc/4711/cgroup

# hybrid: v1 memory controller + cgroup2 "unified" without controllers.
M=hybrid/sys/fs/cgroup/memory
mkdir -p hybrid/proc/self hybrid/sys/fs/cgroup/unified "$M/process_api/eb9b31023abc25aeac90dba9de18798c"
cat > hybrid/proc/self/mountinfo <<MI
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
MI
: > hybrid/sys/fs/cgroup/unified/cgroup.controllers
v1() { # dir limit usage inactive_file active_file failcnt oom_kill use_hierarchy
	d=$1
	echo "$2" > $d/memory.limit_in_bytes
	echo "$3" > $d/memory.usage_in_bytes
	echo "$2" > $d/memory.memsw.limit_in_bytes
	echo "$3" > $d/memory.memsw.usage_in_bytes
	echo "$6" > $d/memory.failcnt
	echo "$8" > $d/memory.use_hierarchy
	echo 60 > $d/memory.swappiness
	printf 'oom_kill_disable 0\nunder_oom 0\noom_kill %s\n' "$7" > $d/memory.oom_control
	cat > $d/memory.stat <<STAT
cache 90112
rss 1691648
rss_huge 0
shmem 0
mapped_file 0
dirty 24576
writeback 0
swap 0
pgpgin 23260
pgpgout 22825
pgfault 52938
pgmajfault 6
inactive_anon 1564672
active_anon 8192
inactive_file $4
active_file $5
unevictable 0
hierarchical_memory_limit 9223372036854771712
hierarchical_memsw_limit 9223372036854771712
total_cache 90112
total_rss 1691648
total_inactive_file $4
total_active_file $5
total_unevictable 0
STAT
	: > $d/cgroup.procs
}
v1 $M 9223372036854771712 1163264000 500000000 300000000 0 0 1
v1 $M/process_api 9223372036854771712 3899392 16384 73728 0 0 1
v1 $M/process_api/eb9b31023abc25aeac90dba9de18798c 268435456 2899968 16384 73728 7 2 1
