package command

// Match reports whether str matches the glob pattern exactly as Redis's
// stringmatchlen (util.c, 7.0) does, with its quirks: bytes compare as
// signed chars in [a-z] ranges, reversed ranges are swapped, an unterminated
// '[' class still matches, and nesting beyond 1000 stars fails.
func Match(pattern, str []byte, nocase bool) bool {
	skip := false
	return match(pattern, 0, str, nocase, &skip, 0)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// clower is C's tolower on a signed char value.
func clower(c int) int {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// match is stringmatchlen_impl over pat[pi:], written with an index into the
// whole pattern because the C code steps back one byte on an unterminated
// class.
func match(pat []byte, pi int, s []byte, nocase bool, skipLonger *bool, nesting int) bool {
	if nesting > 1000 {
		return false
	}
	at := func(i int) byte { // C string semantics: NUL past the end
		if i < len(pat) {
			return pat[i]
		}
		return 0
	}
	for pi < len(pat) && len(s) > 0 {
		switch pat[pi] {
		case '*':
			for pi < len(pat)-1 && pat[pi+1] == '*' {
				pi++
			}
			if pi == len(pat)-1 {
				return true
			}
			for len(s) > 0 {
				if match(pat, pi+1, s, nocase, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			s = s[1:]
		case '[':
			pi++
			not := at(pi) == '^'
			if not {
				pi++
			}
			matched := false
			for {
				rem := len(pat) - pi
				if at(pi) == '\\' && rem >= 2 {
					pi++
					if pat[pi] == s[0] {
						matched = true
					}
				} else if at(pi) == ']' {
					break
				} else if rem == 0 {
					pi--
					break
				} else if rem >= 3 && pat[pi+1] == '-' {
					lo, hi, ci := int(int8(pat[pi])), int(int8(pat[pi+2])), int(int8(s[0]))
					if lo > hi {
						lo, hi = hi, lo
					}
					if nocase {
						lo, hi, ci = clower(lo), clower(hi), clower(ci)
					}
					pi += 2
					if ci >= lo && ci <= hi {
						matched = true
					}
				} else if nocase {
					if lower(pat[pi]) == lower(s[0]) {
						matched = true
					}
				} else if pat[pi] == s[0] {
					matched = true
				}
				pi++
			}
			if not {
				matched = !matched
			}
			if !matched {
				return false
			}
			s = s[1:]
		case '\\':
			if len(pat)-pi >= 2 {
				pi++
			}
			fallthrough
		default:
			if nocase {
				if lower(pat[pi]) != lower(s[0]) {
					return false
				}
			} else if pat[pi] != s[0] {
				return false
			}
			s = s[1:]
		}
		pi++
		if len(s) == 0 {
			for pi < len(pat) && pat[pi] == '*' {
				pi++
			}
			break
		}
	}
	return pi == len(pat) && len(s) == 0
}
