// Package shell quotes and splits command lines the way a POSIX shell
// does for simple quoting: the one place jetsam writes a command a person
// may paste (a replay, a remote command) or reads one (a soak's mix).
package shell

import (
	"errors"
	"slices"
	"strings"
)

// Split splits s into words as a shell does for simple quoting: blanks
// separate words, single quotes keep everything literally, double quotes
// keep everything but a backslash before " or \, and outside quotes a
// backslash keeps the next character. No globbing, no variables.
func Split(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			if i+1 == len(rs) {
				return nil, errors.New("it ends with a backslash that escapes nothing")
			}
			i++
			if rs[i] != '\n' { // backslash-newline joins lines
				cur.WriteRune(rs[i])
			}
			inWord = true
		case c == '\'':
			end := slices.Index(rs[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("a single quote is not closed")
			}
			cur.WriteString(string(rs[i+1 : i+1+end]))
			i += end + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(rs) && rs[i] != '"'; i++ {
				if rs[i] == '\\' && i+1 < len(rs) && (rs[i+1] == '"' || rs[i+1] == '\\') {
					i++
				}
				cur.WriteRune(rs[i])
			}
			if i == len(rs) {
				return nil, errors.New("a double quote is not closed")
			}
			inWord = true
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// Join quotes each word for a POSIX shell where needed.
func Join(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Quote(w)
	}
	return strings.Join(q, " ")
}

// Quote quotes s as one word for a POSIX shell, leaving plain words (letters,
// digits and -_=+:,./@%) as they are.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_=+:,./@%", c)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}
