package proxy

import (
	"bytes"
	"encoding/binary"
)

// The route protocol, as a framed link reads it. Between servers every
// unit is a control line ending in CRLF; RMSG and HMSG lines are followed
// by a payload of the size their last argument gives (HMSG: headers and
// body together) and a CRLF:
//
//	RMSG [account] subject [+ reply | | ] [queues...] size\r\n<payload>\r\n
//	HMSG [account] subject [+ reply | | ] [queues...] hdr-size total-size\r\n<...>\r\n
//
// The account is left out on a route pinned to one account (as the system
// account's route is); a reply without queues comes without the "+".
// See processRoutedMsgArgs in nats-server's server/route.go.

const (
	// maxLine bounds a control line the framer gathers. Servers refuse
	// lines over their max_control_line (4 KiB by default), but INFO
	// lines carry JSON and may be longer; past this the framer gives up
	// on the connection and passes its bytes on unread.
	maxLine = 1 << 20
	// aeHeaderLen is an append entry's fixed header: the leader's id (8
	// bytes), term, commit, previous term and index (8 each), the entry
	// count (2). See appendEntry.encode in server/raft.go.
	aeHeaderLen = 42
)

// unit is one route protocol unit, as much as its first bytes tell. Its
// byte fields point into the framer's buffer: valid until the unit ends.
type unit struct {
	verb    []byte // RMSG, HMSG, PING, INFO, RS+, ...
	msg     bool   // RMSG or HMSG: a payload follows
	account []byte // empty on a route pinned to one account
	subject []byte
	reply   []byte
	// size is the payload's length (without its CRLF); 0 for a bare line.
	size int
	// hdr is the length of an HMSG's headers, which come before the body.
	hdr int
	// head is the first bytes of the body, up to aeHeaderLen, for a
	// message whose body may be an append entry.
	head []byte
}

// maxArgs is how many arguments of a message line are kept: the first
// few (account, subject, reply) and the sizes at the end are all that
// matter; queue names in between are skipped.
const maxArgs = 6

// parseLine reads a control line (without its line end) into u, without
// allocating. It reports false for a message line it cannot read, after
// which the stream cannot be framed.
func parseLine(line []byte, u *unit) bool {
	*u = unit{}
	var args [maxArgs][]byte
	var last [2][]byte // the last two arguments
	n := 0
	for i := 0; i < len(line); {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		start := i
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			i++
		}
		if start == i {
			break
		}
		if n < maxArgs {
			args[n] = line[start:i]
		}
		last[0], last[1] = last[1], line[start:i]
		n++
	}
	if n == 0 {
		return true // a blank line is a unit of its own
	}
	verb := args[0]
	u.verb = verb
	hmsg := len(verb) == 4 && (verb[0]|0x20) == 'h' && bytes.EqualFold(verb, []byte("HMSG"))
	u.msg = hmsg || (len(verb) == 4 && bytes.EqualFold(verb, []byte("RMSG")))
	if !u.msg {
		return true
	}
	return parseMsgArgs(args[1:min(n, maxArgs)], last, n-1, hmsg, u)
}

// parseMsgArgs reads a message line's arguments (nargs of them; the first
// few in args, the last two in last) into u.
func parseMsgArgs(args [][]byte, last [2][]byte, nargs int, hmsg bool, u *unit) bool {
	sizes := 1
	if hmsg {
		sizes = 2
	}
	if nargs < 1+sizes {
		return false
	}
	size, ok := atoi(last[1])
	if !ok || size > 1<<30 {
		return false
	}
	u.size = size
	if hmsg {
		h, ok := atoi(last[0])
		if !ok || h > size {
			return false
		}
		u.hdr = h
	}
	rest := args[:min(len(args), nargs-sizes)]
	// A raft subject names itself; otherwise the first argument is the
	// account when there are two or more before the sizes.
	switch {
	case len(rest) >= 2 && !isRaftSubject(rest[0]) && len(rest[1]) > 0 && rest[1][0] != '+' && rest[1][0] != '|':
		u.account, u.subject, rest = rest[0], rest[1], rest[2:]
	default:
		u.subject, rest = rest[0], rest[1:]
	}
	switch {
	case len(rest) >= 2 && len(rest[0]) == 1 && rest[0][0] == '+':
		u.reply = rest[1]
	case len(rest) == 1 && !(len(rest[0]) == 1 && rest[0][0] == '|'):
		u.reply = rest[0]
	}
	return true
}

// atoi reads a non-negative decimal without allocating.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func isRaftSubject(s []byte) bool { return bytes.HasPrefix(s, []byte("$NRG.")) }

// framer cuts one direction of a route connection into units. It is fed the
// bytes as they are read and hands them back in pieces, each with the unit
// it belongs to, holding back only a unit's control line and the first
// bytes of its body until the unit can be judged.
type framer struct {
	buf   []byte // the control line, then the head, being gathered
	u     unit
	state frameState
	// left is how many payload bytes (and the closing CRLF) are still to
	// come after the head.
	left int
	// lost: the stream could not be framed; everything passes on unread.
	lost bool
	// ae reads the entries of an append entry as they pass.
	ae aeScan
}

type frameState int8

const (
	inLine frameState = iota
	inHead
	inBody
)

// piece is a part of the stream in order: bytes of one unit. first marks
// a unit's first piece, last its last.
type piece struct {
	b           []byte
	u           *unit
	first, last bool
}

