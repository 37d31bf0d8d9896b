package ui

import "bytes"

// Lines hands each whole line written to it, newline included, to Line
// (a stream may cut a line in pieces); Flush hands on what is left, a
// last line without one.
type Lines struct {
	Line func([]byte)
	buf  []byte
}

func (l *Lines) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.Line(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
}

// Flush hands on a last line that has no newline, if any.
func (l *Lines) Flush() {
	if len(l.buf) > 0 {
		l.Line(l.buf)
		l.buf = nil
	}
}
