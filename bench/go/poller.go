// Go twin of bench/poller.c: waiting on file descriptors through the
// runtime's network poller (ours: Go has no benchmark of exactly this).
// GOMAXPROCS is the default (all CPUs).
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
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

// poll/echo_many: many loopback TCP connections with small messages. Listen
// on 127.0.0.1:0; an acceptor goroutine loops Accept (TCP_NODELAY, Go's
// default) and starts one echo handler goroutine per connection (servers
// WaitGroup), until the listener is closed (net.ErrClosed). A handler loops
// { io.ReadFull 64 bytes; write them back } until EOF, then closes its
// connection. echoClients (64) client goroutines (clients WaitGroup) each
// Dial, do their share of the n round trips (n / 64, the first n % 64
// clients one more): fill 64 bytes from (client, round), write them,
// io.ReadFull 64 back and compare (a wrong echo panics); then Close. Main
// waits for the clients, closes the listener and waits for the acceptor and
// the handlers. Per op: one 64-byte ROUND TRIP, 64 of them in flight. All
// of it -- listen, the 64 dials and accepts, the closes -- is inside the
// timed call, as in poll/tcp_pingpong. fds: 64 clients + 64 server sides +
// the listener. C: socket/listen(SOMAXCONN)/csp_accept/csp_connect,
// setsockopt TCP_NODELAY on both sides, csp_write + a csp_read loop until
// 64 bytes, csp_fd_close, csp_wg_go/csp_wg_wait; an atomic flag tells the
// acceptor that the -EBADF of its csp_accept is the listener's close.
const echoClients = 64

func echoFill(msg []byte, id, round int) {
	for j := range msg {
		msg[j] = byte(id*31 + round + j)
	}
}

func echoMany(n int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	addr := ln.Addr().String()
	var servers, clients sync.WaitGroup
	servers.Add(1)
	go func() {
		defer servers.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				panic(err)
			}
			servers.Add(1)
			go func() {
				defer servers.Done()
				buf := make([]byte, 64)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						if err == io.EOF {
							break
						}
						panic(err)
					}
					if _, err := c.Write(buf); err != nil {
						panic(err)
					}
				}
				c.Close()
			}()
		}
	}()
	clients.Add(echoClients)
	for i := 0; i < echoClients; i++ {
		rounds := n / echoClients
		if i < n%echoClients {
			rounds++
		}
		go func(id, rounds int) {
			defer clients.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				panic(err)
			}
			msg := make([]byte, 64)
			buf := make([]byte, 64)
			for r := 0; r < rounds; r++ {
				echoFill(msg, id, r)
				if _, err := c.Write(msg); err != nil {
					panic(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					panic(err)
				}
				if !bytes.Equal(msg, buf) {
					panic(fmt.Sprintf("poll/echo_many: client %d round %d: wrong echo", id, r))
				}
			}
			c.Close()
		}(i, rounds)
	}
	clients.Wait()
	ln.Close()
	servers.Wait()
}

func main() {
	benchRun("poll/pipe_pingpong", benchN(30000, 3000), pipePingPong)
	benchRun("poll/tcp_pingpong", benchN(20000, 2000), tcpPingPong)
	benchRun("poll/echo_many", benchN(64000, 6400), echoMany)
}
