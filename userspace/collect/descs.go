package collect

import "github.com/prometheus/client_golang/prometheus"

func desc(name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc(name, help, labels, nil)
	nodeDescs = append(nodeDescs, d)
	return d
}

// nodeDescs lists every Desc the Node collector may send (for Describe).
var nodeDescs []*prometheus.Desc

var (
	sourceUp = desc("dorivo_collect_source_up", "1 if the source (a /proc or /sys file group) was read at the last collection; 0 leaves its series out.", "source")

	// /proc/stat, /proc/loadavg
	cpuSeconds     = desc("dorivo_node_cpu_seconds_total", "CPU time by CPU and mode; steal is time the hypervisor ran someone else.", "cpu", "mode")
	load1          = desc("dorivo_node_load1", "1-minute load average (runnable plus uninterruptible tasks).")
	load5          = desc("dorivo_node_load5", "5-minute load average.")
	load15         = desc("dorivo_node_load15", "15-minute load average.")
	procsRunning   = desc("dorivo_node_procs_running", "Tasks runnable now (compare with the CPU count).")
	procsBlocked   = desc("dorivo_node_procs_blocked", "Tasks blocked in uninterruptible I/O wait now.")
	contextSwitch  = desc("dorivo_node_context_switches_total", "Context switches on all CPUs.")
	softirqs       = desc("dorivo_node_softirqs_total", "Softirqs handled, by CPU and type (net_rx/net_tx show network load per CPU).", "cpu", "type")
	pressureStall  = desc("dorivo_node_pressure_stalled_seconds_total", "PSI: time some (or all, kind=full) non-idle tasks were stalled on the resource.", "resource", "kind")
	memoryBytes    = desc("dorivo_node_memory_bytes", "Fields of /proc/meminfo, in bytes.", "field")
	pageFaults     = desc("dorivo_node_page_faults_total", "Page faults, minor and major.")
	majorFaults    = desc("dorivo_node_major_page_faults_total", "Page faults that had to read from disk.")
	pagesScanned   = desc("dorivo_node_pages_scanned_total", "Pages scanned for reclaim, by kswapd or by allocating tasks (direct).", "by")
	pagesReclaimed = desc("dorivo_node_pages_reclaimed_total", "Pages reclaimed, by kswapd or by allocating tasks (direct).", "by")
	allocStalls    = desc("dorivo_node_alloc_stalls_total", "Allocations that stalled in direct reclaim (all zones).")
	oomKills       = desc("dorivo_node_oom_kills_total", "Processes killed by the OOM killer.")
	swappedPages   = desc("dorivo_node_swapped_pages_total", "Pages swapped in or out.", "direction")

	// network
	netBytes       = desc("dorivo_node_net_bytes_total", "Bytes through the interface.", "iface", "direction")
	netPackets     = desc("dorivo_node_net_packets_total", "Packets through the interface.", "iface", "direction")
	netErrors      = desc("dorivo_node_net_errors_total", "Packets with errors on the interface.", "iface", "direction")
	netDrops       = desc("dorivo_node_net_drops_total", "Packets the interface or its driver dropped.", "iface", "direction")
	softnetDropped = desc("dorivo_node_softnet_dropped_total", "Packets dropped because the CPU's input backlog was full.", "cpu")
	softnetSqueeze = desc("dorivo_node_softnet_times_squeezed_total", "NET_RX runs that ran out of budget with work left (raise netdev_budget).", "cpu")
	tcpRetrans     = desc("dorivo_node_tcp_retransmitted_segments_total", "TCP segments retransmitted (agent's network namespace).")
	tcpOverflows   = desc("dorivo_node_tcp_listen_overflows_total", "Connections dropped because a listen queue was full.")
	tcpListenDrops = desc("dorivo_node_tcp_listen_drops_total", "SYNs dropped on a listening socket for any reason.")
	udpInErrors    = desc("dorivo_node_udp_receive_errors_total", "UDP datagrams that could not be delivered (checksum, buffer).")
	udpRcvbuf      = desc("dorivo_node_udp_receive_buffer_errors_total", "UDP datagrams dropped because a socket's receive buffer was full.")
	udpSndbuf      = desc("dorivo_node_udp_send_buffer_errors_total", "UDP sends that failed for lack of socket send buffer.")

	// the agent process
	procThreads  = desc("dorivo_process_threads", "OS threads of the agent process.")
	procCtxSw    = desc("dorivo_process_context_switches_total", "Context switches of the agent process (voluntary: blocked; involuntary: preempted).", "kind")
	procFaults   = desc("dorivo_process_page_faults_total", "Page faults of the agent process.", "kind")
	procRunqWait = desc("dorivo_process_runqueue_wait_seconds_total", "Time the agent's live threads were runnable but waiting for a CPU (CPU starvation).")
	procDisk     = desc("dorivo_process_disk_bytes_total", "Bytes the agent caused to be read from or written to storage.", "op")

	// the data directory's disk and filesystem
	diskInfo     = desc("dorivo_disk_data_dir_info", "Always 1: the block device and mount holding the data directory.", "device", "dir", "mountpoint", "fstype")
	diskOps      = desc("dorivo_disk_ops_total", "Completed requests on the data dir's device, by op (flush = cache flushes, e.g. from fsync).", "device", "op")
	diskBytes    = desc("dorivo_disk_bytes_total", "Bytes transferred on the data dir's device, by op.", "device", "op")
	diskOpTime   = desc("dorivo_disk_op_seconds_total", "Time requests spent queued and in service, by op (op_seconds / ops = mean latency).", "device", "op")
	diskInFlight = desc("dorivo_disk_ios_in_progress", "Requests issued to the device and not yet completed.", "device")
	diskIOTime   = desc("dorivo_disk_io_seconds_total", "Time the device had requests in flight (rate = utilization).", "device")
	diskWeighted = desc("dorivo_disk_io_weighted_seconds_total", "Request-weighted time in flight (rate = mean queue depth).", "device")
	fsFree       = desc("dorivo_disk_data_dir_avail_bytes", "Bytes available to the agent on the data dir's filesystem.", "dir")
	fsSize       = desc("dorivo_disk_data_dir_size_bytes", "Size of the data dir's filesystem.", "dir")
)
