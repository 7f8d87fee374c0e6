// Go twin of bench/poller.c: waiting on file descriptors through the
// runtime's network poller (ours: Go has no benchmark of exactly this).
// GOMAXPROCS is the default (all CPUs).
package main

import (
	"io"
	"net"
	"os"
)

// poll/pipe_pingpong: two pipes, a and b (os.Pipe: non-blocking, waited on
// by the poller). A goroutine loops: read 1 byte from a, write it to b;
// main, per op: write 1 byte to a, read 1 byte from b. Per op: one ROUND
// TRIP, in which each side's read usually finds the pipe empty and parks
// in the poller. C: pipe(2), csp_write / csp_read of 1 byte.
func pipePingPong(n int) {
	ar, aw, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	br, bw, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 1)
		for {
			if _, err := ar.Read(buf); err != nil {
				break
			}
			if _, err := bw.Write(buf); err != nil {
				break
			}
		}
		close(done)
	}()
	buf := []byte{'x'}
	for i := 0; i < n; i++ {
		if _, err := aw.Write(buf); err != nil {
			panic(err)
		}
		if _, err := io.ReadFull(br, buf); err != nil {
			panic(err)
		}
	}
	aw.Close()
	<-done
	ar.Close()
	br.Close()
	bw.Close()
}

// poll/tcp_pingpong: one loopback TCP connection (127.0.0.1, TCP_NODELAY,
// Go's default) and an echo goroutine on the accepted side: loop { read
// exactly 64 bytes; write them back }. Listen, dial, accept and the final
// closes are inside the timed call on both sides (benchRun; one of each,
// amortised over n), as are the pipes of poll/pipe_pingpong. Main, per op:
// write 64 bytes, read exactly 64 back. Per op: one ROUND TRIP of 64 bytes
// through the kernel's loopback, both reads parking in the poller. C:
// socket/listen/csp_accept/csp_connect, setsockopt TCP_NODELAY on both
// sides, csp_write + a csp_read loop until 64 bytes.
func tcpPingPong(n int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	accepted := make(chan net.Conn)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			panic(err)
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	server := <-accepted
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(server, buf); err != nil {
				break
			}
			if _, err := server.Write(buf); err != nil {
				break
			}
		}
		close(done)
	}()
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = byte(i)
	}
	buf := make([]byte, 64)
	for i := 0; i < n; i++ {
		if _, err := client.Write(msg); err != nil {
			panic(err)
		}
		if _, err := io.ReadFull(client, buf); err != nil {
			panic(err)
		}
	}
	client.Close()
	<-done
	server.Close()
	ln.Close()
}

func main() {
	benchRun("poll/pipe_pingpong", benchN(30000, 3000), pipePingPong)
	benchRun("poll/tcp_pingpong", benchN(20000, 2000), tcpPingPong)
}
