package command

import (
	"math/big"
)

// ldouble is a C long double on x86-64 Linux, where Redis computes
// INCRBYFLOAT: an 80-bit x87 value with a 64-bit significand and a 15-bit
// exponent. Emulating it with a 64-bit big.Float, rounded to nearest even
// once per operation, reproduces Redis's results and, with %.17Lf
// formatting, its replies byte for byte; float64 arithmetic would not
// (0.1 would print as 0.10000000000000001).
type ldouble struct {
	f   *big.Float // nil for zero
	inf bool       // ±Inf: only an error can come of it
}

const (
	ldPrec   = 64
	ldMaxExp = 16384  // |x| >= 2^16384 overflows
	ldMinExp = -16445 // |x| < 2^-16446 underflows to zero
	// maxLongDoubleChars is Redis's MAX_LONG_DOUBLE_CHARS.
	maxLongDoubleChars = 5 * 1024
)

func newLD() *big.Float { return new(big.Float).SetPrec(ldPrec).SetMode(big.ToNearestEven) }

// parseLongDouble parses b like Redis's string2ld: strtold must consume the
// whole input, which must not start with a space, and the result must be
// neither NaN nor out of range.
func parseLongDouble(b []byte) (ldouble, bool) {
	if len(b) == 0 || len(b) >= maxLongDoubleChars || isSpace(b[0]) {
		return ldouble{}, false
	}
	s := b
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		s = s[1:]
	}
	if eqFold(s, "inf") || eqFold(s, "infinity") {
		return ldouble{inf: true}, true
	}
	var f *big.Float
	var ok bool
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		f, ok = parseHexFloat(s[2:])
	} else {
		f, ok = parseDecFloat(s)
	}
	if !ok {
		return ldouble{}, false
	}
	if f != nil && neg {
		f.Neg(f)
	}
	if f == nil && neg {
		f = newLD().Neg(newLD()) // -0
	}
	return ldouble{f: f}, true
}

func eqFold(b []byte, w string) bool { return eq(b, w) }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseDecFloat parses digits[.digits][(e|E)[sign]digits] exactly and
// rounds once. It returns nil for zero; ok is false on bad syntax and on
// overflow or underflow to zero (strtold's ERANGE).
func parseDecFloat(s []byte) (*big.Float, bool) {
	var mant big.Int
	digits, frac, i := 0, 0, 0
	ten := big.NewInt(10)
	var d big.Int
	for ; i < len(s) && isDigit(s[i]); i++ {
		mant.Mul(&mant, ten).Add(&mant, d.SetInt64(int64(s[i]-'0')))
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && isDigit(s[i]); i++ {
			mant.Mul(&mant, ten).Add(&mant, d.SetInt64(int64(s[i]-'0')))
			digits++
			frac++
		}
	}
	if digits == 0 {
		return nil, false
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		if i == len(s) || !isDigit(s[i]) {
			return nil, false // strtold stops before the 'e'
		}
		for ; i < len(s) && isDigit(s[i]); i++ {
			if exp < 1_000_000 {
				exp = exp*10 + int(s[i]-'0')
			}
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(s) {
		return nil, false
	}
	if mant.Sign() == 0 {
		return nil, true
	}
	exp -= frac
	// The input has under 5120 digits, so beyond these bounds the value
	// is surely out of range; they also bound the exact arithmetic below.
	if exp > 10000 || exp < -20000 {
		return nil, false
	}
	var r big.Rat
	p := new(big.Int).Exp(ten, big.NewInt(int64(abs(exp))), nil)
	if exp >= 0 {
		r.SetInt(mant.Mul(&mant, p))
	} else {
		r.SetFrac(&mant, p)
	}
	f := newLD().SetRat(&r)
	return f, inRange(f)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// parseHexFloat parses the part after "0x" of a C hexadecimal float:
// hexdigits[.hexdigits][(p|P)[sign]digits].
func parseHexFloat(s []byte) (*big.Float, bool) {
	var mant big.Int
	digits, frac, i := 0, 0, 0
	var d big.Int
	sixteen := big.NewInt(16)
	for ; i < len(s) && hexVal(s[i]) >= 0; i++ {
		mant.Mul(&mant, sixteen).Add(&mant, d.SetInt64(int64(hexVal(s[i]))))
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && hexVal(s[i]) >= 0; i++ {
			mant.Mul(&mant, sixteen).Add(&mant, d.SetInt64(int64(hexVal(s[i]))))
			digits++
			frac++
		}
	}
	if digits == 0 {
		return nil, false
	}
	exp := 0
	if i < len(s) && (s[i] == 'p' || s[i] == 'P') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		if i == len(s) || !isDigit(s[i]) {
			return nil, false
		}
		for ; i < len(s) && isDigit(s[i]); i++ {
			if exp < 1_000_000 {
				exp = exp*10 + int(s[i]-'0')
			}
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(s) {
		return nil, false
	}
	if mant.Sign() == 0 {
		return nil, true
	}
	exp -= 4 * frac
	if exp > 100000 || exp < -100000 {
		return nil, false
	}
	exact := new(big.Float).SetInt(&mant) // exact: precision = bit length
	exact.SetMantExp(exact, exp)
	f := newLD().Set(exact)
	return f, inRange(f)
}

func inRange(f *big.Float) bool {
	e := f.MantExp(nil) // f = mant * 2^e with 0.5 <= |mant| < 1
	return e <= ldMaxExp && e > ldMinExp
}

// add returns x+y rounded to a long double, and false when the result is
// infinite or NaN.
func (x ldouble) add(y ldouble) (ldouble, bool) {
	if x.inf || y.inf {
		return ldouble{}, false
	}
	switch {
	case x.f == nil && y.f == nil:
		return ldouble{}, true
	case x.f == nil:
		return y, true
	case y.f == nil:
		return x, true
	}
	s := newLD().Add(x.f, y.f)
	if s.Sign() != 0 && s.MantExp(nil) > ldMaxExp {
		return ldouble{}, false
	}
	return ldouble{f: s}, true
}

// appendHuman formats x like Redis's ld2string in LD_STR_HUMAN mode:
// "%.17Lf" with trailing zeros (and a bare '.') removed, and "-0" as "0".
func (x ldouble) appendHuman(dst []byte) []byte {
	f := x.f
	if f == nil {
		f = newLD()
	}
	start := len(dst)
	dst = f.Append(dst, 'f', 17)
	l := len(dst)
	for dst[l-1] == '0' {
		l--
	}
	if dst[l-1] == '.' {
		l--
	}
	dst = dst[:l]
	if string(dst[start:]) == "-0" {
		dst = append(dst[:start], '0')
	}
	return dst
}
