package embedded

import (
	"fmt"
	"net"
	"strconv"
)

// portRequest names one TCP port the server needs on the listen IP.
type portRequest struct {
	role string // used in error messages, e.g. "frontend"
	port int    // 0 picks a free port
}

// reservePorts binds every requested port on ip at the same time, so ports
// picked by the kernel are distinct from each other and a fixed port that is
// taken fails with an error naming its address. It then releases them all
// for the server to bind. Each released port is first made to hold a
// connection that the listening side closes, which leaves a TIME_WAIT entry
// behind: Linux does not hand such a port out again for bind(":0") for a
// while, yet the server can still bind it explicitly (Go listeners set
// SO_REUSEADDR). That keeps two servers started side by side in one process,
// or any other program picking ephemeral ports, from grabbing each other's
// ports in the gap between reservation and use.
func reservePorts(ip string, reqs []portRequest) ([]int, error) {
	listeners := make([]net.Listener, 0, len(reqs))
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, len(reqs))
	for i, r := range reqs {
		addr := net.JoinHostPort(ip, strconv.Itoa(r.port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if r.port == 0 {
				return nil, fmt.Errorf("pick a free %s port on %s: %w", r.role, ip, err)
			}
			return nil, fmt.Errorf("%s address %s is not available: %w", r.role, addr, err)
		}
		listeners = append(listeners, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range listeners {
		// Best effort: a failure here only loses the TIME_WAIT guard.
		_ = leaveTimeWait(l)
	}
	return ports, nil
}

// leaveTimeWait connects to l and closes the accepted end first.
func leaveTimeWait(l net.Listener) error {
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return err
	}
	defer func() { _ = client.Close() }()
	server, err := l.Accept()
	if err != nil {
		return err
	}
	return server.Close()
}
