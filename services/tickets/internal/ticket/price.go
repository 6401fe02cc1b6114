package ticket

import (
	"errors"
	"strconv"
	"strings"
)

// Price limits: a price is more than zero and at most MaxPriceCents, in whole cents.
const (
	MaxPriceCents = 100_000_000 // 1,000,000.00
	maxExponent   = 1_000       // |exponent| beyond this is clamped: the result is out of range anyway
)

// Errors of a price.
var (
	ErrPriceRequired  = errors.New("price is required")
	ErrPriceNotNumber = errors.New("price must be a number")
	ErrPriceNotAbove0 = errors.New("price must be greater than 0")
	ErrPriceDecimals  = errors.New("price must have at most 2 decimals")
	ErrPriceTooHigh   = errors.New("price must be at most 1000000")
)

// ParsePrice converts a price written as a JSON number in the major unit ("20.1", "5",
// "1.5e1") to whole cents, exactly: no floating point is involved, so 20.1 is 2010. The value
// must be greater than 0, have at most 2 decimals (trailing zeros do not count: 20.100 is
// 20.1) and be at most 1,000,000.
func ParsePrice(s string) (int64, error) {
	i := 0
	neg := false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	// Integer part: 0 or a digit 1-9 followed by digits.
	start := i
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return 0, ErrPriceNotNumber
	}
	intPart := s[start:i]
	frac := ""
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == fs {
			return 0, ErrPriceNotNumber
		}
		frac = s[fs:i]
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNeg = s[i] == '-'
			i++
		}
		es := i
		for i < len(s) && isDigit(s[i]) {
			if exp < maxExponent {
				exp = exp*10 + int(s[i]-'0')
			}
			i++
		}
		if i == es {
			return 0, ErrPriceNotNumber
		}
		exp = min(exp, maxExponent)
		if expNeg {
			exp = -exp
		}
	}
	if i != len(s) {
		return 0, ErrPriceNotNumber
	}

	// The value is digits × 10^scale cents.
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" || neg {
		return 0, ErrPriceNotAbove0
	}
	scale := exp - len(frac) + 2
	trimmed := strings.TrimRight(digits, "0")
	scale += len(digits) - len(trimmed)
	digits = trimmed
	if scale < 0 {
		return 0, ErrPriceDecimals
	}
	if len(digits)+scale > len(strconv.Itoa(MaxPriceCents)) {
		return 0, ErrPriceTooHigh
	}
	cents, err := strconv.ParseInt(digits+strings.Repeat("0", scale), 10, 64)
	if err != nil || cents > MaxPriceCents {
		return 0, ErrPriceTooHigh
	}
	return cents, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// FormatPrice writes cents in the major unit with no trailing zeros: 2010 is "20.1", 2000 is
// "20", 5 is "0.05". It is valid JSON number text, and ParsePrice reads it back exactly.
func FormatPrice(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	whole, rest := cents/100, cents%100
	switch {
	case rest == 0:
		return sign + strconv.FormatInt(whole, 10)
	case rest%10 == 0:
		return sign + strconv.FormatInt(whole, 10) + "." + strconv.FormatInt(rest/10, 10)
	default:
		return sign + strconv.FormatInt(whole, 10) + "." + twoDigits(rest)
	}
}

func twoDigits(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}
