package history

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
)

// MaxLine bounds a history line, so that a file that is not a history
// (one 800 MB line, /dev/zero) is refused instead of read into memory
// whole. The longest line jetsam writes is a final read-all of the log
// stream: about 29 bytes per message ({"s":1234567,"v":"5-123456"},), so
// 256 MiB holds 9 million messages, 3.7 hours of appends at the default
// --rate (1000 ops/s, 70% appends on a log-only run). Decoding a line
// this long takes about twice its size again; a longer one is refused.
const MaxLine = 256 << 20

// LineReader reads lines of at most a given length from a file that may
// hold longer ones, so that memory stays bounded whatever the file holds.
type LineReader struct {
	br   *bufio.Reader
	max  int
	long []byte // a line longer than the buffer, joined
	skip bool   // the rest of the last line returned (it was cut) is unread
	n    int
}

// NewLineReader reads r in lines of at most max bytes.
func NewLineReader(r io.Reader, max int) *LineReader {
	return &LineReader{br: bufio.NewReaderSize(r, min(max+1, 64<<10)), max: max}
}

// Line is the number of the line Next returned last, from 1.
func (l *LineReader) Line() int { return l.n }

// Next returns the next line, without its "\n" (or "\r\n"), valid until
// the following call. A line longer than max comes cut, with cut set: its
// beginning, at most max bytes of it. The next call skips the rest of it
// first, so a caller that stops at a cut line reads no more of the file. A
// last line without a "\n" is returned too; after it Next returns io.EOF.
func (l *LineReader) Next() (line []byte, cut bool, err error) {
	if l.skip {
		if err := l.skipRest(); err != nil {
			return nil, false, err
		}
	}
	b, err := l.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		var long bool
		if b, long, err = l.gather(b); long {
			l.n++
			return b[:min(len(b), l.max)], true, nil
		}
	}
	if len(b) == 0 && err == io.EOF {
		return nil, false, io.EOF
	}
	if err != nil && err != io.EOF {
		return nil, false, err
	}
	l.n++
	line = trimEOL(b)
	if len(line) > l.max {
		l.skip = !bytes.HasSuffix(b, []byte("\n"))
		return line[:l.max], true, nil
	}
	return line, false, nil
}

// gather collects a line longer than the buffer, in blocks, and joins
// them once it has the whole line. A line found longer than max is
// neither read further nor joined: long is set, and only its first block
// is returned. Memory stays within max (twice, while joining).
func (l *LineReader) gather(first []byte) (b []byte, long bool, err error) {
	blocks := [][]byte{bytes.Clone(first)}
	total := len(first)
	for {
		b, err = l.br.ReadSlice('\n')
		blocks = append(blocks, bytes.Clone(b))
		total += len(b)
		if total-1 > l.max { // more than max besides a "\n"
			l.skip = errors.Is(err, bufio.ErrBufferFull) // the line goes on
			return blocks[0], true, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			break
		}
	}
	l.long = slices.Grow(l.long[:0], total)
	for _, bl := range blocks {
		l.long = append(l.long, bl...)
	}
	return l.long, false, err
}

// skipRest reads past the end of the current line.
func (l *LineReader) skipRest() error {
	l.skip = false
	for {
		_, err := l.br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			return nil // Next sees io.EOF again
		}
		return err
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}
