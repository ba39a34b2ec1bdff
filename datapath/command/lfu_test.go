package command

import "testing"

// Redis's LFU arithmetic on an injected clock (ms) and random numbers.
func TestLFU(t *testing.T) {
	const min = 60_000
	now := int64(1000 * min)
	v := lfuAccess(0, now, 0.99) // a new key
	if got := lfuDecayed(v, now); got != lfuInitVal {
		t.Fatalf("new key: %d, want %d", got, lfuInitVal)
	}
	v = lfuAccess(v, now, 0.99) // counter 5: p = 1
	if got := lfuDecayed(v, now); got != 6 {
		t.Fatalf("first access: %d, want 6", got)
	}
	if got := lfuDecayed(lfuAccess(v, now, 0.5), now); got != 6 { // p = 1/11
		t.Fatalf("access with r=0.5 at 6: %d, want 6", got)
	}
	if got := lfuDecayed(lfuAccess(v, now, 0.05), now); got != 7 {
		t.Fatalf("access with r=0.05 at 6: %d, want 7", got)
	}
	if got := lfuDecayed(v, now+4*min); got != 2 { // one per minute
		t.Fatalf("4 minutes later: %d, want 2", got)
	}
	if got := lfuDecayed(v, now+10*min); got != 0 {
		t.Fatalf("10 minutes later: %d, want 0", got)
	}
	full := lfuMinutes(now)<<8 | 255
	if got := lfuDecayed(lfuAccess(full, now, 0), now); got != 255 {
		t.Fatalf("saturated: %d", got)
	}
	// The minute clock wraps at 16 bits; Redis counts 65535-ldt+now
	// minutes across the wrap, one less than went by.
	wrap := int64(0xffff) * min
	w := lfuAccess(lfuAccess(0, wrap, 0), wrap, 0)
	if got := lfuDecayed(w, wrap+2*min); got != 5 {
		t.Fatalf("across the wrap: %d, want 5", got)
	}
}
