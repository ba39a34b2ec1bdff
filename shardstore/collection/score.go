package collection

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Errors with Redis 7.0's reply text (without the "ERR " prefix the reply
// writer adds).
var (
	ErrNotFloat      = errors.New("value is not a valid float")
	ErrRangeNotFloat = errors.New("min or max is not a float")
	ErrLexRange      = errors.New("min or max not valid string range item")
	ErrNaNScore      = errors.New("resulting score is not a number (NaN)")
)

// FormatScore formats a score as Redis 7.0's addReplyDouble does: "inf",
// "-inf", else C's "%.17g" (17 significant digits, trailing zeros removed,
// at least two exponent digits), which strconv's 'g' with precision 17
// matches.
func FormatScore(f float64) string {
	return string(AppendScore(nil, f))
}

// AppendScore appends FormatScore(f) to dst.
func AppendScore(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	case math.IsNaN(f):
		return append(dst, "nan"...)
	}
	return strconv.AppendFloat(dst, f, 'g', 17, 64)
}

// ParseScore parses a score as Redis's getDoubleFromObject does (ZADD,
// ZINCRBY, WEIGHTS): the whole string must be a strtod number, with no
// leading space, not NaN, and neither overflowing nor underflowing to zero.
func ParseScore(s []byte) (float64, error) {
	if len(s) == 0 || isCSpace(s[0]) {
		return 0, ErrNotFloat
	}
	f, ok := strtod(string(s), true)
	if !ok || math.IsNaN(f) {
		return 0, ErrNotFloat
	}
	return f, nil
}

// ScoreBound is one end of a score range: Value, exclusive when Excl.
type ScoreBound struct {
	Value float64
	Excl  bool
}

// ScoreRange is a ZRANGEBYSCORE range.
type ScoreRange struct{ Min, Max ScoreBound }

// ParseScoreBound parses a range end as Redis's zslParseRange does: a
// leading "(" makes it exclusive; the rest goes to strtod, which here may be
// empty (0), start with spaces, or overflow to ±inf; an embedded NUL ends
// it (Redis checks eptr[0] == '\0'); NaN is refused.
func ParseScoreBound(s []byte) (ScoreBound, error) {
	var b ScoreBound
	if len(s) > 0 && s[0] == '(' {
		b.Excl, s = true, s[1:]
	}
	str := string(s)
	if i := strings.IndexByte(str, 0); i >= 0 {
		str = str[:i]
	}
	if str == "" {
		return b, nil // strtod converts nothing and stops at the NUL
	}
	f, ok := strtod(strings.TrimLeft(str, " \t\n\v\f\r"), false)
	if !ok || math.IsNaN(f) {
		return b, ErrRangeNotFloat
	}
	b.Value = f
	return b, nil
}

// ParseScoreRange parses both ends of a score range.
func ParseScoreRange(min, max []byte) (ScoreRange, error) {
	lo, err := ParseScoreBound(min)
	if err != nil {
		return ScoreRange{}, err
	}
	hi, err := ParseScoreBound(max)
	if err != nil {
		return ScoreRange{}, err
	}
	return ScoreRange{lo, hi}, nil
}

// aboveMin reports whether v is past the range's lower end.
func (r ScoreRange) aboveMin(v float64) bool {
	if r.Min.Excl {
		return v > r.Min.Value
	}
	return v >= r.Min.Value
}

// belowMax reports whether v is before the range's upper end.
func (r ScoreRange) belowMax(v float64) bool {
	if r.Max.Excl {
		return v < r.Max.Value
	}
	return v <= r.Max.Value
}

// empty reports whether no score can be in the range (zslIsInRange's test).
func (r ScoreRange) empty() bool {
	return r.Min.Value > r.Max.Value || (r.Min.Value == r.Max.Value && (r.Min.Excl || r.Max.Excl))
}