// feed frames p and calls out for every piece it completes, in stream
// order. The bytes out gets are valid only during the call.
func (f *framer) feed(p []byte, out func(piece)) {
	for len(p) > 0 {
		if f.lost {
			out(piece{b: p})
			return
		}
		switch f.state {
		case inLine:
			p = f.line(p, out)
		case inHead:
			p = f.headBytes(p, out)
		case inBody:
			p = f.body(p, out)
		}
	}
}

// line gathers a control line; a complete message line goes on to its
// head, any other line is a unit of its own.
func (f *framer) line(p []byte, out func(piece)) []byte {
	i := bytes.IndexByte(p, '\n')
	if i < 0 {
		if len(f.buf)+len(p) > maxLine {
			f.giveUp(out)
			return p
		}
		f.buf = append(f.buf, p...)
		return nil
	}
	f.buf = append(f.buf, p[:i+1]...)
	p = p[i+1:]
	if !parseLine(bytes.TrimRight(f.buf, "\r\n"), &f.u) {
		f.giveUp(out)
		return p
	}
	if !f.u.msg {
		out(piece{b: f.buf, u: &f.u, first: true, last: true})
		f.buf = f.buf[:0]
		return p
	}
	f.state, f.left = inHead, f.u.size+2
	// Append entries, and the catch-up messages that carry them, have
	// their entries read as they pass.
	f.ae = aeScan{done: !bytes.HasPrefix(f.u.subject, []byte("$NRG.AE.")) && !bytes.HasPrefix(f.u.subject, []byte("$NRG.CR."))}
	return p
}

// headBytes gathers the first bytes of a message's body (after any
// headers), enough to tell an append entry's entry count, then hands the
// unit on.
func (f *framer) headBytes(p []byte, out func(piece)) []byte {
	want := min(f.u.hdr+aeHeaderLen, f.u.size)
	have := len(f.buf) - f.lineLen()
	n := min(len(p), want-have)
	f.buf = append(f.buf, p[:n]...)
	p = p[n:]
	if len(f.buf)-f.lineLen() < want {
		return p
	}
	line := f.lineLen()
	f.u.head = f.buf[line+f.u.hdr:]
	f.left -= want
	f.ae.feed(f.u.head)
	f.state = inBody
	out(piece{b: f.buf, u: &f.u, first: true})
	return p
}

// lineLen is the length of the control line at the start of buf.
func (f *framer) lineLen() int { return bytes.IndexByte(f.buf, '\n') + 1 }

// body streams the rest of a message and its CRLF (at least the CRLF is
// left after the head, so every piece here has bytes).
func (f *framer) body(p []byte, out func(piece)) []byte {
	n := min(len(p), f.left)
	// The body proper, without the closing CRLF, goes through the scan.
	f.ae.feed(p[:min(n, max(f.left-2, 0))])
	f.left -= n
	last := f.left == 0
	out(piece{b: p[:n], u: &f.u, last: last})
	if last {
		f.state, f.buf = inLine, f.buf[:0]
	}
	return p[n:]
}

// giveUp passes on what was gathered and everything after it unread.
func (f *framer) giveUp(out func(piece)) {
	f.lost = true
	if len(f.buf) > 0 {
		out(piece{b: f.buf})
	}
	f.buf = nil
}

// aeScan reads an append entry's entry count and entry types from its body
// as it streams past, holding at most a few bytes between reads.
type aeScan struct {
	pos   int // bytes of the body seen
	count int
	// types are the first entries' types (as many as fit), seen the
	// number of entries whose types were read.
	types   [16]byte
	seen    int
	hdr     [aeHeaderLen]byte
	lenBuf  [4]byte
	lenHave int
	skip    int // bytes of the current entry's data still to skip
	inType  bool
	done    bool
}

// feed scans the next bytes of the body.
func (s *aeScan) feed(b []byte) {
	for len(b) > 0 && !s.done {
		if s.pos < aeHeaderLen {
			n := copy(s.hdr[s.pos:], b)
			s.pos += n
			b = b[n:]
			if s.pos == aeHeaderLen {
				s.count = int(binary.LittleEndian.Uint16(s.hdr[40:]))
				s.done = s.count == 0
			}
			continue
		}
		b = s.entry(b)
	}
}

// entry reads one entry's length and type, then skips its data.
func (s *aeScan) entry(b []byte) []byte {
	switch {
	case s.inType:
		if s.seen < len(s.types) {
			s.types[s.seen] = b[0]
		}
		s.seen++
		s.inType = false
		s.pos++
		if s.seen == s.count {
			s.done = true
		}
		return b[1:]
	case s.skip > 0:
		n := min(len(b), s.skip)
		s.skip -= n
		s.pos += n
		return b[n:]
	}
	n := copy(s.lenBuf[s.lenHave:], b)
	s.lenHave += n
	s.pos += n
	if s.lenHave == 4 {
		l := int(binary.LittleEndian.Uint32(s.lenBuf[:]))
		s.lenHave, s.inType, s.skip = 0, true, max(l-1, 0)
		if l < 1 {
			s.done = true // not an append entry after all
		}
	}
	return b[n:]
}

// entries returns the entry count and the types seen so far; complete
// once the unit has passed.
func (s *aeScan) entries() (count int, types []byte) {
	return s.count, s.types[:min(s.seen, len(s.types))]
}
