package collect

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/procfs"
	"github.com/prometheus/procfs/blockdevice"
	"golang.org/x/sys/unix"
)

// Device is the block device holding a directory.
type Device struct {
	Name         string // as in /proc/diskstats: vda, nvme0n1p2, dm-0
	Major, Minor uint32
	Dir          string // the directory asked about, symlinks resolved
	MountPoint   string
	FSType       string
}

// ResolveDevice finds the block device holding dir: stat gives st_dev,
// mountinfo the mount with that major:minor, and sysfs
// (/sys/dev/block/MAJ:MIN) the kernel's name for it. A filesystem with an
// anonymous st_dev (btrfs, overlay) is resolved through its mount source
// when that is a /dev node. A directory on no block device (tmpfs) is an
// error naming the filesystem.
func ResolveDevice(procRoot, sysRoot, dir string) (Device, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return Device{}, fmt.Errorf("collect: data dir %s: %w", dir, err)
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return Device{}, fmt.Errorf("collect: data dir %s: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(real, &st); err != nil {
		return Device{}, fmt.Errorf("collect: stat data dir %s: %w", real, err)
	}
	mnt, err := mountOf(procRoot, real, st.Dev)
	if err != nil {
		return Device{}, err
	}
	d := Device{Major: unix.Major(st.Dev), Minor: unix.Minor(st.Dev), Dir: real, MountPoint: mnt.MountPoint, FSType: mnt.FSType}
	if d.Major == 0 { // anonymous device: try the mount's source
		var src unix.Stat_t
		if !strings.HasPrefix(mnt.Source, "/dev/") || unix.Stat(mnt.Source, &src) != nil || src.Mode&unix.S_IFMT != unix.S_IFBLK {
			return Device{}, fmt.Errorf("collect: data dir %s is on %s (%s at %s), not on a block device", real, mnt.FSType, mnt.Source, mnt.MountPoint)
		}
		d.Major, d.Minor = unix.Major(src.Rdev), unix.Minor(src.Rdev)
	}
	link := filepath.Join(sysRoot, "dev", "block", fmt.Sprintf("%d:%d", d.Major, d.Minor))
	target, err := os.Readlink(link)
	if err != nil {
		return Device{}, fmt.Errorf("collect: data dir %s: block device %d:%d: %w", real, d.Major, d.Minor, err)
	}
	d.Name = filepath.Base(target)
	return d, nil
}

// mountOf returns the mount that holds path on device dev: the longest
// mount point that prefixes path among mounts with dev's major:minor.
func mountOf(procRoot, path string, dev uint64) (*procfs.MountInfo, error) {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return nil, fmt.Errorf("collect: open %s: %w", procRoot, err)
	}
	mounts, err := fs.GetMounts()
	if err != nil {
		return nil, fmt.Errorf("collect: read %s/self/mountinfo: %w", procRoot, err)
	}
	want := fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev))
	var best *procfs.MountInfo
	for _, m := range mounts {
		if m.MajorMinorVer != want || !within(path, m.MountPoint) {
			continue
		}
		if best == nil || len(m.MountPoint) >= len(best.MountPoint) { // later mounts shadow earlier ones
			best = m
		}
	}
	if best == nil {
		return nil, fmt.Errorf("collect: no mount of device %s holds %s", want, path)
	}
	return best, nil
}

func within(path, mountPoint string) bool {
	return mountPoint == "/" || path == mountPoint || strings.HasPrefix(path, mountPoint+"/")
}

// diskSource reads the data dir's device from /proc/diskstats and its
// filesystem with statfs.
type diskSource struct {
	dev Device
	fs  blockdevice.FS
}

func (d *diskSource) readStats(b *batch) error {
	all, err := d.fs.ProcDiskstats()
	if err != nil {
		return fmt.Errorf("read diskstats: %w", err)
	}
	for _, s := range all {
		if s.MajorNumber != d.dev.Major || s.MinorNumber != d.dev.Minor {
			continue
		}
		name := d.dev.Name
		b.gauge(diskInfo, 1, name, d.dev.Dir, d.dev.MountPoint, d.dev.FSType)
		const sector = 512 // diskstats counts 512-byte sectors whatever the device's block size
		ms := func(v uint64) float64 { return float64(v) / 1e3 }
		b.counter(diskOps, float64(s.ReadIOs), name, "read")
		b.counter(diskOps, float64(s.WriteIOs), name, "write")
		b.counter(diskBytes, float64(s.ReadSectors*sector), name, "read")
		b.counter(diskBytes, float64(s.WriteSectors*sector), name, "write")
		b.counter(diskOpTime, ms(s.ReadTicks), name, "read")
		b.counter(diskOpTime, ms(s.WriteTicks), name, "write")
		if s.IoStatsCount >= 18 { // discards since 4.18
			b.counter(diskOps, float64(s.DiscardIOs), name, "discard")
			b.counter(diskBytes, float64(s.DiscardSectors*sector), name, "discard")
			b.counter(diskOpTime, ms(s.DiscardTicks), name, "discard")
		}
		if s.IoStatsCount >= 20 { // flushes since 5.5
			b.counter(diskOps, float64(s.FlushRequestsCompleted), name, "flush")
			b.counter(diskOpTime, ms(s.TimeSpentFlushing), name, "flush")
		}
		b.gauge(diskInFlight, float64(s.IOsInProgress), name)
		b.counter(diskIOTime, ms(s.IOsTotalTicks), name)
		b.counter(diskWeighted, ms(s.WeightedIOTicks), name)
		return nil
	}
	return fmt.Errorf("device %s (%d:%d) not in diskstats", d.dev.Name, d.dev.Major, d.dev.Minor)
}

func (d *diskSource) readStatfs(b *batch) error {
	var s unix.Statfs_t
	if err := unix.Statfs(d.dev.Dir, &s); err != nil {
		return fmt.Errorf("statfs %s: %w", d.dev.Dir, err)
	}
	b.gauge(fsFree, float64(s.Bavail)*float64(s.Bsize), d.dev.Dir)
	b.gauge(fsSize, float64(s.Blocks)*float64(s.Bsize), d.dev.Dir)
	return nil
}