func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// strtod converts s, which must be wholly a C strtod number (C locale):
// [+-] then inf, infinity, nan, nan(chars), a decimal or a 0x hex float.
// With strict, a finite literal that overflows or underflows to zero is
// refused (Redis's ERANGE test).
func strtod(s string, strict bool) (float64, bool) {
	body := s
	neg := false
	if body != "" && (body[0] == '+' || body[0] == '-') {
		neg, body = body[0] == '-', body[1:]
	}
	lower := strings.ToLower(body)
	switch {
	case lower == "inf" || lower == "infinity":
		if neg {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	case lower == "nan" || (strings.HasPrefix(lower, "nan(") && strings.HasSuffix(lower, ")") && isNaNChars(lower[4:len(lower)-1])):
		return math.NaN(), true
	}
	hex := len(body) > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')
	var nonzero bool
	var ok bool
	if hex {
		nonzero, ok = scanFloat(body[2:], true)
	} else {
		nonzero, ok = scanFloat(body, false)
	}
	if !ok {
		return 0, false
	}
	lit := s
	if hex && !strings.ContainsAny(body, "pP") {
		lit += "p0" // Go needs the binary exponent C leaves optional
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	if strict && (math.IsInf(f, 0) || (f == 0 && nonzero)) {
		return 0, false
	}
	return f, true
}

func isNaNChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// scanFloat checks that s is digits[.digits] (at least one digit) with an
// optional exponent (e for decimal, p for hex, decimal digits), and reports
// whether a mantissa digit is nonzero.
func scanFloat(s string, hex bool) (nonzero, ok bool) {
	isDigit := func(c byte) bool {
		return c >= '0' && c <= '9' || hex && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')
	}
	i, digits, dot := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' && !dot {
			dot = true
			continue
		}
		if !isDigit(c) {
			break
		}
		digits++
		if c != '0' {
			nonzero = true
		}
	}
	if digits == 0 {
		return false, false
	}
	if i == len(s) {
		return nonzero, true
	}
	if e := s[i] | 0x20; (!hex && e == 'e') || (hex && e == 'p') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
		return nonzero, i > j && i == len(s)
	}
	return false, false
}

// LexBound is one end of a ZRANGEBYLEX range: "-" (Inf < 0), "+" (Inf >
// 0), or Value, exclusive when Excl.
type LexBound struct {
	Value string
	Excl  bool
	Inf   int // -1 for "-", +1 for "+", 0 for a value
}

// LexRange is a ZRANGEBYLEX range.
type LexRange struct{ Min, Max LexBound }

// ParseLexBound parses a range end as zslParseLexRangeItem does: "+" and
// "-" alone (an embedded NUL ends them too), or "(" or "[" then a value.
func ParseLexBound(s []byte) (LexBound, error) {
	if len(s) == 0 {
		return LexBound{}, ErrLexRange
	}
	switch s[0] {
	case '+', '-':
		if len(s) > 1 && s[1] != 0 {
			return LexBound{}, ErrLexRange
		}
		if s[0] == '+' {
			return LexBound{Inf: 1, Excl: true}, nil
		}
		return LexBound{Inf: -1, Excl: true}, nil
	case '(':
		return LexBound{Value: string(s[1:]), Excl: true}, nil
	case '[':
		return LexBound{Value: string(s[1:])}, nil
	}
	return LexBound{}, ErrLexRange
}

// ParseLexRange parses both ends of a lex range.
func ParseLexRange(min, max []byte) (LexRange, error) {
	lo, err := ParseLexBound(min)
	if err != nil {
		return LexRange{}, err
	}
	hi, err := ParseLexBound(max)
	if err != nil {
		return LexRange{}, err
	}
	return LexRange{lo, hi}, nil
}

// cmp compares member m with bound b: <0 when m sorts before it.
func (b LexBound) cmp(m string) int {
	if b.Inf != 0 {
		return -b.Inf
	}
	return strings.Compare(m, b.Value)
}

func (r LexRange) aboveMin(m string) bool {
	c := r.Min.cmp(m)
	return c > 0 || (c == 0 && !r.Min.Excl)
}

func (r LexRange) belowMax(m string) bool {
	c := r.Max.cmp(m)
	return c < 0 || (c == 0 && !r.Max.Excl)
}

// empty is zslIsInLexRange's first test.
func (r LexRange) empty() bool {
	switch {
	case r.Min.Inf > 0 || r.Max.Inf < 0:
		return true
	case r.Min.Inf < 0 || r.Max.Inf > 0:
		return false
	}
	c := strings.Compare(r.Min.Value, r.Max.Value)
	return c > 0 || (c == 0 && (r.Min.Excl || r.Max.Excl))
}
