package l7

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// writeQueue gathers the pieces of one write (a head, body bytes, chunk
// framing) and writes them with one sendmsg(2). Pieces are referenced, not
// copied, so they must stay valid until flush; small generated pieces (chunk
// sizes) are appended to an owned scratch buffer instead. Loop-owned.
type writeQueue struct {
	vec   [maxIOV][]byte
	n     int
	total int
	iov   [maxIOV]unix.Iovec
	msg   unix.Msghdr       // sendmsg's header over iov
	small [maxIOV * 24]byte // chunk-size lines and CRLFs; never reallocated
	sn    int
}

const maxIOV = 64

// full reports whether the queue should be flushed before adding more.
func (q *writeQueue) full() bool { return q.n >= maxIOV-3 || q.sn > len(q.small)-32 }

func (q *writeQueue) add(b []byte) {
	if len(b) == 0 {
		return
	}
	q.vec[q.n] = b
	q.n++
	q.total += len(b)
}

// addSmall copies b (a few bytes) into the scratch area and queues it.
func (q *writeQueue) addSmall(b []byte) {
	s := q.sn
	q.sn += copy(q.small[s:], b)
	q.add(q.small[s:q.sn:q.sn])
}

// addChunkHead queues the chunk-size line for n payload bytes ("%x\r\n").
func (q *writeQueue) addChunkHead(n int) {
	var tmp [16]byte
	s := q.sn
	q.sn += copy(q.small[s:], hexSize(&tmp, n))
	q.sn += copy(q.small[q.sn:], crlf)
	q.add(q.small[s:q.sn:q.sn])
}

func (q *writeQueue) reset() {
	for i := 0; i < q.n; i++ {
		q.vec[i] = nil
	}
	q.n, q.total, q.sn = 0, 0, 0
}

// flush writes the queued pieces to the non-blocking socket fd. It returns
// how many bytes the kernel took; err is unix.EAGAIN when it took less than
// all (the caller keeps the rest with rest()), or the write error. The queue
// is left as it was: call rest and then reset.
func (q *writeQueue) flush(fd int) (int, error) { return q.send(fd, 0) }

// send is flush with sendmsg(2) flags (MSG_NOSIGNAL is added): on a socket
// the same as writev(2) without the file layer writev passes first.
func (q *writeQueue) send(fd, flags int) (int, error) {
	if q.total == 0 {
		return 0, nil
	}
	done := 0
	first, off := 0, 0 // the first piece not fully written, and how much of it is
	for {
		k := 0
		for i := first; i < q.n; i++ {
			b := q.vec[i]
			if i == first {
				b = b[off:]
			}
			q.iov[k].Base = unsafe.SliceData(b)
			q.iov[k].SetLen(len(b))
			k++
		}
		// A raw system call: sendmsg on a non-blocking socket never blocks,
		// and leaving the scheduler out saves its bookkeeping and keeps
		// sysmon from taking the P away from the event loop mid-write.
		q.msg.Iov = &q.iov[0]
		q.msg.SetIovlen(k)
		n, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&q.msg)), uintptr(flags|unix.MSG_NOSIGNAL))
		if e != 0 {
			if e == syscall.EINTR {
				continue
			}
			return done, e
		}
		done += int(n)
		if done == q.total {
			return done, nil
		}
		// Partial: advance to the first unwritten byte and try again; the
		// next sendmsg says EAGAIN when the socket buffer is really full.
		m := int(n)
		for m > 0 {
			l := len(q.vec[first]) - off
			if m < l {
				off += m
				break
			}
			m -= l
			first++
			off = 0
		}
	}
}

// rest appends the bytes after the first done to dst (after a short flush).
func (q *writeQueue) rest(dst []byte, done int) []byte {
	for i := 0; i < q.n; i++ {
		b := q.vec[i]
		if done >= len(b) {
			done -= len(b)
			continue
		}
		dst = append(dst, b[done:]...)
		done = 0
	}
	return dst
}
